// Package dispatch runs actors' mailboxes on a pool of reused goroutines.
//
// protoactor-go's default dispatcher starts a new goroutine each time an
// idle mailbox gets a message. For an actor that handles one message and
// goes idle again — a connection echoing a read, a handler answering a
// request — that goroutine's creation and the growth of its fresh 8 KiB
// stack cost more than the message itself (17% of the CPU of the TCP echo
// in the performance issue's profile). A Pool hands each activation to a
// goroutine that is already running and waiting, whose stack has already
// grown; it starts a new goroutine only when none waits.
//
// No library does this for protoactor's Dispatcher interface (general
// goroutine pools such as ants add a queue, a lock and per-task
// allocations that this hand-off does not need), so it is written here: an
// unbuffered channel is the whole queue, and a worker that finds the pool
// already holding MaxIdle idle workers exits instead of waiting.
//
// A chain (package runtime) installs a Pool on its actor system and closes
// it when the chain ends; actors that microstack spawns per connection or
// per request look it up with Of. Closing stops the idle workers; a closed
// pool still runs what it is given, one new goroutine per activation, as
// protoactor does.
//
// Mailbox goes one step further for actors fed by an event loop: PostHere
// runs an idle actor on the posting goroutine. The TCP listener gives its
// connections one, and a TCP client connection has one too; HereProps
// gives one to any actor that agrees to be run in place by its senders,
// and FindHere lets such a sender (the HTTP server's event-loop engine, a
// TCP connection with its handler) find it from the PID.
package dispatch

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"
)

// Options configures a Pool.
type Options struct {
	// Throughput is how many messages a mailbox handles before it yields
	// its goroutine to others (protoactor's dispatcher throughput); zero
	// means 300, protoactor's default.
	Throughput int
	// MaxIdle bounds the workers waiting for work; a worker finishing when
	// MaxIdle already wait exits. Zero means 64 per GOMAXPROCS.
	MaxIdle int
}

// Pool is a protoactor Dispatcher that reuses goroutines. It is safe for
// concurrent use.
type Pool struct {
	throughput int
	maxIdle    int32

	work   chan func()
	closed chan struct{}
	once   sync.Once

	idle    atomic.Int32
	started atomic.Int64
	live    atomic.Int32
}

var _ actor.Dispatcher = (*Pool)(nil)

// NewPool returns a pool with no workers yet.
func NewPool(opts Options) *Pool {
	if opts.Throughput <= 0 {
		opts.Throughput = 300
	}
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = 64 * runtime.GOMAXPROCS(0)
	}
	return &Pool{
		throughput: opts.Throughput,
		maxIdle:    int32(opts.MaxIdle),
		work:       make(chan func()),
		closed:     make(chan struct{}),
	}
}

// Schedule runs fn on a waiting worker, or on a new one when none waits.
func (p *Pool) Schedule(fn func()) {
	select {
	case p.work <- fn:
	default:
		p.started.Add(1)
		p.live.Add(1)
		go p.worker(fn)
	}
}

// Throughput implements actor.Dispatcher.
func (p *Pool) Throughput() int { return p.throughput }

func (p *Pool) worker(fn func()) {
	defer p.live.Add(-1)
	for {
		fn()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		select {
		case <-p.closed:
			p.idle.Add(-1)
			return
		default:
		}
		select {
		case fn = <-p.work:
			p.idle.Add(-1)
		case <-p.closed:
			p.idle.Add(-1)
			return
		}
	}
}

// Close makes the idle workers exit, and busy ones when they finish.
// Work scheduled afterwards still runs, each on a goroutine of its own.
func (p *Pool) Close() { p.once.Do(func() { close(p.closed) }) }

// Stats is a snapshot of a pool's workers.
type Stats struct {
	// Live is the number of worker goroutines, busy or idle.
	Live int
	// Idle is the number waiting for work.
	Idle int
	// Started counts the goroutines ever started.
	Started int64
}

// Stats returns the pool's current figures.
func (p *Pool) Stats() Stats {
	return Stats{Live: int(p.live.Load()), Idle: int(p.idle.Load()), Started: p.started.Load()}
}

var extensionID = extensions.NextExtensionID()

type extension struct{ p *Pool }

func (extension) ExtensionID() extensions.ExtensionID { return extensionID }

// Install makes p the pool Of returns for system. Call it before actors
// that look it up are spawned (protoactor's extensions are not locked).
func Install(system *actor.ActorSystem, p *Pool) {
	system.Extensions.Register(extension{p})
}

// Of returns the pool installed on system, or nil when there is none (the
// caller then keeps protoactor's default dispatcher).
func Of(system *actor.ActorSystem) *Pool {
	if system == nil {
		return nil
	}
	if ext, ok := system.Extensions.Get(extensionID).(extension); ok {
		return ext.p
	}
	return nil
}

// Props returns props configured to run on the pool installed on system,
// or props unchanged when there is none. It changes props in place, as
// protoactor's Configure does.
func Props(system *actor.ActorSystem, props *actor.Props) *actor.Props {
	if p := Of(system); p != nil {
		return props.Configure(actor.WithDispatcher(p))
	}
	return props
}

// HereProps is Props with a Mailbox as well: the actor runs on the pool,
// and FindHere (and Here, which keeps what it found) finds its mailbox,
// so that a caller on an event loop (the HTTP server's engines, a TCP
// connection) may run it in place with PostHere while it is idle, saving a
// hand-off between threads per message. Use it for actors that never
// block: one that sleeps or waits holds up every connection of the loop
// that runs it. It changes props in place.
//
// The actor gets its Mailbox however the props are spawned: a supervisor
// that tracks its children (package inspect) spawns a copy of the props
// with a mailbox of its own, which HereProps's spawn function replaces
// with a Mailbox again.
func HereProps(system *actor.ActorSystem, props *actor.Props) *actor.Props {
	// The mailbox on the props as well as in the spawn function: what
	// spawns with protoactor's DefaultSpawner directly (its routers) uses
	// the props' own.
	return Props(system, props).Configure(actor.WithMailbox(newMailbox), actor.WithSpawnFunc(spawnHere))
}

func newMailbox() actor.Mailbox { return &hereMailbox{} }

// spawnHere is protoactor's spawner, given props whose mailbox is a
// Mailbox whatever the spawner's caller set.
func spawnHere(system *actor.ActorSystem, id string, props *actor.Props, parent actor.SpawnerContext) (*actor.PID, error) {
	return actor.DefaultSpawner(system, id, props.Clone(actor.WithMailbox(newMailbox)), parent)
}
