package runtime_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

type (
	boom struct{}
	tick struct{ n int }
	hang struct{ release chan struct{} }
)

// recorder is a child that records its lifecycle in a shared log.
type recorder struct {
	mu  sync.Mutex
	log []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.log
	r.log = nil
	return out
}

func (r *recorder) spec(name string, sink *actor.PID) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name: name,
		Kind: "test.worker",
		Props: func() *actor.Props {
			return actor.PropsFromFunc(func(ctx actor.Context) {
				switch m := ctx.Message().(type) {
				case *actor.Started:
					r.add(name + " started")
					inspect.Of(ctx).Add("starts", 1)
				case *actor.Stopping:
					r.add(name + " stopping")
				case boom:
					panic("boom")
				case tick:
					if sink != nil {
						ctx.Send(sink, m)
					}
				case hang:
					<-m.release
				}
			})
		},
		Shutdown: time.Second,
	}
}

func newChain(t *testing.T, opts runtime.Options) *runtime.Runtime {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testkit.QuietLogger()
	}
	rt := runtime.New(opts)
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = rt.Stop(ctx)
	})
	return rt
}

func TestStartStopRestartOrder(t *testing.T) {
	rec := &recorder{}
	rt := newChain(t, runtime.Options{Children: []supervisor.ChildSpec{rec.spec("a", nil), rec.spec("b", nil), rec.spec("c", nil)}})
	if got := rec.take(); !slices.Equal(got, []string{"a started", "b started", "c started"}) {
		t.Fatalf("Start returned with %v", got)
	}
	root := rt.Root()
	rep, err := rt.Restart(context.Background())
	if err != nil || len(rep.NotStopped) != 0 {
		t.Fatalf("restart: %v %v", rep, err)
	}
	want := []string{"c stopping", "b stopping", "a stopping", "a started", "b started", "c started"}
	if got := rec.take(); !slices.Equal(got, want) {
		t.Fatalf("restart: %v, want %v", got, want)
	}
	if !rt.Root().Equal(root) {
		t.Fatal("restart replaced the root")
	}
	for _, in := range rt.Tree() {
		if in.Kind == "test.worker" && (in.Restarts != 1 || in.Counters["starts"] != 1) {
			t.Fatalf("tree after restart: %+v", in)
		}
	}
	rep, err = rt.Stop(context.Background())
	if err != nil || len(rep.NotStopped) != 0 {
		t.Fatalf("stop: %v %v", rep, err)
	}
	if got := rec.take(); !slices.Equal(got, []string{"c stopping", "b stopping", "a stopping"}) {
		t.Fatalf("stop: %v", got)
	}
	if err := rt.Wait(); err != nil {
		t.Fatalf("Wait after Stop: %v", err)
	}
	if len(rt.Tree()) != 0 {
		t.Fatalf("actors left after Stop: %+v", rt.Tree())
	}
	if _, err := rt.Run(context.Background(), func(actor.Context) (any, error) { return nil, nil }); !errors.Is(err, runtime.ErrStopped) {
		t.Fatalf("Run after Stop: %v", err)
	}
}

