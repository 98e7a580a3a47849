package tcp

import (
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// EchoOption configures EchoSpec.
type EchoOption func(*ListenerOptions)

// WithListenerOptions starts from o instead of the zero ListenerOptions
// (its Bind and Handler are replaced by the echo service's own).
func WithListenerOptions(o ListenerOptions) EchoOption {
	return func(lo *ListenerOptions) { *lo = o }
}

// WithNetwork runs the echo service on n instead of the operating
// system's network.
func WithNetwork(n transports.Network) EchoOption {
	return func(lo *ListenerOptions) { lo.Network = n }
}

// WithTLS makes the echo service a TLS server.
func WithTLS(t *ServerTLS) EchoOption {
	return func(lo *ListenerOptions) { lo.TLS = t }
}

// WithMaxConnections bounds the echo service's live connections.
func WithMaxConnections(n int) EchoOption {
	return func(lo *ListenerOptions) { lo.MaxConnections = n }
}

// EchoSpec returns the child spec of a TCP echo service named name,
// listening on addr: a listener (ListenerSpec) whose connections each run
// EchoBehavior inside the connection actor (one actor per connection). It
// writes every byte received back, in order, and honours the connection's
// write back-pressure: when a write is refused it suspends reading, asks
// to resume writing, and resends what was refused once writing resumes,
// so that a client that does not read stalls its own echo instead of
// growing a queue. EchoHandlerProps is the same echo as a handler actor.
func EchoSpec(name string, addr netip.AddrPort, opts ...EchoOption) supervisor.ChildSpec {
	var lo ListenerOptions
	for _, o := range opts {
		o(&lo)
	}
	lo.Bind = &tcpmsg.Bind{Local: addr}
	lo.Behavior = EchoBehavior
	lo.Handler = nil
	return ListenerSpec(name, lo)
}

// EchoHandlerProps returns the props of the echo handler EchoSpec gives
// each connection; a listener's Handler factory can use it directly.
func EchoHandlerProps() *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &echoHandler{} })
}

type echoHandler struct {
	conn *actor.PID
	ctx  actor.Context // during Receive
	echo echo
}

// Receive is the table of contents of the echo handler.
func (e *echoHandler) Receive(ctx actor.Context) {
	e.ctx = ctx
	defer func() { e.ctx = nil }()
	switch m := ctx.Message().(type) {
	case *tcpmsg.Connected:
		e.conn = m.Conn
	case *messages.Closed:
		ctx.Stop(ctx.Self())
	default:
		e.echo.receive(e, m)
	}
}

// WriteRecycle and Command are the echo's way to its connection, as for a
// behaviour (but the actor's writes cross a mailbox and are not recycled).
func (e *echoHandler) WriteRecycle(b []byte) { e.ctx.Request(e.conn, &tcpmsg.Write{Data: b}) }

// Command sends cmd to the connection.
func (e *echoHandler) Command(cmd any) { e.ctx.Request(e.conn, cmd) }

// echoOut is how the echo acts on its connection: *Conn for the
// behaviour, *echoHandler for the actor.
type echoOut interface {
	WriteRecycle(b []byte)
	Command(cmd any)
}

// echo is the echo's logic, shared by EchoBehavior and the echo handler
// actor.
type echo struct {
	blocked bool     // a write was refused; waiting for WritingResumed
	refused [][]byte // refused writes, in the order they were sent
	later   [][]byte // data received while blocked
}

func (e *echo) receive(out echoOut, msg any) {
	switch m := msg.(type) {
	case *tcpmsg.Received:
		if e.blocked {
			e.later = append(e.later, m.Data)
			return
		}
		out.WriteRecycle(m.Data)
	case *messages.WriteRefused:
		w, ok := m.Cmd.(*tcpmsg.Write)
		if !ok {
			return
		}
		e.refused = append(e.refused, w.Data)
		if !e.blocked {
			e.blocked = true
			out.Command(&messages.SuspendReading{})
			out.Command(&messages.ResumeWriting{})
		}
	case *messages.WritingResumed:
		e.resumed(out)
	}
}

// resumed resends, in order, what was refused and then what arrived
// meanwhile; every write sent before the first refusal was refused too, so
// nothing overtakes.
func (e *echo) resumed(out echoOut) {
	if !e.blocked {
		return
	}
	e.blocked = false
	batch := append(e.refused, e.later...)
	e.refused, e.later = nil, nil
	for _, b := range batch {
		out.WriteRecycle(b)
	}
	out.Command(&messages.ResumeReading{})
}
