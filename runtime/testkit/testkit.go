// Package testkit helps test code built on microstack at the message level:
// a Probe actor that records what it is sent and lets a test expect a message
// of a type within a timeout, expect silence, or collect until a condition; an
// actor system with a quiet logger that is shut down with the test; and leak
// checks that know protoactor-go's own background goroutines.
package testkit

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"
)

// DefaultTimeout is how long Expect waits when the test passes zero.
const DefaultTimeout = 5 * time.Second

// NewSystem returns an actor system whose protoactor logs go to the test log
// at warning level and above.
func NewSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }),
		// The dead-letter throttle keeps a goroutine for one interval; a short
		// one lets leak checks see it end.
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
}

// QuietLogger returns a logger that discards everything, for benchmarks and
// examples.
func QuietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // the test may have ended; logging is best effort
	w.t.Log(string(p))
	return len(p), nil
}

// LeakOptions are the goleak options for microstack tests. protoactor-go's
// dead-letter throttle keeps a goroutine for one throttle interval; NewSystem
// makes that interval short so the goroutine ends within goleak's retries,
// and nothing is ignored.
func LeakOptions(extra ...goleak.Option) []goleak.Option {
	return extra
}

// VerifyTestMain runs a package's tests and fails them if goroutines are
// left behind; call it from TestMain.
func VerifyTestMain(m *testing.M, extra ...goleak.Option) {
	goleak.VerifyTestMain(m, LeakOptions(extra...)...)
}

// Probe is an actor that records every message it receives, for a test to
// read in order.
type Probe struct {
	// PID is the probe's address: send to it, or use it as a sender.
	PID    *actor.PID
	t      testing.TB
	system *actor.ActorSystem

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []Envelope
	closed bool
}

// Envelope is a received message with its sender.
type Envelope struct {
	Message any
	Sender  *actor.PID
}

// NewProbe spawns a probe in system; it stops when the test ends.
func NewProbe(t testing.TB, system *actor.ActorSystem) *Probe {
	t.Helper()
	p := &Probe{t: t, system: system}
	p.cond = sync.NewCond(&p.mu)
	p.PID = system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
			return
		}
		p.mu.Lock()
		p.queue = append(p.queue, Envelope{Message: ctx.Message(), Sender: ctx.Sender()})
		p.mu.Unlock()
		p.cond.Broadcast()
	}))
	t.Cleanup(func() {
		_ = system.Root.StopFuture(p.PID).Wait()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		p.cond.Broadcast()
	})
	return p
}

// Send sends msg to target with the probe as sender, so replies come back to
// the probe.
func (p *Probe) Send(target *actor.PID, msg any) {
	p.system.Root.RequestWithCustomSender(target, msg, p.PID)
}

// Next returns the next message, waiting up to timeout, and whether one came.
func (p *Probe) Next(timeout time.Duration) (Envelope, bool) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	wake := time.AfterFunc(timeout, p.cond.Broadcast)
	defer wake.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.queue) == 0 && !p.closed && time.Now().Before(deadline) {
		p.cond.Wait()
	}
	if len(p.queue) == 0 {
		return Envelope{}, false
	}
	e := p.queue[0]
	p.queue = p.queue[1:]
	return e, true
}

// Len returns how many received messages have not been read yet.
func (p *Probe) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue)
}

// ExpectNoMessage fails the test if a message arrives within d.
func (p *Probe) ExpectNoMessage(d time.Duration) {
	p.t.Helper()
	if e, ok := p.Next(d); ok {
		p.t.Fatalf("expected no message within %v, got %T %+v", d, e.Message, e.Message)
	}
}

// Expect returns the next message, failing the test unless it is a T and
// arrives within timeout (DefaultTimeout when zero).
func Expect[T any](p *Probe, timeout time.Duration) T {
	p.t.Helper()
	e, ok := p.Next(timeout)
	if !ok {
		var zero T
		p.t.Fatalf("expected %T within %v, got nothing", zero, orDefault(timeout))
	}
	m, ok := e.Message.(T)
	if !ok {
		var zero T
		p.t.Fatalf("expected %T, got %T %+v", zero, e.Message, e.Message)
	}
	return m
}

// FishFor skips messages until one is a T for which match returns true (any
// T when match is nil), failing the test if none arrives within timeout.
func FishFor[T any](p *Probe, timeout time.Duration, match func(T) bool) T {
	p.t.Helper()
	deadline := time.Now().Add(orDefault(timeout))
	var skipped []string
	for {
		left := time.Until(deadline)
		e, ok := p.Next(left)
		if !ok {
			var zero T
			p.t.Fatalf("no matching %T within %v; skipped %v", zero, orDefault(timeout), skipped)
		}
		if m, ok := e.Message.(T); ok && (match == nil || match(m)) {
			return m
		}
		skipped = append(skipped, fmt.Sprintf("%T", e.Message))
	}
}

// CollectUntil gathers messages until done returns true for the gathered
// list, failing the test if that does not happen within timeout.
func (p *Probe) CollectUntil(timeout time.Duration, done func([]any) bool) []any {
	p.t.Helper()
	deadline := time.Now().Add(orDefault(timeout))
	var got []any
	for !done(got) {
		e, ok := p.Next(time.Until(deadline))
		if !ok {
			p.t.Fatalf("condition not met within %v; collected %d messages: %v", orDefault(timeout), len(got), typeNames(got))
		}
		got = append(got, e.Message)
	}
	return got
}

func typeNames(ms []any) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = reflect.TypeOf(m).String()
	}
	return out
}

func orDefault(d time.Duration) time.Duration {
	if d <= 0 {
		return DefaultTimeout
	}
	return d
}

// Eventually polls cond every few milliseconds until it is true, failing the
// test if it is not within timeout. Use it for state outside actors (files,
// /proc); prefer a Probe for messages.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(orDefault(timeout))
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: "+format, append([]any{orDefault(timeout)}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
