package dispatch_test

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/runtime/dispatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPoolRunsEverythingAndReusesWorkers(t *testing.T) {
	p := dispatch.NewPool(dispatch.Options{MaxIdle: 4})
	defer p.Close()
	const n = 2000
	var wg sync.WaitGroup
	var ran atomic.Int64
	for i := 0; i < n; i++ {
		wg.Add(1)
		p.Schedule(func() { ran.Add(1); wg.Done() })
		if i%2 == 0 {
			wg.Wait() // let a worker go idle, so the next one is reused
		}
	}
	wg.Wait()
	if ran.Load() != n {
		t.Fatalf("ran %d of %d", ran.Load(), n)
	}
	st := p.Stats()
	if st.Started >= n/2 {
		t.Fatalf("started %d goroutines for %d tasks run mostly one at a time: workers are not reused", st.Started, n)
	}
	if st.Idle > 4 {
		t.Fatalf("%d idle workers, MaxIdle 4", st.Idle)
	}
}

func TestPoolBoundsIdleWorkers(t *testing.T) {
	p := dispatch.NewPool(dispatch.Options{MaxIdle: 3})
	defer p.Close()
	release := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		p.Schedule(func() { <-release; wg.Done() })
	}
	close(release)
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Live > 3 {
		if time.Now().After(deadline) {
			t.Fatalf("live workers %d after all went idle, MaxIdle 3", p.Stats().Live)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestClosedPoolStillRunsWork(t *testing.T) {
	p := dispatch.NewPool(dispatch.Options{})
	done := make(chan struct{})
	p.Schedule(func() {})
	p.Close()
	p.Schedule(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("work scheduled after Close did not run")
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Live > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers left after Close", p.Stats().Live)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestActorsOnThePool(t *testing.T) {
	system := actor.NewActorSystem()
	p := dispatch.NewPool(dispatch.Options{})
	defer p.Close()
	dispatch.Install(system, p)
	if dispatch.Of(system) != p {
		t.Fatal("Of does not return the installed pool")
	}
	if dispatch.Of(actor.NewActorSystem()) != nil {
		t.Fatal("a system without a pool has one")
	}
	var got atomic.Int64
	props := dispatch.Props(system, actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(int); ok {
			got.Add(int64(n))
			if ctx.Sender() != nil {
				ctx.Respond(n)
			}
		}
	}))
	pid := system.Root.Spawn(props)
	for i := 1; i <= 100; i++ {
		r, err := system.Root.RequestFuture(pid, i, 5*time.Second).Result()
		if err != nil || r.(int) != i {
			t.Fatalf("request %d: %v %v", i, r, err)
		}
	}
	if got.Load() != 5050 {
		t.Fatalf("sum %d", got.Load())
	}
	_ = system.Root.StopFuture(pid).Wait()
	if p.Stats().Started > 50 {
		t.Fatalf("%d goroutines started for 100 sequential requests", p.Stats().Started)
	}
	system.Shutdown()
}

// BenchmarkRoundTrip compares an actor request/response round trip on
// protoactor's default dispatcher with one on a Pool.
func BenchmarkRoundTrip(b *testing.B) {
	for _, side := range []string{"goroutine", "pool"} {
		b.Run(side, func(b *testing.B) {
			system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
			p := dispatch.NewPool(dispatch.Options{})
			defer p.Close()
			props := actor.PropsFromFunc(func(ctx actor.Context) {
				if _, ok := ctx.Message().(int); ok {
					ctx.Respond(1)
				}
			})
			if side == "pool" {
				props = props.Configure(actor.WithDispatcher(p))
			}
			pid := system.Root.Spawn(props)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := system.Root.RequestFuture(pid, i, 5*time.Second).Result(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			_ = system.Root.StopFuture(pid).Wait()
			system.Shutdown()
		})
	}
}
