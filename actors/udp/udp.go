// Package udp holds microstack's UDP actors, the counterparts of
// MicroStack's ILibAsyncUDPSocket and ILibMulticastSocket, speaking the
// messages of messages/udpmsg.
//
// The socket actor (Props) owns one UDP socket: Bind opens it and is
// answered with Bound; SendTo sends a datagram; every datagram received
// goes to the handler as a Datagram, with Truncated set when it was longer
// than the socket's MaxDatagram (never cut silently). A send to an invalid
// or unreachable address is answered with a messages.CommandFailed whose
// error wraps the transports error, and the socket stays open. Groups are
// joined and left with JoinGroup and LeaveGroup.
//
// Reading is flow-controlled as for every reading actor:
// messages.SuspendReading stops delivery and stops reading the socket (the
// kernel then drops what does not fit its buffer);
// messages.ResumeReading{Credits: n} delivers n datagrams and then sends
// messages.Passive, or delivers without limit when n is zero. No queue
// grows without bound: datagrams beyond Options.MaxQueued are dropped and
// counted in the actor's inspect entry ("dropped"), beside "datagrams-in",
// "bytes-in", "datagrams-out", "bytes-out", "truncated" and "send-failed".
//
// The multicast actor (MulticastProps) joins a group, IPv4 and IPv6, on a
// set of interfaces, follows an interface monitor (actors/netif) to join
// and leave as interfaces come and go without restarting, and sends to the
// group on each interface with SendToGroup. EchoSpec is a small UDP echo
// service built on the socket actor.
//
// Sockets are opened through a transports.Network: the operating
// system's, or a simulated one in tests. They are closed when the actor
// stops or restarts, and no goroutine of theirs outlives the actor.
package udp

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// Kinds of the actors in the runtime's tree.
const (
	Kind          = "udp"
	MulticastKind = "udp.multicast"
	EchoKind      = "udp.echo"
)

// Props returns the props of a UDP socket actor configured by opts.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &socket{opts: opts} })
}

// ChildSpec returns a supervisor child spec that runs a UDP socket actor
// named name. With opts.Bind set the child is permanent: a socket that
// fails is bound again by the restarted actor. Without, it is temporary,
// since a restart would lose what its owner bound.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	restart := supervisor.Temporary
	if opts.Bind != nil {
		restart = supervisor.Permanent
	}
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    Kind,
		Props:   func() *actor.Props { return Props(opts) },
		Restart: restart,
	}
}

type socket struct {
	opts  Options
	log   *slog.Logger
	stats *inspect.Entry

	c       *conn
	handler *actor.PID
	reader  reader
}

// Receive is the table of contents of the socket actor.
func (s *socket) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.closeConn()
	case *actor.Stopped:
	case packetIn:
		s.packet(ctx, m)
	case connClosed:
		s.connClosed(ctx, m)
	case *udpmsg.Bind:
		s.bind(ctx, m, ctx.Sender())
	case *udpmsg.Unbind:
		s.unbind(ctx, m)
	case *udpmsg.SendTo:
		s.sendTo(ctx, m)
	case *udpmsg.JoinGroup:
		s.joinGroup(ctx, m)
	case *udpmsg.LeaveGroup:
		s.leaveGroup(ctx, m)
	case *udpmsg.GetLocalAddress:
		s.localAddress(ctx, m)
	case *messages.SuspendReading:
		s.reader.suspend(s.conn())
	case *messages.ResumeReading:
		s.reader.resume(ctx, s.conn(), m.Credits, s.handler, s.stats)
	case *messages.Register:
		s.handler = m.Handler
	default:
		fail(ctx, s.stats, m, fmt.Errorf("udp: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (s *socket) start(ctx actor.Context) {
	s.log = s.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind)
	s.stats = inspect.Of(ctx)
	s.reader = newReader(s.opts.MaxQueued)
	if b := s.opts.Bind; b != nil {
		if b.Handler == nil {
			panic(errors.New("udp: Options.Bind without a Handler"))
		}
		if err := s.open(ctx, b); err != nil {
			panic(err) // the supervisor's restart policy decides
		}
		ctx.Send(s.handler, &udpmsg.Bound{Local: s.c.local})
	}
}

func (s *socket) conn() transports.PacketConn {
	if s.c == nil {
		return nil
	}
	return s.c.pc
}

func (s *socket) open(ctx actor.Context, b *udpmsg.Bind) error {
	c, err := openConn(ctx, s.opts.Network, b.Local, packetOptions(b.Options), s.opts.MaxQueued, s.stats)
	if err != nil {
		return fmt.Errorf("udp: bind %v: %w", b.Local, err)
	}
	s.c, s.handler = c, b.Handler
	s.reader = newReader(s.opts.MaxQueued)
	s.log.Debug("bound", "local", c.local)
	return nil
}

func (s *socket) bind(ctx actor.Context, b *udpmsg.Bind, from *actor.PID) {
	if s.c != nil {
		fail(ctx, s.stats, b, fmt.Errorf("udp: bind %v: %w (on %v)", b.Local, udpmsg.ErrAlreadyBound, s.c.local))
		return
	}
	if b.Handler == nil {
		cp := *b
		cp.Handler = from
		b = &cp
	}
	if err := s.open(ctx, b); err != nil {
		fail(ctx, s.stats, b, err)
		return
	}
	respond(ctx, &udpmsg.Bound{Local: s.c.local})
}

