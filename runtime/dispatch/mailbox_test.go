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
