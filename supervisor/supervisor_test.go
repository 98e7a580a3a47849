package supervisor_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// Messages the worker under test understands.
type (
	boom      struct{}                        // panic
	exit      struct{}                        // stop on its own
	block     struct{ release chan struct{} } // block inside Receive until released
	lifecycle struct {
		name  string
		event string // "started" or "stopping"
	}
	gracefulStop struct{}
)

// worker reports its lifecycle to a probe.
func worker(name string, probe *actor.PID) func() *actor.Props {
	return func() *actor.Props {
		return actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				ctx.Send(probe, lifecycle{name, "started"})
			case *actor.Stopping:
				ctx.Send(probe, lifecycle{name, "stopping"})
			case boom:
				panic("boom in " + name)
			case exit, gracefulStop:
				ctx.Stop(ctx.Self())
			case block:
				<-m.release
			}
		})
	}
}

func specs(probe *actor.PID, names ...string) []supervisor.ChildSpec {
	out := make([]supervisor.ChildSpec, len(names))
	for i, n := range names {
		out[i] = supervisor.ChildSpec{Name: n, Props: worker(n, probe), Shutdown: time.Second}
	}
	return out
}

// lifecycles reads n lifecycle reports from p, in order.
func lifecycles(t *testing.T, p *testkit.Probe, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		e, ok := p.Next(5 * time.Second)
		if !ok {
			t.Fatalf("got %v, waiting for %d lifecycle reports", got, n)
		}
		if l, ok := e.Message.(lifecycle); ok {
			got = append(got, l.name+" "+l.event)
		}
	}
	return got
}

// eventsProbe returns a probe that receives every lifecycle event.
func eventsProbe(t *testing.T, system *actor.ActorSystem) *testkit.Probe {
	p := testkit.NewProbe(t, system)
	sub := system.EventStream.Subscribe(func(e any) {
		if _, ok := e.(messages.LifecycleEvent); ok {
			system.Root.Send(p.PID, e)
		}
	})
	t.Cleanup(func() { system.EventStream.Unsubscribe(sub) })
	return p
}

func fastOptions(s supervisor.Strategy) supervisor.Options {
	return supervisor.Options{Strategy: s, Backoff: supervisor.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}}
}

func spawnSupervisor(t *testing.T, system *actor.ActorSystem, opts supervisor.Options, children ...supervisor.ChildSpec) *actor.PID {
	t.Helper()
	pid, err := system.Root.SpawnNamed(supervisor.Props(opts, children...), "sup")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	return pid
}