func TestEscalationToTheRootEndsTheChainWithItsError(t *testing.T) {
	rec := &recorder{}
	rt := newChain(t, runtime.Options{
		Children: []supervisor.ChildSpec{rec.spec("steady", nil), rec.spec("flaky", nil)},
		Supervisor: supervisor.Options{
			Intensity: 2,
			Backoff:   supervisor.Backoff{Min: time.Millisecond, Max: time.Millisecond},
		},
	})
	flaky := actor.NewPID(rt.System().Address(), "chain/flaky")
	go func() {
		for i := 0; i < 3; i++ {
			rt.System().Root.Send(flaky, boom{})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	done := make(chan error, 1)
	go func() { done <- rt.Wait() }()
	select {
	case err := <-done:
		var esc *supervisor.EscalationError
		if !errors.As(err, &esc) || !errors.Is(err, supervisor.ErrIntensity) || esc.Path != "chain" {
			t.Fatalf("Wait returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("chain did not end")
	}
	log := rec.take()
	if log[len(log)-1] != "steady stopping" {
		t.Fatalf("children were not stopped before the chain ended: %v", log)
	}
}

func TestRunFrom100GoroutinesRunsEachExactlyOnceOnTheChain(t *testing.T) {
	rt := newChain(t, runtime.Options{})
	counts := make(map[int]int) // touched only on the chain's goroutine: -race checks that
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := rt.Run(context.Background(), func(ctx actor.Context) (any, error) {
				counts[i]++
				return ctx.Self().Id, nil
			})
			if err != nil || v != "chain" {
				t.Errorf("Run %d: %v %v", i, v, err)
			}
		}()
	}
	wg.Wait()
	total, err := rt.Run(context.Background(), func(actor.Context) (any, error) {
		for i := 0; i < 100; i++ {
			if counts[i] != 1 {
				return nil, errors.New("a function did not run exactly once")
			}
		}
		return len(counts), nil
	})
	if err != nil || total != 100 {
		t.Fatalf("%v %v", total, err)
	}
	if _, err := rt.Run(context.Background(), func(actor.Context) (any, error) { panic("oops") }); err == nil {
		t.Fatal("a panicking function returned no error")
	}
	if _, err := rt.Run(context.Background(), func(actor.Context) (any, error) { return 1, nil }); err != nil {
		t.Fatalf("chain unusable after a panicking function: %v", err)
	}
}

func TestTimersDeliverOnTheClockAndEndWithTheirActor(t *testing.T) {
	mc := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	system := testkit.NewSystem(t)
	sink := testkit.NewProbe(t, system)
	rec := &recorder{}
	rt := newChain(t, runtime.Options{Clock: mc, Children: []supervisor.ChildSpec{rec.spec("w", sink.PID)}, System: system})
	w := actor.NewPID(rt.System().Address(), "chain/w")

	once := rt.SendAfter(w, time.Second, tick{1})
	every := rt.SendEvery(w, 500*time.Millisecond, tick{2})
	cancelled := rt.SendAfter(w, time.Second, tick{3})
	if !cancelled() {
		t.Fatal("cancel of a pending timer reported false")
	}
	mc.Advance(999 * time.Millisecond)
	if m := testkit.Expect[tick](sink, 0); m.n != 2 {
		t.Fatalf("got %v", m)
	}
	sink.ExpectNoMessage(20 * time.Millisecond)
	mc.Advance(time.Millisecond)
	got := []int{testkit.Expect[tick](sink, 0).n, testkit.Expect[tick](sink, 0).n}
	slices.Sort(got)
	if !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("at 1s got %v", got)
	}
	if once() {
		t.Fatal("cancel of a fired one-shot timer reported true")
	}
	if mc.Pending() != 1 {
		t.Fatalf("pending timers %d, want the periodic one", mc.Pending())
	}
	// Stopping the target cancels its timers.
	if _, err := rt.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mc.Pending() != 0 {
		t.Fatalf("%d timers outlived their actor", mc.Pending())
	}
	if every() {
		t.Fatal("periodic timer still pending after its actor stopped")
	}
}

func TestTimerToAnUntrackedActorEndsWhenItStops(t *testing.T) {
	mc := clock.NewManual(time.Unix(0, 0))
	rt := newChain(t, runtime.Options{Clock: mc})
	target := rt.System().Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	rt.SendEvery(target, time.Second, tick{})
	if mc.Pending() != 1 {
		t.Fatalf("pending %d", mc.Pending())
	}
	if err := rt.System().Root.StopFuture(target).Wait(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return mc.Pending() == 0 }, "timer cancelled after its target stopped")
}

