package dispatch_test

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/dispatch"
)

func quietSystem() *actor.ActorSystem {
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
}

// spawnWithMailbox spawns props on a dispatch.Mailbox and returns it.
func spawnWithMailbox(t *testing.T, system *actor.ActorSystem, props *actor.Props) (*actor.PID, *dispatch.Mailbox) {
	t.Helper()
	var mb *dispatch.Mailbox
	pid := system.Root.Spawn(props.Configure(actor.WithMailbox(func() actor.Mailbox {
		mb = dispatch.NewMailbox()
		return mb
	})))
	return pid, mb
}

func TestMailboxDeliversInOrderAndAnswers(t *testing.T) {
	system := quietSystem()
	var last atomic.Int64
	var disorder atomic.Bool
	pid, _ := spawnWithMailbox(t, system, actor.PropsFromFunc(func(ctx actor.Context) {
		switch n := ctx.Message().(type) {
		case int:
			if int64(n) != last.Load()+1 {
				disorder.Store(true)
			}
			last.Store(int64(n))
		case string:
			ctx.Respond(last.Load())
		}
	}))
	for i := 1; i <= 5000; i++ {
		system.Root.Send(pid, i)
	}
	r, err := system.Root.RequestFuture(pid, "last?", 5*time.Second).Result()
	if err != nil || r.(int64) != 5000 || disorder.Load() {
		t.Fatalf("last %v err %v disorder %v", r, err, disorder.Load())
	}
	if err := system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestPostHereRunsTheActorOnTheCaller(t *testing.T) {
	system := quietSystem()
	ran := make(chan int, 10)
	pid, mb := spawnWithMailbox(t, system, actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(int); ok {
			ran <- n
		}
	}))
	// Let Started be handled first: until then a system message waits.
	if _, err := system.Root.RequestFuture(pid, "sync", time.Second).Result(); err == nil {
		t.Fatal("a string got an answer")
	}
	for i := 1; i <= 3; i++ {
		mb.PostHere(i)
		select {
		case n := <-ran:
			if n != i {
				t.Fatalf("got %d, want %d", n, i)
			}
		default:
			t.Fatalf("message %d was not handled before PostHere returned", i)
		}
	}
	if mb.UserMessageCount() != 0 {
		t.Fatalf("%d messages left", mb.UserMessageCount())
	}
	_ = system.Root.StopFuture(pid).Wait()
}

type boom struct{}

func TestMailboxEscalatesPanicsAndResumes(t *testing.T) {
	system := quietSystem()
	var restarts, handled atomic.Int64
	parent := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			var mb *dispatch.Mailbox
			child, _ := ctx.SpawnNamed(actor.PropsFromFunc(func(c actor.Context) {
				switch c.Message().(type) {
				case *actor.Restarting:
					restarts.Add(1)
				case boom:
					panic(errors.New("boom"))
				case int:
					handled.Add(1)
				}
			}, actor.WithMailbox(func() actor.Mailbox { mb = dispatch.NewMailbox(); return mb })), "child")
			_ = child
			go func() {
				time.Sleep(20 * time.Millisecond)
				mb.PostHere(boom{}) // panics on this goroutine: recovered, escalated
				for i := 0; i < 10; i++ {
					mb.PostHere(i)
				}
			}()
		}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Second, actor.DefaultDecider))))
	deadline := time.Now().Add(5 * time.Second)
	for restarts.Load() != 1 || handled.Load() != 10 {
		if time.Now().After(deadline) {
			t.Fatalf("restarts %d handled %d", restarts.Load(), handled.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	_ = system.Root.StopFuture(parent).Wait()
}

// countingDispatcher runs each activation on a new goroutine and counts.
type countingDispatcher struct{ n *atomic.Int64 }

func (d countingDispatcher) Schedule(fn func()) { d.n.Add(1); go fn() }
func (countingDispatcher) Throughput() int      { return 300 }

// A Mailbox whose props name no dispatcher runs on the pool installed on
// its system; one whose props name a dispatcher keeps it.
func TestMailboxRunsOnItsSystemsPoolUnlessPropsNameADispatcher(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	p := dispatch.NewPool(dispatch.Options{})
	defer p.Close()
	dispatch.Install(system, p)
	echo := func(ctx actor.Context) {
		if n, ok := ctx.Message().(int); ok {
			ctx.Respond(n)
		}
	}
	ask := func(pid *actor.PID) {
		t.Helper()
		for i := range 20 {
			if r, err := system.Root.RequestFuture(pid, i, 5*time.Second).Result(); err != nil || r.(int) != i {
				t.Fatalf("request %d: %v %v", i, r, err)
			}
		}
		_ = system.Root.StopFuture(pid).Wait()
	}

	var own atomic.Int64
	pid, _ := spawnWithMailbox(t, system, actor.PropsFromFunc(echo, actor.WithDispatcher(countingDispatcher{&own})))
	ask(pid)
	if own.Load() == 0 || p.Stats().Started != 0 {
		t.Fatalf("named dispatcher: %d activations on it, %d pool workers started", own.Load(), p.Stats().Started)
	}

	pid, _ = spawnWithMailbox(t, system, actor.PropsFromFunc(echo))
	ask(pid)
	if p.Stats().Started == 0 {
		t.Fatal("no dispatcher named: the actor did not run on the system's pool")
	}

	// Without a pool, protoactor's default.
	bare := quietSystem()
	defer bare.Shutdown()
	pid, _ = spawnWithMailbox(t, bare, actor.PropsFromFunc(echo))
	if r, err := bare.Root.RequestFuture(pid, 7, 5*time.Second).Result(); err != nil || r.(int) != 7 {
		t.Fatalf("no pool: %v %v", r, err)
	}
}
