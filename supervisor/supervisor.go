// Package supervisor is Erlang/OTP supervision on protoactor-go: a supervisor
// actor that starts its children from ChildSpecs in order, restarts them by
// strategy (one-for-one, all-for-one, rest-for-one) and restart type
// (permanent, transient, temporary), waits an exponential backoff with jitter
// between restarts, gives up when the restart intensity (at most N restarts
// within T) is exceeded and passes the failure up, and stops its children in
// reverse start order, each within its shutdown timeout.
//
// protoactor-go's own strategies lack rest-for-one, restart types, ordered
// shutdown with per-child timeouts and a real backoff (its exponential
// strategy grows linearly, with nanoseconds of jitter), so this package
// implements supervision itself: the supervisor actor is its own protoactor
// SupervisorStrategy, receives each child's failure and decides.
//
// A restarted child is a new actor under the same name, so its PID value
// stays valid: a PID held by other actors reaches the new incarnation.
// Messages sent to a child while it is down (between its failure and its
// restart) go to dead letters.
package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/clock"
)

// Strategy says which children restart when one fails.
type Strategy int

const (
	// OneForOne restarts only the failed child.
	OneForOne Strategy = iota
	// AllForOne stops every child and starts them all again.
	AllForOne
	// RestForOne stops the failed child and every child started after it,
	// then starts them again in order.
	RestForOne
)

// String names the strategy.
func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one-for-one"
	case AllForOne:
		return "all-for-one"
	case RestForOne:
		return "rest-for-one"
	}
	return "unknown"
}

// Backoff is the wait before a restart: Min after the first failure, doubling
// with each further failure of the same child up to Max, each delay moved at
// random by up to Jitter of itself (0.2 means ±20%). A child that ran for
// longer than the supervisor's Period before failing starts again from Min.
type Backoff struct {
	Min    time.Duration
	Max    time.Duration
	Jitter float64
}

// Defaults of Options.
const (
	DefaultIntensity  = 5
	DefaultPeriod     = 10 * time.Second
	DefaultMinBackoff = 10 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	DefaultJitter     = 0.2
)

// Options configures a supervisor. The zero value is usable: one-for-one, 5
// restarts in 10 s, backoff 10 ms to 10 s with 20% jitter, the wall clock,
// and lifecycle events published on the actor system's event stream.
type Options struct {
	Strategy Strategy
	// Intensity is how many restarts are allowed within Period; one more
	// and the supervisor stops its children and escalates. Zero means
	// DefaultIntensity; a negative value allows no restart at all.
	Intensity int
	// Period is the window of Intensity. Zero means DefaultPeriod.
	Period time.Duration
	// Backoff is the wait before each restart; zero fields take defaults.
	Backoff Backoff
	// Clock times backoff and intensity; nil means the wall clock.
	Clock clock.Clock
	// Rand draws the jitter; nil means a generator seeded from Seed.
	Rand *rand.Rand
	// Seed seeds the jitter when Rand is nil, so a run can be replayed.
	Seed uint64
	// Logger receives the supervisor's decisions; nil means the actor
	// system's logger.
	Logger *slog.Logger
	// Events receives every lifecycle event; nil publishes them on the
	// actor system's event stream. It runs on the supervisor's goroutine and
	// must not block.
	Events func(messages.LifecycleEvent)
	// OnEscalate, when set, receives the failure that exceeded the restart
	// intensity, after every child has stopped, instead of the failure being
	// passed to this supervisor's parent. The runtime sets it on the root,
	// where it ends the chain.
	OnEscalate func(error)
}

func (o *Options) fill() {
	if o.Intensity == 0 {
		o.Intensity = DefaultIntensity
	}
	if o.Period <= 0 {
		o.Period = DefaultPeriod
	}
	if o.Backoff.Min <= 0 {
		o.Backoff.Min = DefaultMinBackoff
	}
	if o.Backoff.Max <= 0 {
		o.Backoff.Max = DefaultMaxBackoff
	}
	if o.Backoff.Max < o.Backoff.Min {
		o.Backoff.Max = o.Backoff.Min
	}
	if o.Backoff.Jitter == 0 {
		o.Backoff.Jitter = DefaultJitter
	}
	if o.Backoff.Jitter < 0 {
		o.Backoff.Jitter = 0
	}
	if o.Backoff.Jitter > 1 {
		o.Backoff.Jitter = 1
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	}
}

// Errors a supervisor reports.
var (
	// ErrIntensity is the cause of an escalation: more restarts than the
	// intensity allows within the period.
	ErrIntensity = errors.New("restart intensity exceeded")
	// ErrExited is the failure reason of a permanent child that stopped on
	// its own.
	ErrExited = errors.New("permanent child exited")
	// ErrDuplicateChild answers StartChild for a name already in use.
	ErrDuplicateChild = errors.New("child name already in use")
	// ErrNoChild answers a command naming a child the supervisor does not have.
	ErrNoChild = errors.New("no such child")
	// ErrShuttingDown answers commands that arrive while the supervisor stops.
	ErrShuttingDown = errors.New("supervisor is shutting down")
)

// EscalationError is what a supervisor passes up when it gives up: which
// supervisor, and the failure that exceeded its intensity.
type EscalationError struct {
	Path  string
	Cause error
}

// Error describes the escalation.
func (e *EscalationError) Error() string {
	return fmt.Sprintf("supervisor %s gave up: %v", e.Path, e.Cause)
}

// Unwrap returns the cause, which wraps ErrIntensity.
func (e *EscalationError) Unwrap() error { return e.Cause }

// PanicError is the failure reason of a child that panicked with a value
// that is not an error.
type PanicError struct{ Value any }

// Error formats the panic value.
func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// AsError turns a failure reason from protoactor (a panic value) into an
// error.
func AsError(reason any) error {
	switch r := reason.(type) {
	case nil:
		return nil
	case error:
		return r
	default:
		return &PanicError{Value: reason}
	}
}

// Props returns the props of a supervisor that starts children in order when
// it starts.
func Props(opts Options, children ...ChildSpec) *actor.Props {
	opts.fill()
	specs := append([]ChildSpec(nil), children...)
	return actor.PropsFromProducer(func() actor.Actor {
		return &supervisor{opts: opts, initial: specs}
	})
}

// Spec returns the child spec of a nested supervisor named name. Its shutdown
// timeout is the sum of its children's (at least DefaultShutdown), and its
// parent asks it to stop with Shutdown so that it stops its own children in
// order.
func Spec(name string, opts Options, children ...ChildSpec) ChildSpec {
	total := time.Duration(0)
	for _, c := range children {
		if d := c.shutdown(); d > 0 {
			total += d
		}
	}
	total += time.Second
	if total < DefaultShutdown {
		total = DefaultShutdown
	}
	return ChildSpec{
		Name:        name,
		Kind:        "supervisor",
		Props:       func() *actor.Props { return Props(opts, children...) },
		Restart:     Permanent,
		Shutdown:    total,
		StopMessage: &Shutdown{},
	}
}
