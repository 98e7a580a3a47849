// Package runtime is the chain: MicroStack's event loop (ILibCreateChain,
// ILibStartChain, ILibStopChain) as a root supervisor actor on protoactor-go.
//
// A Runtime owns a protoactor ActorSystem and one root supervisor whose
// children are the agent's services (listeners, stores, process pipes, the
// console). Start starts them in order; Stop stops them in reverse order,
// each within its shutdown timeout, and says which did not stop; Restart
// stops and starts them all again on the same Runtime value; Wait returns
// when the chain has ended, with the error of a failure that escalated to the
// root. Run marshals a function onto the chain's goroutine, as
// ILibChain_RunOnMicrostackThread does; SendAfter and SendEvery are the
// chain's timers (MicroStack's LifeTime module), cancelled with the actor they
// target. Tree is a snapshot of every live actor.
//
// protoactor's ActorSystem.Shutdown does not stop actors, and actors spawned
// from its root context are supervised by a default strategy that gives up
// after 10 restarts in 10 s; the Runtime stops its own tree and supervises
// with package supervisor, so neither trap applies to actors under it.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Errors of the Runtime's methods.
var (
	// ErrNotStarted is returned by methods that need a running chain.
	ErrNotStarted = errors.New("runtime not started")
	// ErrStopped is returned once the chain has ended.
	ErrStopped = errors.New("runtime stopped")
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = errors.New("runtime already started")
)

// Options configures a Runtime. The zero value is usable.
type Options struct {
	// Name is the root supervisor's name and the first element of every
	// actor path. Default "chain".
	Name string
	// Children are the services the chain starts, in order.
	Children []supervisor.ChildSpec
	// Supervisor configures the root supervisor: strategy, restart
	// intensity, backoff. Its OnEscalate and Events are set by the runtime.
	Supervisor supervisor.Options
	// Logger receives the runtime's and protoactor's logs; nil means
	// slog.Default().
	Logger *slog.Logger
	// Clock drives timers, backoff and restart intensity; nil means the wall
	// clock.
	Clock clock.Clock
	// System, when set, is an actor system the chain joins instead of
	// creating its own (for an agent that already runs protoactor). The
	// runtime does not shut a system it did not create, and installs no
	// dispatch.Pool on it (install one with dispatch.Install before New to
	// run microstack's per-connection actors on reused goroutines).
	System *actor.ActorSystem
}

type state int

const (
	stateNew state = iota
	stateRunning
	stateStopped
)

// Runtime is a chain. Create it with New; its methods are safe for
// concurrent use.
type Runtime struct {
	name     string
	opts     Options
	log      *slog.Logger
	clock    clock.Clock
	system   *actor.ActorSystem
	ownSys   bool
	registry *inspect.Registry
	pool     *dispatch.Pool // installed on a system the chain created

	mu    sync.Mutex
	state state
	root  *actor.PID
	err   error // escalation that ended the chain
	done  chan struct{}
}

// New returns a chain that has not started.
func New(opts Options) *Runtime {
	if opts.Name == "" {
		opts.Name = "chain"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	clk := opts.Clock
	if clk == nil {
		clk = clock.Real()
	}
	r := &Runtime{name: opts.Name, opts: opts, log: log, clock: clk, done: make(chan struct{})}
	r.system = opts.System
	if r.system == nil {
		plog := log.With("lib", "protoactor")
		r.system = actor.NewActorSystem(
			actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return plog }),
			actor.WithDeadLetterThrottleInterval(100*time.Millisecond),
		)
		r.ownSys = true
		r.pool = dispatch.NewPool(dispatch.Options{})
		dispatch.Install(r.system, r.pool)
	}
	r.registry = inspect.From(r.system)
	if r.registry == nil {
		r.registry = inspect.NewRegistry(clk.Now)
		inspect.Install(r.system, r.registry)
	}
	installClock(r.system, clk)
	return r
}

// System returns the actor system the chain runs on.
func (r *Runtime) System() *actor.ActorSystem { return r.system }

// Clock returns the chain's clock.
func (r *Runtime) Clock() clock.Clock { return r.clock }

// Root returns the root supervisor's PID, or nil before Start.
func (r *Runtime) Root() *actor.PID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.root
}

