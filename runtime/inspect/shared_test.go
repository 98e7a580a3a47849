package inspect_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
)

func entryOf(r *inspect.Registry, path string) (inspect.Info, bool) {
	for _, in := range r.Snapshot() {
		if in.Path == path {
			return in, true
		}
	}
	return inspect.Info{}, false
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Actors spawned with SpawnShared from one props keep their own entries by
// calling Lifecycle: running once started, the mailbox they are given, a
// crash on messages.Crash (the parent's strategy restarts them, counted),
// removed once stopped.
func TestSpawnSharedActorsKeepTheirEntries(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer system.Shutdown()
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)

	shared := actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Restarting, *actor.Stopping, *actor.Stopped, *messages.Crash:
			inspect.Lifecycle(ctx)
		}
	}, actor.WithMailbox(actor.Unbounded()))
	children := make(chan []*actor.PID, 1)
	parent := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			var pids []*actor.PID
			for i := 0; i < 3; i++ {
				pid, e, err := inspect.SpawnShared(ctx, shared, "", "test.shared")
				if err != nil || e == nil {
					t.Errorf("spawn: %v, entry %v", err, e)
					return
				}
				pids = append(pids, pid)
			}
			children <- pids
		}
	}, actor.WithSupervisor(actor.NewOneForOneStrategy(10, time.Second, actor.DefaultDecider))))
	defer system.Root.Stop(parent)
	pids := <-children

	for _, pid := range pids {
		eventually(t, "running "+pid.Id, func() bool {
			in, ok := entryOf(reg, pid.Id)
			return ok && in.Kind == "test.shared" && in.State == "running"
		})
	}
	system.Root.Send(pids[0], &messages.Crash{Reason: "test"})
	eventually(t, "restart counted", func() bool {
		in, ok := entryOf(reg, pids[0].Id)
		return ok && in.Restarts == 1 && in.State == "running"
	})
	if err := system.Root.StopFuture(pids[1]).Wait(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stopped entry removed", func() bool { _, ok := entryOf(reg, pids[1].Id); return !ok })
	if _, ok := entryOf(reg, pids[2].Id); !ok {
		t.Fatal("another actor from the same props lost its entry")
	}
}

// Props made by dispatch.HereProps keep their dispatch.Mailbox when a
// tracked spawn (a supervisor's) sets a mailbox of its own on a copy, and
// the entry still reports the mailbox's length.
func TestHerePropsKeepTheirMailboxWhenTracked(t *testing.T) {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer system.Shutdown()
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	release := make(chan struct{})
	busy := make(chan struct{}, 1)
	props := dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(int); ok && n == 0 {
			busy <- struct{}{}
			<-release // the first message holds the actor
		}
	}))
	for _, mailbox := range []actor.MailboxProducer{nil, actor.Unbounded()} {
		pid, err := inspect.Spawn(system.Root, props, "here", "test.here", mailbox)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, ok := dispatch.Find(system, pid); !ok {
			t.Fatalf("mailbox %v: the tracked HereProps actor has no dispatch.Mailbox", mailbox != nil)
		}
		for i := range 4 {
			system.Root.Send(pid, i)
		}
		<-busy
		eventually(t, "the entry reports the three waiting messages", func() bool {
			in, ok := entryOf(reg, "here")
			return ok && in.Mailbox == 3
		})
		release <- struct{}{}
		_ = system.Root.StopFuture(pid).Wait()
		eventually(t, "the entry goes", func() bool { _, ok := entryOf(reg, "here"); return !ok })
	}
}