func (s *socket) unbind(ctx actor.Context, m *udpmsg.Unbind) {
	if s.c == nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: unbind: %w", udpmsg.ErrNotBound))
		return
	}
	s.closeConn()
	respond(ctx, &udpmsg.Unbound{})
}

func (s *socket) closeConn() {
	if s.c == nil {
		return
	}
	s.c.close(s.opts.CloseWait)
	s.c = nil
	s.reader.held = nil
}

func (s *socket) sendTo(ctx actor.Context, m *udpmsg.SendTo) {
	if s.c == nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: send to %v: %w", m.To, udpmsg.ErrNotBound))
		return
	}
	if err := s.c.pc.SendTo(m.Data, m.To); err != nil {
		s.stats.Add("send-failed", 1)
		fail(ctx, nil, m, fmt.Errorf("udp: %w", err))
		return
	}
	s.stats.Add("datagrams-out", 1)
	s.stats.Add("bytes-out", int64(len(m.Data)))
	if m.Ack != nil {
		respond(ctx, &udpmsg.Sent{Ack: m.Ack})
	}
}

func (s *socket) joinGroup(ctx actor.Context, m *udpmsg.JoinGroup) {
	if s.c == nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: join %v: %w", m.Group, udpmsg.ErrNotBound))
		return
	}
	if err := s.c.pc.JoinGroup(m.Group, m.Interface); err != nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: %w", err))
		return
	}
	respond(ctx, &udpmsg.GroupJoined{Group: m.Group, Interface: m.Interface})
}

func (s *socket) leaveGroup(ctx actor.Context, m *udpmsg.LeaveGroup) {
	if s.c == nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: leave %v: %w", m.Group, udpmsg.ErrNotBound))
		return
	}
	if err := s.c.pc.LeaveGroup(m.Group, m.Interface); err != nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: %w", err))
		return
	}
	respond(ctx, &udpmsg.GroupLeft{Group: m.Group, Interface: m.Interface})
}

func (s *socket) localAddress(ctx actor.Context, m *udpmsg.GetLocalAddress) {
	if s.c == nil {
		fail(ctx, s.stats, m, fmt.Errorf("udp: %w", udpmsg.ErrNotBound))
		return
	}
	respond(ctx, &udpmsg.LocalAddress{Addr: s.c.local})
}

func (s *socket) packet(ctx actor.Context, m packetIn) {
	m.c.handled()
	if m.c != s.c {
		return // from a socket closed since
	}
	s.reader.packet(ctx, s.c.pc, m.p, s.handler, s.stats)
}

// connClosed fails the actor when its socket ended on its own; a socket
// this actor closed ends quietly.
func (s *socket) connClosed(ctx actor.Context, m connClosed) {
	if m.c != s.c {
		return
	}
	err := m.err
	if err == nil {
		err = transports.ErrClosed
	}
	if s.handler != nil {
		ctx.Send(s.handler, &udpmsg.Unbound{Err: err})
	}
	s.c = nil
	panic(fmt.Errorf("udp: socket %v: %w", m.c.local, err))
}

// respond answers the sender, if there is one.
func respond(ctx actor.Context, msg any) {
	if ctx.Sender() != nil {
		ctx.Respond(msg)
	}
}

// fail answers cmd with a CommandFailed, counting it when stats is set.
func fail(ctx actor.Context, stats *inspect.Entry, cmd any, err error) {
	stats.Add("failed-commands", 1)
	respond(ctx, &messages.CommandFailed{Cmd: cmd, Err: err})
}

// reader delivers datagrams to a handler under the flow-control protocol:
// suspended, in credits, or unlimited.
type reader struct {
	limit     int
	suspended bool
	limited   bool // credits count down
	credits   int
	held      []transports.Packet
}

func newReader(limit int) reader { return reader{limit: limit} }

func (r *reader) suspend(pc transports.PacketConn) {
	r.suspended = true
	if pc != nil {
		pc.SetReading(false)
	}
}

func (r *reader) resume(ctx actor.Context, pc transports.PacketConn, credits int, to *actor.PID, stats *inspect.Entry) {
	r.suspended = false
	r.limited, r.credits = credits > 0, credits
	held := r.held
	r.held = nil
	for i, p := range held {
		if !r.open() {
			r.held = append(r.held, held[i:]...)
			return
		}
		r.deliver(ctx, pc, p, to, stats)
	}
	if pc != nil && r.open() {
		pc.SetReading(true)
	}
}

func (r *reader) open() bool { return !r.suspended && (!r.limited || r.credits > 0) }

func (r *reader) packet(ctx actor.Context, pc transports.PacketConn, p transports.Packet, to *actor.PID, stats *inspect.Entry) {
	if !r.open() {
		if len(r.held) >= r.limit {
			stats.Add("dropped", 1)
			return
		}
		r.held = append(r.held, p)
		return
	}
	r.deliver(ctx, pc, p, to, stats)
}

func (r *reader) deliver(ctx actor.Context, pc transports.PacketConn, p transports.Packet, to *actor.PID, stats *inspect.Entry) {
	if to == nil {
		stats.Add("dropped", 1)
		return
	}
	ctx.Send(to, datagram(p, stats))
	if !r.limited {
		return
	}
	r.credits--
	if r.credits == 0 {
		ctx.Send(to, &messages.Passive{})
		if pc != nil {
			pc.SetReading(false)
		}
	}
}