// Start spawns the root supervisor and returns once every child in
// Options.Children has handled its Started message (or failed doing so, in
// which case its restart policy applies).
func (r *Runtime) Start() error {
	r.mu.Lock()
	switch r.state {
	case stateRunning:
		r.mu.Unlock()
		return ErrAlreadyStarted
	case stateStopped:
		r.mu.Unlock()
		return ErrStopped
	}
	sopts := r.opts.Supervisor
	if sopts.Clock == nil {
		sopts.Clock = r.clock
	}
	if sopts.Logger == nil {
		sopts.Logger = r.log
	}
	sopts.Events = nil // published on the event stream, where Subscribe reads
	sopts.OnEscalate = r.escalated
	props := supervisor.Props(sopts, r.opts.Children...).Configure(
		actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
			return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
				next(c, env)
				if _, ok := env.Message.(*actor.Stopped); ok {
					r.ended()
				}
			}
		}),
	)
	root, err := inspect.Spawn(r.system.Root, props, r.name, "chain", nil)
	if err != nil {
		r.mu.Unlock()
		return fmt.Errorf("spawn root supervisor: %w", err)
	}
	r.root = root
	r.state = stateRunning
	r.mu.Unlock()
	r.log.Info("chain starting", "name", r.name, "children", len(r.opts.Children))
	_, err = r.request(context.Background(), &supervisor.Sync{}, false)
	if err != nil {
		return err
	}
	r.log.Info("chain started", "name", r.name)
	return nil
}

// StopReport says how a Stop or Restart went.
type StopReport struct {
	// NotStopped lists the paths of actors that did not stop within their
	// shutdown timeout nor after being stopped by force.
	NotStopped []string
}

// Stop stops the chain gracefully: the root's children in reverse start
// order, each given its shutdown timeout to drain, then stopped by force. If
// ctx ends first, everything left is stopped by force at once. The report
// lists what did not stop. Wait returns after Stop.
func (r *Runtime) Stop(ctx context.Context) (StopReport, error) {
	root, err := r.running()
	if err != nil {
		if errors.Is(err, ErrStopped) {
			return StopReport{}, nil
		}
		return StopReport{}, err
	}
	r.log.Info("chain stopping", "name", r.name)
	res, err := r.request(ctx, &supervisor.Shutdown{}, true)
	var rep StopReport
	if sr, ok := res.(*supervisor.ShutdownReport); ok {
		rep.NotStopped = sr.NotStopped
	}
	if err != nil {
		// Out of time: stop what is left at once.
		r.system.Root.Stop(root)
		select {
		case <-r.done:
		case <-time.After(time.Second):
		}
		for _, in := range r.registry.Snapshot() {
			rep.NotStopped = append(rep.NotStopped, in.Path)
		}
		r.ended()
		return rep, err
	}
	<-r.done
	r.log.Info("chain stopped", "name", r.name, "not_stopped", len(rep.NotStopped))
	return rep, nil
}

// Restart stops every child of the root in reverse order and starts them
// all again from their specs, in order, on the same Runtime. Temporary
// children are not started again.
func (r *Runtime) Restart(ctx context.Context) (StopReport, error) {
	if _, err := r.running(); err != nil {
		return StopReport{}, err
	}
	r.log.Info("chain restarting", "name", r.name)
	res, err := r.request(ctx, &supervisor.RestartAll{}, false)
	if err != nil {
		return StopReport{}, err
	}
	switch m := res.(type) {
	case *supervisor.RestartReport:
		return StopReport{NotStopped: m.NotStopped}, nil
	case *messages.CommandFailed:
		return StopReport{}, m
	}
	return StopReport{}, fmt.Errorf("restart: unexpected answer %T", res)
}

