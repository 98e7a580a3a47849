// Package udpmsg holds the messages of the UDP actors (actors/udp),
// microstack's counterparts of MicroStack's ILibAsyncUDPSocket and
// ILibMulticastSocket.
//
// The socket actor is created unbound (or bound by its options) and speaks
// Akka IO's unconnected UDP protocol: Bind → Bound, SendTo, Datagram to the
// handler, Unbind → Unbound. Multicast groups are joined with first-class
// commands (JoinGroup, LeaveGroup), and reading is flow-controlled with
// messages.SuspendReading and messages.ResumeReading{Credits} as for
// every other reading actor.
//
// The multicast actor joins a group on a set of interfaces, follows the
// interfaces as they come and go, and sends to the group on each of them
// with SendToGroup.
//
// A failing command is answered, to its sender, with a
// *messages.CommandFailed whose Err wraps one of the errors below, a
// transports error (transports.ErrInvalidAddress, ErrUnreachable,
// ErrTooLarge, ErrAddrInUse, ErrNoInterface, ...) or messages.ErrBadCommand,
// so that a caller can test it with errors.Is. A failed send leaves the
// socket open.
package udpmsg

import (
	"errors"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"
)

// Errors a caller can test for with errors.Is on CommandFailed.Err.
var (
	// ErrNotBound answers a command that needs a socket (SendTo,
	// JoinGroup, LeaveGroup, Unbind) sent while the actor has none.
	ErrNotBound = errors.New("udp: not bound")
	// ErrAlreadyBound answers a Bind sent while the actor has a socket.
	ErrAlreadyBound = errors.New("udp: already bound")
	// ErrNoMembership answers a SendToGroup while the multicast actor has
	// joined its groups on no interface (none is up, or none has an
	// address of the group's family).
	ErrNoMembership = errors.New("udp: no group membership to send on")
)

// SocketOptions configures a socket at Bind. The zero value is a plain
// unicast socket with the system's buffer sizes.
type SocketOptions struct {
	// Broadcast allows sending to the IPv4 broadcast address
	// (SO_BROADCAST).
	Broadcast bool
	// ReuseAddr lets several sockets bind the same port, as multicast
	// receivers on a well-known port must (SO_REUSEADDR).
	ReuseAddr bool
	// TTL is the unicast time-to-live (hop limit for IPv6); zero keeps the
	// system's default.
	TTL int
	// ReceiveBuffer and SendBuffer set SO_RCVBUF and SO_SNDBUF; zero keeps
	// the system's default.
	ReceiveBuffer, SendBuffer int
	// MaxDatagram is the largest datagram delivered whole; a longer one is
	// delivered cut, with Datagram.Truncated set. Default and maximum
	// 65535.
	MaxDatagram int
	// MulticastInterface names the interface datagrams to a group leave
	// by; empty lets the system choose.
	MulticastInterface string
	// MulticastTTL is the time-to-live of datagrams sent to a group; zero
	// means 1, the local link only.
	MulticastTTL int
	// NoMulticastLoopback stops this host's own sockets from receiving what
	// this socket sends to a group.
	NoMulticastLoopback bool
}

// Bind opens the actor's socket on Local: an IPv4 address gives an IPv4
// socket, an IPv6 address an IPv6 one ("[::]:0" a dual-stack one); port
// zero picks a free port. Answered with Bound, or CommandFailed with
// ErrAlreadyBound or a transports error (ErrAddrInUse,
// ErrAddrNotAvailable, ErrInvalidAddress).
type Bind struct {
	// Local is the address to bind.
	Local netip.AddrPort
	// Handler receives the socket's Datagram events (and Unbound when the
	// socket fails). Default: the sender of Bind; set it when Bind is sent
	// with RequestFuture, whose future takes one reply only.
	Handler *actor.PID
	// Options configures the socket.
	Options SocketOptions
}