func TestStopGivesUpOnAStuckChildAtTheDeadline(t *testing.T) {
	rec := &recorder{}
	spec := rec.spec("stuck", nil)
	spec.Shutdown = 10 * time.Second
	rt := newChain(t, runtime.Options{Children: []supervisor.ChildSpec{spec}})
	release := make(chan struct{})
	defer close(release)
	rt.System().Root.Send(actor.NewPID(rt.System().Address(), "chain/stuck"), hang{release})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, err := rt.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop: %v", err)
	}
	if !slices.Contains(rep.NotStopped, "chain/stuck") {
		t.Fatalf("report %v does not name the stuck child", rep.NotStopped)
	}
	select {
	case <-rt.Done():
	default:
		t.Fatal("chain not marked ended after a forced stop")
	}
}

func TestSpawnAddsAChildAndEventsAreSubscribed(t *testing.T) {
	rt := newChain(t, runtime.Options{})
	probe := testkit.NewProbe(t, rt.System())
	unsub := rt.SubscribeActor(probe.PID)
	defer unsub()
	rec := &recorder{}
	pid, err := rt.Spawn(context.Background(), rec.spec("late", nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); !slices.Equal(got, []string{"late started"}) {
		t.Fatalf("Spawn returned before the child started: %v", got)
	}
	started := testkit.Expect[*messages.ChildStarted](probe, 0)
	if started.Path != "chain/late" || !started.PID.Equal(pid) || started.Kind != "test.worker" {
		t.Fatalf("event %+v", started)
	}
	rt.System().Root.Send(pid, boom{})
	failed := testkit.Expect[*messages.ChildFailed](probe, 0)
	if failed.Path != "chain/late" || failed.Reason == nil {
		t.Fatalf("event %+v", failed)
	}
	if r := testkit.Expect[*messages.ChildRestarted](probe, 0); r.Count != 1 {
		t.Fatalf("event %+v", r)
	}
	testkit.Expect[*messages.ChildStarted](probe, 0)
	if _, err := rt.Spawn(context.Background(), rec.spec("late", nil)); !errors.Is(err, supervisor.ErrDuplicateChild) {
		t.Fatalf("duplicate spawn: %v", err)
	}
}

func TestTreeShowsKindsStatesMailboxesAndCounters(t *testing.T) {
	rec := &recorder{}
	rt := newChain(t, runtime.Options{Children: []supervisor.ChildSpec{rec.spec("a", nil)}})
	release := make(chan struct{})
	a := actor.NewPID(rt.System().Address(), "chain/a")
	rt.System().Root.Send(a, hang{release})
	for i := 0; i < 3; i++ {
		rt.System().Root.Send(a, tick{})
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, in := range rt.Tree() {
			if in.Path == "chain/a" {
				return in.Mailbox == 3
			}
		}
		return false
	}, "mailbox length of a blocked actor")
	close(release)
	tree := rt.Tree()
	if len(tree) != 2 || tree[0].Path != "chain" || tree[0].Kind != "chain" || tree[1].Kind != "test.worker" {
		t.Fatalf("tree %+v", tree)
	}
	if tree[1].State != "running" || tree[1].Counters["starts"] != 1 || tree[1].StartedAt.IsZero() {
		t.Fatalf("entry %+v", tree[1])
	}
}

func TestCrashMessageMakesATrackedActorFailAndRestart(t *testing.T) {
	rec := &recorder{}
	rt := newChain(t, runtime.Options{Children: []supervisor.ChildSpec{rec.spec("w", nil)}})
	probe := testkit.NewProbe(t, rt.System())
	defer rt.SubscribeActor(probe.PID)()
	rt.System().Root.Send(actor.NewPID(rt.System().Address(), "chain/w"), &messages.Crash{Reason: "test"})
	failed := testkit.Expect[*messages.ChildFailed](probe, 0)
	if failed.Path != "chain/w" || failed.Reason.Error() != "crashed on purpose: test" {
		t.Fatalf("failure %+v", failed)
	}
	testkit.FishFor[*messages.ChildStarted](probe, 0, nil)
	// ChildStarted is published as the child is spawned; its Started
	// follows on its own goroutine.
	var got []string
	testkit.Eventually(t, 5*time.Second, func() bool {
		got = append(got, rec.take()...)
		return slices.Equal(got, []string{"w started", "w stopping", "w started"})
	}, "lifecycle [w started w stopping w started]")
}
