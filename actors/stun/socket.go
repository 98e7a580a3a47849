package stun

import (
	"fmt"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/transports"
)

// packetIn is a datagram the socket delivered.
type packetIn struct{ p transports.Packet }

// socketClosed is the socket's last event.
type socketClosed struct {
	sock *socket
	err  error
}

// socket is a UDP socket whose events arrive in an actor's mailbox.
type socket struct {
	conn   transports.PacketConn
	local  netip.AddrPort
	closed chan struct{} // closed by the socket's OnClosed
}

// openSocket binds local on n and starts delivering packets to ctx's actor.
// The transport calls the handler on its own goroutines, so the handler
// only sends messages.
func openSocket(ctx actor.Context, n transports.Network, local netip.AddrPort) (*socket, error) {
	conn, err := n.ListenPacket(local, transports.PacketOptions{MaxDatagram: maxDatagram})
	if err != nil {
		return nil, fmt.Errorf("stun: listen %v: %w", local, err)
	}
	s := &socket{conn: conn, local: conn.LocalAddr(), closed: make(chan struct{})}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	err = conn.Start(transports.PacketFuncs{
		Packet: func(p transports.Packet) { root.Send(self, packetIn{p}) },
		Closed: func(err error) {
			root.Send(self, socketClosed{sock: s, err: err})
			close(s.closed)
		},
	})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("stun: start %v: %w", local, err)
	}
	return s, nil
}

// close closes the socket and waits for its last event, after which the
// transport runs no goroutine for it.
func (s *socket) close() {
	if s == nil {
		return
	}
	_ = s.conn.Close()
	<-s.closed
}