// Bound answers Bind.
type Bound struct {
	// Local is the bound address, with the actual port.
	Local netip.AddrPort
}

// Unbind closes the socket. The actor stays and may Bind again. Answered
// with Unbound, or CommandFailed with ErrNotBound.
type Unbind struct{}

// Unbound answers Unbind. It is also sent to the handler when the socket
// fails on its own, with Err saying why; the actor then fails so that its
// supervisor decides what comes next.
type Unbound struct {
	Err error
}

// SendTo sends Data as one datagram to To. Data is owned by the actor once
// sent. Nothing answers a successful send unless Ack is set; a datagram
// lost on the way is not reported (that is UDP). Fails with ErrNotBound or
// a transports error (ErrInvalidAddress for an unusable or wrong-family
// address, ErrUnreachable, ErrTooLarge); the socket stays open.
type SendTo struct {
	To   netip.AddrPort
	Data []byte
	// Ack, when not nil, asks for a Sent carrying it once the datagram was
	// handed to the network.
	Ack any
}

// Sent acknowledges a SendTo or SendToGroup that carried an Ack.
type Sent struct {
	Ack any
}

// Datagram is a datagram the socket received, sent to the handler.
type Datagram struct {
	// From is the sender.
	From netip.AddrPort
	// To is the destination the datagram was sent to (a group, a
	// broadcast or a unicast address) when the platform reports it; zero
	// otherwise.
	To netip.Addr
	// Data is the payload; it belongs to the handler.
	Data []byte
	// Truncated reports a datagram longer than the socket's MaxDatagram:
	// Data holds its first MaxDatagram bytes. Datagrams are never cut
	// silently.
	Truncated bool
}

// JoinGroup joins the multicast group on the named interface (empty: the
// system's choice) on the actor's socket. Answered with GroupJoined, or
// CommandFailed with ErrNotBound, transports.ErrInvalidAddress (not a
// group, or not the socket's family) or transports.ErrNoInterface.
type JoinGroup struct {
	Group     netip.Addr
	Interface string
}

// GroupJoined answers JoinGroup. The multicast actor also sends it to its
// handler whenever it joins its group on an interface.
type GroupJoined struct {
	Group     netip.Addr
	Interface string
}

// LeaveGroup leaves a group joined with JoinGroup. Answered with GroupLeft,
// or CommandFailed with ErrNotBound or transports.ErrInvalidAddress (not
// joined).
type LeaveGroup struct {
	Group     netip.Addr
	Interface string
}

// GroupLeft answers LeaveGroup. The multicast actor also sends it to its
// handler whenever it leaves its group on an interface (the interface went
// down, lost its last address of the group's family, or disappeared).
type GroupLeft struct {
	Group     netip.Addr
	Interface string
}

// SendToGroup asks the multicast actor to send Data to each of its groups
// on every interface it has joined them on, as MicroStack's
// ILibMulticastSocket_Broadcast does. Data is owned by the actor once sent.
// Fails with ErrNoMembership when there is no interface to send on, or
// with the joined transports errors of the interfaces that failed (the
// others were sent to).
type SendToGroup struct {
	Data []byte
	// Ack, when not nil, asks for a Sent carrying it.
	Ack any
}

// GetMemberships asks the multicast actor where it has joined its groups.
// Answered with Memberships.
type GetMemberships struct{}

// Memberships answers GetMemberships.
type Memberships struct {
	// Port is the port the groups are received on.
	Port uint16
	// Joined lists the group and interface pairs, sorted.
	Joined []Membership
}

// Membership is a group joined on one interface.
type Membership struct {
	Group     netip.Addr
	Interface string
}

// GetLocalAddress asks a socket actor (or the echo service) for its bound
// address. Answered with LocalAddress, or CommandFailed with ErrNotBound.
type GetLocalAddress struct{}

// LocalAddress answers GetLocalAddress.
type LocalAddress struct {
	Addr netip.AddrPort
}
