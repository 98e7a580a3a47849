package udp

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/transports"
)

// packetIn is a datagram a socket delivered.
type packetIn struct {
	c *conn
	p transports.Packet
}

// connClosed is a socket's last event.
type connClosed struct {
	c   *conn
	err error
}

// conn is a packet socket whose events arrive in an actor's mailbox. The
// transport calls the handler on its own goroutines, so the handler only
// counts and sends messages; queued counts the datagrams sent to the
// mailbox and not yet handled, which bounds the mailbox.
type conn struct {
	pc     transports.PacketConn
	local  netip.AddrPort
	queued atomic.Int64
	limit  int64
	closed chan struct{} // closed after the transport's OnClosed
}

// openConn binds local on n and starts delivering datagrams to ctx's actor.
func openConn(ctx actor.Context, n transports.Network, local netip.AddrPort, o transports.PacketOptions, limit int, stats *inspect.Entry) (*conn, error) {
	pc, err := n.ListenPacket(local, o)
	if err != nil {
		return nil, err
	}
	c := &conn{pc: pc, local: pc.LocalAddr(), limit: int64(limit), closed: make(chan struct{})}
	root, self := ctx.ActorSystem().Root, ctx.Self()
	err = pc.Start(transports.PacketFuncs{
		Packet: func(p transports.Packet) {
			if c.queued.Add(1) > c.limit {
				c.queued.Add(-1)
				stats.Add("dropped", 1)
				return
			}
			root.Send(self, packetIn{c, p})
		},
		Closed: func(err error) {
			root.Send(self, connClosed{c, err})
			close(c.closed)
		},
	})
	if err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("start %v: %w", local, err)
	}
	return c, nil
}

// handled marks one datagram from the mailbox as handled.
func (c *conn) handled() { c.queued.Add(-1) }

// close closes the socket and waits, at most wait, for the transport's
// last event, after which no goroutine of the socket runs. The wait is
// bounded because a simulated network reports the close only when its
// clock moves.
func (c *conn) close(wait time.Duration) {
	if c == nil {
		return
	}
	_ = c.pc.Close()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.closed:
	case <-t.C:
	}
}

// packetOptions converts the message's socket options.
func packetOptions(o udpmsg.SocketOptions) transports.PacketOptions {
	return transports.PacketOptions{
		MaxDatagram:   o.MaxDatagram,
		Broadcast:     o.Broadcast,
		ReuseAddr:     o.ReuseAddr,
		TTL:           o.TTL,
		SendBuffer:    o.SendBuffer,
		ReceiveBuffer: o.ReceiveBuffer,
		Multicast: transports.MulticastOptions{
			Interface:  o.MulticastInterface,
			TTL:        o.MulticastTTL,
			NoLoopback: o.NoMulticastLoopback,
		},
	}
}

// datagram converts a packet and counts it.
func datagram(p transports.Packet, stats *inspect.Entry) *udpmsg.Datagram {
	stats.Add("datagrams-in", 1)
	stats.Add("bytes-in", int64(len(p.Data)))
	if p.Truncated {
		stats.Add("truncated", 1)
	}
	return &udpmsg.Datagram{From: p.From, To: p.To, Data: p.Data, Truncated: p.Truncated}
}