// Wait blocks until the chain has ended and returns the failure that ended
// it: an *supervisor.EscalationError when the root gave up, nil after Stop.
func (r *Runtime) Wait() error {
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Done is closed when the chain has ended.
func (r *Runtime) Done() <-chan struct{} { return r.done }

// Spawn adds a child to the root at run time, after the others, and returns
// its PID once it has started.
func (r *Runtime) Spawn(ctx context.Context, spec supervisor.ChildSpec) (*actor.PID, error) {
	if _, err := r.running(); err != nil {
		return nil, err
	}
	res, err := r.request(ctx, &supervisor.StartChild{Spec: spec}, false)
	if err != nil {
		return nil, err
	}
	switch m := res.(type) {
	case *supervisor.ChildAdded:
		// StartChild answers as soon as the child is spawned; Sync waits
		// until it has handled Started.
		if _, err := r.request(ctx, &supervisor.Sync{}, false); err != nil {
			return m.PID, err
		}
		return m.PID, nil
	case *messages.CommandFailed:
		return nil, m
	}
	return nil, fmt.Errorf("spawn: unexpected answer %T", res)
}

// Run runs fn on the root supervisor's goroutine, between its other
// messages, and returns its result: MicroStack's
// ILibChain_RunOnMicrostackThread. fn gets the root's context (to spawn,
// send, watch) and must not block. A panic in fn is returned as an error and
// does not disturb the chain.
func (r *Runtime) Run(ctx context.Context, fn func(actor.Context) (any, error)) (any, error) {
	root, err := r.running()
	if err != nil {
		return nil, err
	}
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	r.system.Root.Send(root, &supervisor.Exec{Fn: func(c actor.Context) {
		defer func() {
			if p := recover(); p != nil {
				ch <- result{err: fmt.Errorf("function run on the chain: %w", supervisor.AsError(p))}
			}
		}()
		v, err := fn(c)
		ch <- result{v, err}
	}})
	select {
	case res := <-ch:
		return res.v, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-r.done:
		return nil, ErrStopped
	}
}

// Tree returns a snapshot of every live actor tracked by the chain, sorted
// by path so that each actor comes right after its parent.
func (r *Runtime) Tree() []inspect.Info { return r.registry.Snapshot() }

// Registry returns the chain's live actor table.
func (r *Runtime) Registry() *inspect.Registry { return r.registry }

// Subscribe calls fn with every lifecycle event of every supervisor in the
// chain's actor system until the returned function is called. fn runs on the
// publishing supervisor's goroutine and must not block; to receive events as
// messages, use SubscribeActor.
func (r *Runtime) Subscribe(fn func(messages.LifecycleEvent)) (unsubscribe func()) {
	// Not SubscribeWithPredicate: protoactor sets the predicate after the
	// subscription is visible to publishers, a data race under -race.
	sub := r.system.EventStream.Subscribe(func(e any) {
		if le, ok := e.(messages.LifecycleEvent); ok {
			fn(le)
		}
	})
	return func() { r.system.EventStream.Unsubscribe(sub) }
}

// SubscribeActor sends every lifecycle event to pid as a message until the
// returned function is called.
func (r *Runtime) SubscribeActor(pid *actor.PID) (unsubscribe func()) {
	return r.Subscribe(func(e messages.LifecycleEvent) { r.system.Root.Send(pid, e) })
}

func (r *Runtime) running() (*actor.PID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch r.state {
	case stateNew:
		return nil, ErrNotStarted
	case stateStopped:
		return nil, ErrStopped
	}
	return r.root, nil
}

// escalated runs on the root's goroutine when the root gives up, after its
// children have stopped: the chain ends with err.
func (r *Runtime) escalated(err error) {
	r.log.Error("chain ending: failure escalated to the root", "err", err)
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	root := r.root
	r.mu.Unlock()
	r.system.Root.Stop(root)
}

// ended marks the chain stopped once its root has stopped.
func (r *Runtime) ended() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == stateStopped {
		return
	}
	r.state = stateStopped
	if r.ownSys {
		r.system.Shutdown()
	}
	if r.pool != nil {
		r.pool.Close()
	}
	close(r.done)
}

// request sends msg to the root with a one-shot actor as sender and returns
// the first answer. With waitStop it also waits for the chain to end. It
// never blocks past ctx and leaves no actor or goroutine behind.
func (r *Runtime) request(ctx context.Context, msg any, waitStop bool) (any, error) {
	root, err := r.running()
	if err != nil {
		return nil, err
	}
	answer := make(chan any, 1)
	asker := r.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			c.RequestWithCustomSender(root, msg, c.Self())
		case *actor.Stopping, *actor.Stopped, *actor.Restarting:
		default:
			select {
			case answer <- m:
			default:
			}
		}
	}))
	defer r.system.Root.Stop(asker)
	var res any
	select {
	case res = <-answer:
	case <-r.done:
		// The root answers before it stops, but the answer may still be on
		// its way through the asker's mailbox.
		select {
		case res = <-answer:
		case <-time.After(time.Second):
			return nil, ErrStopped
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if waitStop {
		select {
		case <-r.done:
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	return res, nil
}