func childPID(t *testing.T, system *actor.ActorSystem, sup *actor.PID, name string) *actor.PID {
	t.Helper()
	res, err := system.Root.RequestFuture(sup, &supervisor.WhichChildren{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.(*supervisor.Children).Children {
		if c.Name == name {
			return c.PID
		}
	}
	t.Fatalf("no child %q", name)
	return nil
}

func TestChildrenStartInOrderAndStopInReverseOrder(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	sup := spawnSupervisor(t, system, fastOptions(supervisor.OneForOne), specs(probe.PID, "a", "b", "c")...)
	if got := lifecycles(t, probe, 3); !slices.Equal(got, []string{"a started", "b started", "c started"}) {
		t.Fatalf("start order %v", got)
	}
	replies := testkit.NewProbe(t, system)
	replies.Send(sup, &supervisor.Shutdown{})
	got := lifecycles(t, probe, 3)
	if !slices.Equal(got, []string{"c stopping", "b stopping", "a stopping"}) {
		t.Fatalf("stop order %v", got)
	}
	rep := testkit.Expect[*supervisor.ShutdownReport](replies, 0)
	if len(rep.NotStopped) != 0 {
		t.Fatalf("not stopped: %v", rep.NotStopped)
	}
}

func TestStrategiesRestartTheRightChildren(t *testing.T) {
	cases := []struct {
		strategy supervisor.Strategy
		want     []string // lifecycle reports after b panics
	}{
		{supervisor.OneForOne, []string{"b stopping", "b started"}},
		{supervisor.AllForOne, []string{"c stopping", "b stopping", "a stopping", "a started", "b started", "c started"}},
		{supervisor.RestForOne, []string{"c stopping", "b stopping", "b started", "c started"}},
	}
	for _, tc := range cases {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			system := testkit.NewSystem(t)
			probe := testkit.NewProbe(t, system)
			sup := spawnSupervisor(t, system, fastOptions(tc.strategy), specs(probe.PID, "a", "b", "c")...)
			lifecycles(t, probe, 3)
			b := childPID(t, system, sup, "b")
			system.Root.Send(b, boom{})
			got := lifecycles(t, probe, len(tc.want))
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			probe.ExpectNoMessage(50 * time.Millisecond)
			// The restarted child answers at the same PID value.
			system.Root.Send(b, boom{})
			if got := lifecycles(t, probe, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Fatalf("second failure: got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRestartTypes(t *testing.T) {
	cases := []struct {
		name    string
		restart supervisor.RestartType
		msg     any
		want    []string
	}{
		{"permanent restarts after failure", supervisor.Permanent, boom{}, []string{"w stopping", "w started"}},
		{"permanent restarts after normal exit", supervisor.Permanent, exit{}, []string{"w stopping", "w started"}},
		{"transient restarts after failure", supervisor.Transient, boom{}, []string{"w stopping", "w started"}},
		{"transient stays down after normal exit", supervisor.Transient, exit{}, []string{"w stopping"}},
		{"temporary stays down after failure", supervisor.Temporary, boom{}, []string{"w stopping"}},
		{"temporary stays down after normal exit", supervisor.Temporary, exit{}, []string{"w stopping"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			system := testkit.NewSystem(t)
			probe := testkit.NewProbe(t, system)
			spec := supervisor.ChildSpec{Name: "w", Props: worker("w", probe.PID), Restart: tc.restart}
			sup := spawnSupervisor(t, system, fastOptions(supervisor.OneForOne), spec)
			lifecycles(t, probe, 1)
			system.Root.Send(childPID(t, system, sup, "w"), tc.msg)
			if got := lifecycles(t, probe, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			probe.ExpectNoMessage(100 * time.Millisecond)
			res, err := system.Root.RequestFuture(sup, &supervisor.WhichChildren{}, time.Second).Result()
			if err != nil {
				t.Fatal(err)
			}
			n := len(res.(*supervisor.Children).Children)
			if wantN := len(tc.want) - 1; n != wantN {
				t.Fatalf("supervisor has %d children, want %d", n, wantN)
			}
		})
	}
}

// protoactor's default strategy (used for actors spawned from the root
// context) stops a child after 10 restarts in 10 s; a supervisor with a higher
// intensity keeps restarting it.
func TestIntensityIsTheSupervisorsNotProtoactorsDefault(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	opts := fastOptions(supervisor.OneForOne)
	opts.Intensity = 30
	sup := spawnSupervisor(t, system, opts, specs(probe.PID, "w")...)
	lifecycles(t, probe, 1)
	w := childPID(t, system, sup, "w")
	for i := 0; i < 15; i++ {
		system.Root.Send(w, boom{})
		if got := lifecycles(t, probe, 2); !slices.Equal(got, []string{"w stopping", "w started"}) {
			t.Fatalf("failure %d: %v", i+1, got)
		}
	}
}

func TestIntensityExceededEscalatesAfterStoppingChildren(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	escalated := make(chan error, 1)
	opts := fastOptions(supervisor.OneForOne)
	opts.Intensity = 2
	opts.OnEscalate = func(err error) { escalated <- err }
	sup := spawnSupervisor(t, system, opts, specs(probe.PID, "a", "w")...)
	lifecycles(t, probe, 2)
	w := childPID(t, system, sup, "w")
	for i := 0; i < 2; i++ {
		system.Root.Send(w, boom{})
		lifecycles(t, probe, 2)
	}
	system.Root.Send(w, boom{})
	if got := lifecycles(t, probe, 2); !slices.Equal(got, []string{"w stopping", "a stopping"}) {
		t.Fatalf("escalation stopped %v", got)
	}
	select {
	case err := <-escalated:
		var esc *supervisor.EscalationError
		if !errors.As(err, &esc) || !errors.Is(err, supervisor.ErrIntensity) || esc.Path != sup.Id {
			t.Fatalf("escalation error %v", err)
		}
		if !strings.Contains(err.Error(), "boom in w") {
			t.Fatalf("escalation error does not name the last failure: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no escalation")
	}
}

func TestNestedSupervisorEscalatesToItsParent(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	inner := fastOptions(supervisor.OneForOne)
	inner.Intensity = 1
	outer := fastOptions(supervisor.OneForOne)
	outer.Intensity = 10
	sup := spawnSupervisor(t, system, outer, supervisor.Spec("inner", inner, specs(probe.PID, "x")...))
	lifecycles(t, probe, 1)
	x := actor.NewPID(system.Address(), sup.Id+"/inner/x")
	system.Root.Send(x, boom{})
	lifecycles(t, probe, 2) // restarted by inner
	system.Root.Send(x, boom{})
	// inner gives up, stops x, fails; outer restarts inner, which starts x.
	if got := lifecycles(t, probe, 2); !slices.Equal(got, []string{"x stopping", "x started"}) {
		t.Fatalf("got %v", got)
	}
	res, err := system.Root.RequestFuture(sup, &supervisor.WhichChildren{}, time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	if c := res.(*supervisor.Children).Children[0]; c.Name != "inner" || c.Restarts != 1 {
		t.Fatalf("inner supervisor info %+v", c)
	}
}

func TestBackoffWaitsOnTheClock(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	mc := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	opts := supervisor.Options{
		Clock:     mc,
		Intensity: 100,
		Period:    time.Hour,
		Backoff:   supervisor.Backoff{Min: time.Second, Max: 8 * time.Second, Jitter: 0.1},
	}
	events := eventsProbe(t, system)
	sup := spawnSupervisor(t, system, opts, specs(probe.PID, "w")...)
	lifecycles(t, probe, 1)
	w := childPID(t, system, sup, "w")
	// Delays double: 1 s, 2 s, 4 s, 8 s, 8 s (each ±10%).
	for i, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		system.Root.Send(w, boom{})
		lifecycles(t, probe, 1) // stopping
		restarted := testkit.FishFor[*messages.ChildRestarted](events, 0, nil)
		if lo, hi := base*9/10, base*11/10; restarted.Delay < lo || restarted.Delay > hi {
			t.Fatalf("failure %d: delay %v outside [%v, %v]", i+1, restarted.Delay, lo, hi)
		}
		waitPending(t, mc)
		mc.Advance(base * 85 / 100)
		probe.ExpectNoMessage(30 * time.Millisecond)
		mc.Advance(base * 30 / 100)
		if got := lifecycles(t, probe, 1); got[0] != "w started" {
			t.Fatalf("failure %d: %v", i+1, got)
		}
	}
}

// waitPending waits until the supervisor has armed its backoff timer.
func waitPending(t *testing.T, mc *clock.Manual) {
	testkit.Eventually(t, 5*time.Second, func() bool { return mc.Pending() > 0 }, "backoff timer armed")
}

func TestShutdownForcesAStuckChildAndReportsIt(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	release := make(chan struct{})
	stuck := supervisor.ChildSpec{Name: "stuck", Props: worker("stuck", probe.PID), Shutdown: 50 * time.Millisecond}
	sup := spawnSupervisor(t, system, fastOptions(supervisor.OneForOne), specs(probe.PID, "a")[0], stuck)
	lifecycles(t, probe, 2)
	system.Root.Send(childPID(t, system, sup, "stuck"), block{release})
	replies := testkit.NewProbe(t, system)
	replies.Send(sup, &supervisor.Shutdown{})
	rep := testkit.Expect[*supervisor.ShutdownReport](replies, 10*time.Second)
	if !slices.Equal(rep.NotStopped, []string{sup.Id + "/stuck"}) {
		t.Fatalf("not stopped %v", rep.NotStopped)
	}
	close(release) // let the stuck actor's goroutine end
}

func TestStopMessageLetsAChildStopItself(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	spec := supervisor.ChildSpec{Name: "g", Props: worker("g", probe.PID), StopMessage: gracefulStop{}}
	sup := spawnSupervisor(t, system, fastOptions(supervisor.OneForOne), spec)
	lifecycles(t, probe, 1)
	replies := testkit.NewProbe(t, system)
	replies.Send(sup, &supervisor.StopChild{Name: "g"})
	lifecycles(t, probe, 1)
	if r := testkit.Expect[*supervisor.ChildRemoved](replies, 0); !r.Stopped {
		t.Fatalf("removed %+v", r)
	}
}

func TestStartChildAtRunTimeAndRefuseDuplicates(t *testing.T) {
	system := testkit.NewSystem(t)
	probe := testkit.NewProbe(t, system)
	sup := spawnSupervisor(t, system, fastOptions(supervisor.OneForOne))
	replies := testkit.NewProbe(t, system)
	replies.Send(sup, &supervisor.StartChild{Spec: specs(probe.PID, "late")[0]})
	lifecycles(t, probe, 1)
	added := testkit.Expect[*supervisor.ChildAdded](replies, 0)
	if added.PID.Id != sup.Id+"/late" {
		t.Fatalf("added %v", added.PID)
	}
	replies.Send(sup, &supervisor.StartChild{Spec: specs(probe.PID, "late")[0]})
	failed := testkit.Expect[*messages.CommandFailed](replies, 0)
	if !errors.Is(failed.Err, supervisor.ErrDuplicateChild) {
		t.Fatalf("err %v", failed.Err)
	}
	replies.Send(sup, &supervisor.StartChild{Spec: supervisor.ChildSpec{Name: "noprops"}})
	if f := testkit.Expect[*messages.CommandFailed](replies, 0); !errors.Is(f.Err, messages.ErrBadCommand) {
		t.Fatalf("err %v", f.Err)
	}
}

func TestLifecycleEventsArePublished(t *testing.T) {
	system := testkit.NewSystem(t)
	var mu sync.Mutex
	var events []string
	sub := system.EventStream.Subscribe(func(e any) {
		if le, ok := e.(messages.LifecycleEvent); ok {
			mu.Lock()
			events = append(events, fmt.Sprintf("%T %s", le, le.ActorPath()))
			mu.Unlock()
		}
	})
	t.Cleanup(func() { system.EventStream.Unsubscribe(sub) })
	probe := testkit.NewProbe(t, system)
	sup := spawnSupervisor(t, system, fastOptions(supervisor.OneForOne), specs(probe.PID, "w")...)
	lifecycles(t, probe, 1)
	system.Root.Send(childPID(t, system, sup, "w"), boom{})
	lifecycles(t, probe, 2)
	want := []string{
		"*messages.ChildStarted sup/w",
		"*messages.ChildFailed sup/w",
		"*messages.ChildRestarted sup/w",
		"*messages.ChildStarted sup/w",
	}
	testkit.Eventually(t, time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Equal(events, want)
	}, "events %v", want)
}
