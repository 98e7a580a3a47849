package tcp

import (
	"path"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/supervisor"
)

// Kinds of the actors in the runtime's tree.
const (
	Kind         = "tcp.conn"
	ListenerKind = "tcp.listener"
	ClientKind   = "tcp.client"
	HandlerKind  = "tcp.handler"
	EchoKind     = "tcp.echo"
)

// ConnectionProps returns the props of a connection actor: it waits for a
// tcpmsg.Connect (or carries out opts.Connect at start) and then speaks
// the connection protocol of package tcpmsg. It stops once the connection
// has ended and its handler has been told.
//
// Its mailbox is a dispatch.Mailbox, as the listener's connections have:
// the transport's goroutine runs the idle actor with each read instead of
// waking another goroutine, and the actor runs on the system's dispatch
// pool (a chain installs one). A supervisor spawns with its child spec's
// mailbox instead of the props': ClientSpec names this one.
func ConnectionProps(opts Options) *actor.Props {
	return connectionProps(opts, nil)
}

func connectionProps(opts Options, l *link) *actor.Props {
	// A dispatch.Mailbox, as the listener gives its connections: the
	// stream's events run the idle actor on the transport's goroutine
	// (PostHere; open finds the mailbox), and the actor runs on the
	// system's dispatch pool when it has one, not on a new goroutine per
	// activation.
	return actor.PropsFromProducer(func() actor.Actor { return &connection{opts: &opts, link: l} },
		actor.WithMailbox(connMailbox))
}

// connMailbox is a client connection's mailbox; a child spec names it too,
// because the supervisor spawns with the spec's mailbox, not the props'.
func connMailbox() actor.Mailbox { return dispatch.NewMailbox() }

// Reconnect configures how ClientSpec keeps a client connected: the
// backoff of its supervisor between attempts.
type Reconnect struct {
	// MinBackoff is the wait after the first failure, doubling with each
	// further failure in a row up to MaxBackoff. Defaults 100 ms and 30 s.
	MinBackoff, MaxBackoff time.Duration
	// Jitter moves each wait at random by up to this fraction of itself.
	// Default 0.2.
	Jitter float64
	// Seed seeds the jitter, so that a run can be replayed.
	Seed uint64
}

// ClientSpec returns the child spec of a client connection named name that
// connects to opts.Connect (required, with its Handler) when it starts.
//
// With keep nil the connection is temporary: once it ends, or fails to
// connect, it is gone (the handler got Closed or CommandFailed). With keep
// set the spec is a small supervisor (kind "tcp.client") whose one child,
// "conn", is the connection: whenever the connection cannot be made or is
// lost, other than by the handler's Close, the connection actor fails and
// that supervisor starts a new one after an exponential backoff with
// jitter, without limit; the handler gets tcpmsg.Reconnecting with the
// attempt and the delay, then Connected again. Each attempt is a fresh
// actor, so nothing accumulates across thousands of failed attempts.
func ClientSpec(name string, opts Options, keep *Reconnect) supervisor.ChildSpec {
	conn := supervisor.ChildSpec{
		Name:        name,
		Kind:        Kind,
		Props:       func() *actor.Props { return ConnectionProps(opts) },
		Restart:     supervisor.Temporary,
		Shutdown:    closeShutdown(opts.CloseWait),
		StopMessage: &stopGracefully{},
		Mailbox:     connMailbox,
	}
	if keep == nil {
		return conn
	}
	l := &link{}
	conn.Name = "conn"
	conn.Restart = supervisor.Transient
	conn.Props = func() *actor.Props { return connectionProps(opts, l) }
	r := *keep
	if r.MinBackoff <= 0 {
		r.MinBackoff = 100 * time.Millisecond
	}
	if r.MaxBackoff <= 0 {
		r.MaxBackoff = 30 * time.Second
	}
	if r.Jitter == 0 {
		r.Jitter = 0.2
	}
	sup := supervisor.Spec(name, supervisor.Options{
		// Without limit: a client that must stay connected never gives up;
		// the window is short so the list of recent restarts stays small.
		Intensity: 1 << 30,
		Period:    time.Second,
		Backoff:   supervisor.Backoff{Min: r.MinBackoff, Max: r.MaxBackoff, Jitter: r.Jitter},
		Seed:      r.Seed,
	}, conn)
	sup.Kind = ClientKind
	return sup
}

func closeShutdown(wait time.Duration) time.Duration {
	if wait <= 0 {
		wait = DefaultCloseWait
	}
	return 2*wait + time.Second
}

// link carries a kept-connected client's state across its incarnations:
// the attempts since the last success, and the subscription that turns
// the supervisor's ChildRestarted into Reconnecting for the handler. Its
// methods are no-ops on nil.
type link struct {
	mu       sync.Mutex
	system   *actor.ActorSystem
	path     string
	handler  *actor.PID
	attempts int
	lastErr  error
	sub      *eventstream.Subscription
}

func (l *link) started(ctx actor.Context, handler *actor.PID) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.system, l.path, l.handler = ctx.ActorSystem(), ctx.Self().Id, handler
	if l.sub == nil {
		// Subscribe, not SubscribeWithPredicate: protoactor sets the
		// predicate after publishing the subscription, a data race.
		l.sub = l.system.EventStream.Subscribe(l.event)
	}
}

func (l *link) event(e any) {
	if _, ok := e.(messages.LifecycleEvent); !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := e.(type) {
	case *messages.ChildRestarted:
		if ev.Path == l.path {
			l.system.Root.Send(l.handler, &tcpmsg.Reconnecting{Attempt: l.attempts, Delay: ev.Delay, Err: l.lastErr})
		}
	case *messages.ChildStopped:
		if ev.Path == l.path {
			l.unsubscribe()
		}
	case *messages.Escalated:
		if ev.Path == path.Dir(l.path) {
			l.unsubscribe()
		}
	}
}

func (l *link) unsubscribe() {
	if l.sub != nil {
		l.system.EventStream.Unsubscribe(l.sub)
		l.sub = nil
	}
}

func (l *link) connected() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.attempts, l.lastErr = 0, nil
	l.mu.Unlock()
}

func (l *link) failed(err error) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.attempts++
	l.lastErr = err
	l.mu.Unlock()
}

// stopped ends the subscription when an incarnation stops without failing:
// the client is being stopped, not restarted.
func (l *link) stopped() {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.unsubscribe()
	l.mu.Unlock()
}
