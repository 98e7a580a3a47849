package transports

import (
	"context"
	"crypto/tls"
	"io"
	"net/netip"
	"time"
)

// Network is what an actor gets instead of the net package: a way to dial and
// listen for streams, open packet sockets, and see the host's interfaces.
// osnet.New returns the operating system's network; sim.Host is a host on a
// simulated one.
type Network interface {
	// Dial opens a stream to remote, blocking until the connection (and the
	// TLS handshake, when opts.TLS is set) is made, ctx ends or it fails.
	// Errors wrap ErrRefused, ErrTimeout (ctx expired: the error also
	// matches ctx.Err()), ErrUnreachable, ErrInvalidAddress or ErrTLS.
	// The stream does nothing until Start.
	Dial(ctx context.Context, remote netip.AddrPort, opts DialOptions) (Stream, error)
	// Listen opens a stream listener on local. A zero port picks a free
	// one (see Listener.Addr); an unspecified address (0.0.0.0, ::) listens
	// on every address of that family.
	Listen(local netip.AddrPort, opts ListenOptions) (Listener, error)
	// ListenPacket opens a datagram (UDP) socket on local, as Listen.
	ListenPacket(local netip.AddrPort, opts PacketOptions) (PacketConn, error)
	// Interfaces returns the host's network interfaces and their addresses.
	Interfaces() ([]Interface, error)
	// WatchInterfaces calls h with every change to the host's interfaces
	// and addresses until the returned Closer is closed. The first events
	// describe the interfaces present when the watch starts (InterfaceAdded
	// and AddressAdded for each), so a watcher needs no separate
	// Interfaces call and misses no change in between. Calls to h are
	// serialized and none happens after Close returns.
	WatchInterfaces(h func(InterfaceEvent)) (io.Closer, error)
}

// DialOptions configures Network.Dial. The zero value dials plain TCP from
// an address the network chooses.
type DialOptions struct {
	// Local is the address to dial from; zero lets the network choose.
	Local netip.AddrPort
	// TLS, when set, runs a TLS client handshake before Dial returns.
	// ServerName is the SNI sent and the name verified, NextProtos the
	// ALPN protocols offered; verification is on unless InsecureSkipVerify.
	// The config is not modified.
	TLS *tls.Config
	// Stream configures the stream.
	Stream StreamOptions
}

// ListenOptions configures Network.Listen. The zero value listens for plain
// TCP with the default backlog.
type ListenOptions struct {
	// TLS, when set, runs a TLS server handshake on every accepted stream
	// before OnAccept sees it; a failed handshake goes to OnAcceptError.
	TLS *tls.Config
	// HandshakeTimeout bounds a TLS server handshake. Default 10s.
	HandshakeTimeout time.Duration
	// Stream configures every accepted stream.
	Stream StreamOptions
}

// StreamOptions configures one stream. Zero fields take the defaults.
type StreamOptions struct {
	// ReadSize is the most bytes one OnData call carries. Default 32 KiB;
	// 64 KiB on transports/evloop, whose loops share one read buffer each
	// (4 KiB echo, 16 in flight: about 10% less CPU per message than 32).
	ReadSize int
	// SendBuffer and ReceiveBuffer set the kernel's socket buffer sizes
	// (SO_SNDBUF, SO_RCVBUF); zero keeps the system default. The simulated
	// network uses ReceiveBuffer as the flow-control window.
	SendBuffer, ReceiveBuffer int
	// KeepNagle leaves Nagle's algorithm on. By default it is off
	// (TCP_NODELAY), as in Go's net package, so small writes go out at once.
	KeepNagle bool
	// KeepAlive is the TCP keep-alive period; zero uses the system's
	// default, negative disables keep-alives.
	KeepAlive time.Duration
}

// PacketOptions configures Network.ListenPacket. Zero fields take defaults.
type PacketOptions struct {
	// MaxDatagram is the largest datagram delivered whole; a larger one is
	// delivered cut to MaxDatagram bytes with Packet.Truncated set. Default
	// and maximum 65535.
	MaxDatagram int
	// Broadcast allows sending to broadcast addresses (SO_BROADCAST).
	Broadcast bool
	// ReuseAddr lets several sockets bind the same port, as multicast
	// receivers on a well-known port (mDNS, SSDP) must (SO_REUSEADDR, and
	// SO_REUSEPORT where the system needs it for that).
	ReuseAddr bool
	// TTL is the unicast time-to-live (hop limit for IPv6); zero keeps the
	// system default.
	TTL int
	// SendBuffer and ReceiveBuffer set SO_SNDBUF and SO_RCVBUF; zero keeps
	// the system default (the simulated network then uses 208 KiB).
	SendBuffer, ReceiveBuffer int
	// Multicast configures sending to multicast groups.
	Multicast MulticastOptions
}

// MulticastOptions configures how a packet socket sends to multicast groups.
// Receiving is configured with PacketConn.JoinGroup.
type MulticastOptions struct {
	// Interface names the interface multicast leaves by; empty lets the
	// system choose by its routes.
	Interface string
	// TTL is the multicast time-to-live (hop limit); zero means 1, the
	// system default: the local link only.
	TTL int
	// NoLoopback stops this host's own sockets from receiving what this
	// socket sends to a group. Loopback is on by default.
	NoLoopback bool
}

// Interface describes a network interface of a host.
type Interface struct {
	// Index is the system's interface index (positive).
	Index int
	// Name is the interface name ("eth0", "lo", "en0").
	Name string
	// Flags say what the interface can do.
	Flags InterfaceFlags
	// MTU is the maximum transmission unit in bytes.
	MTU int
	// HardwareAddr is the link-layer address, often six bytes; empty for
	// loopback. It is a copy the caller may keep.
	HardwareAddr []byte
	// Prefixes are the interface's addresses with their subnet lengths,
	// sorted.
	Prefixes []netip.Prefix
}

// InterfaceFlags are properties of an Interface.
type InterfaceFlags uint

// The interface flags.
const (
	FlagUp InterfaceFlags = 1 << iota
	FlagLoopback
	FlagMulticast
	FlagBroadcast
	FlagPointToPoint
)

// Up reports whether the interface is administratively up.
func (f InterfaceFlags) Up() bool { return f&FlagUp != 0 }

// InterfaceEventKind says what changed.
type InterfaceEventKind int

// The kinds of interface events.
const (
	// InterfaceAdded: an interface appeared. AddressAdded events for its
	// prefixes follow.
	InterfaceAdded InterfaceEventKind = iota + 1
	// InterfaceRemoved: an interface disappeared, after AddressRemoved
	// events for its prefixes.
	InterfaceRemoved
	// InterfaceChanged: flags or MTU changed (for example up or down).
	InterfaceChanged
	// AddressAdded: Prefix was added to the interface.
	AddressAdded
	// AddressRemoved: Prefix was removed from the interface.
	AddressRemoved
)

// String returns the kind in words.
func (k InterfaceEventKind) String() string {
	switch k {
	case InterfaceAdded:
		return "interface-added"
	case InterfaceRemoved:
		return "interface-removed"
	case InterfaceChanged:
		return "interface-changed"
	case AddressAdded:
		return "address-added"
	case AddressRemoved:
		return "address-removed"
	}
	return "unknown"
}

// InterfaceEvent is one change seen by WatchInterfaces.
type InterfaceEvent struct {
	Kind InterfaceEventKind
	// Interface is the interface as it is after the change (as it was, for
	// InterfaceRemoved).
	Interface Interface
	// Prefix is the address added or removed; zero for interface events.
	Prefix netip.Prefix
}
