package transports

import "net/netip"

// PacketConn is a datagram (UDP) socket, unicast, broadcast and multicast.
// Its owner calls Start once with a handler. All methods are safe for
// concurrent use.
type PacketConn interface {
	// Start begins reading, delivering datagrams to h.
	Start(h PacketHandler) error
	// SendTo sends b as one datagram to to. It does not keep b. A
	// destination that cannot be used fails with an error wrapping
	// ErrInvalidAddress, ErrUnreachable or ErrTooLarge, and the socket stays
	// open. A datagram lost on the way is not reported: that is UDP.
	SendTo(b []byte, to netip.AddrPort) error
	// SetReading suspends (false) or resumes (true) reading. While
	// suspended the socket is not read (beyond one datagram held back), the
	// kernel's receive buffer fills and further datagrams are dropped by
	// the kernel.
	SetReading(on bool)
	// JoinGroup joins the multicast group on the named interface (empty:
	// the system's choice). The socket then receives datagrams sent to
	// group on its port, and only the groups it joined: datagrams for a
	// group joined only by other sockets are not delivered.
	JoinGroup(group netip.Addr, ifname string) error
	// LeaveGroup leaves a group joined with JoinGroup.
	LeaveGroup(group netip.Addr, ifname string) error
	// LocalAddr is the bound address with the actual port.
	LocalAddr() netip.AddrPort
	// Close closes the socket; OnClosed(nil) follows.
	Close() error
}

// Packet is one received datagram.
type Packet struct {
	// From is the sender.
	From netip.AddrPort
	// To is the destination address the datagram was sent to (a multicast
	// group, a broadcast or a unicast address), when the platform reports
	// it; zero otherwise.
	To netip.Addr
	// Data is the payload and belongs to the handler.
	Data []byte
	// Truncated reports that the datagram was longer than MaxDatagram and
	// Data holds only its first MaxDatagram bytes.
	Truncated bool
}

// PacketHandler receives a packet socket's events. Calls are serialized and
// none follows OnClosed.
type PacketHandler interface {
	// OnPacket delivers a datagram.
	OnPacket(p Packet)
	// OnClosed is the last event: nil after Close, otherwise the error that
	// stopped the socket.
	OnClosed(err error)
}
