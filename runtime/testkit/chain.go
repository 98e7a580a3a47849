package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports/sim"
)

// Epoch is the time a simulated world's Manual clock starts at.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// StartChain starts a chain for a test, with a quiet logger unless opts has
// one, and stops it when the test ends (failing the test if an actor did not
// stop).
func StartChain(t testing.TB, opts runtime.Options) *runtime.Runtime {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = QuietLogger()
	}
	rt := runtime.New(opts)
	if err := rt.Start(); err != nil {
		t.Fatalf("start chain: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rep, err := rt.Stop(ctx)
		if err != nil || len(rep.NotStopped) > 0 {
			t.Errorf("stop chain: %v; not stopped: %v", err, rep.NotStopped)
		}
	})
	return rt
}

// SimWorld is a simulated network on a Manual clock that a goroutine moves
// forward while the test runs, so actors that wait on the network or on
// timers make progress in simulated time, much faster than real time. Every
// random draw of the network comes from the seed: a failure found with one
// seed replays with it.
type SimWorld struct {
	Clock *clock.Manual
	Net   *sim.Network
	Seed  uint64
}

// DriveOptions sets how a SimWorld's clock moves: Step of simulated time
// every Pause of real time. Defaults 10 ms and 1 ms.
type DriveOptions struct {
	Step  time.Duration
	Pause time.Duration
}

// NewSimWorld returns a simulated network seeded with seed whose links
// default to link, and starts driving its clock until the test ends. Hosts
// come from World.Net.AddHost; give a host as the Network and World.Clock as
// the Clock in an actor's options, or use SimChain.
func NewSimWorld(t testing.TB, seed uint64, link sim.LinkConfig, drive DriveOptions) *SimWorld {
	t.Helper()
	if drive.Step <= 0 {
		drive.Step = 10 * time.Millisecond
	}
	if drive.Pause <= 0 {
		drive.Pause = time.Millisecond
	}
	clk := clock.NewManual(Epoch)
	w := &SimWorld{Clock: clk, Net: sim.New(sim.Config{Seed: seed, Clock: clk, Link: link}), Seed: seed}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(drive.Pause)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				clk.Advance(drive.Step)
			}
		}
	}()
	// Registered before anything the test starts on the world, so it runs
	// after their cleanups: stopping actors close sockets, which the
	// simulated network reports only while its clock moves.
	t.Cleanup(func() { close(stop); <-done })
	t.Logf("simulated world seed %d", seed)
	return w
}

// SimChain starts a chain whose clock is the world's, for an agent on the
// simulated host h; pass h as the Network of the chain's actors.
func (w *SimWorld) SimChain(t testing.TB, h *sim.Host, opts runtime.Options) *runtime.Runtime {
	t.Helper()
	opts.Clock = w.Clock
	if opts.Name == "" {
		opts.Name = h.Name()
	}
	return StartChain(t, opts)
}
