package dispatch_test

import (
	"bytes"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/dispatch"
)

func TestFindReturnsTheMailboxOfAnActorSpawnedWithHereProps(t *testing.T) {
	system := quietSystem()
	pool := dispatch.NewPool(dispatch.Options{})
	defer pool.Close()
	dispatch.Install(system, pool)
	// The actor notes whether it ran on the test's own goroutine: PostHere
	// runs it there when it is idle.
	var inPlace, handled atomic.Int64
	pid := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case int:
			handled.Add(1)
			buf := make([]byte, 16<<10)
			if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "TestFindReturnsTheMailboxOfAnActorSpawnedWithHereProps") {
				inPlace.Add(1)
			}
		case string:
			ctx.Respond(m)
		}
	})))
	if _, err := system.Root.RequestFuture(pid, "ready?", 5*time.Second).Result(); err != nil {
		t.Fatal(err)
	}
	mb, proc, ok := dispatch.Find(system, pid)
	if !ok {
		t.Fatal("Find: the actor's dispatch.Mailbox was not found")
	}
	if hmb, hproc, ok := dispatch.FindHere(system, pid); !ok || hmb != mb || hproc != proc {
		t.Fatal("FindHere did not find the HereProps actor's mailbox")
	}
	if now, _ := system.ProcessRegistry.Get(pid); now != proc {
		t.Fatalf("Find returned process %v, the registry has %v", proc, now)
	}
	// The actor may still be finishing its answer when the first post
	// comes; once idle, a post runs it here.
	for i := 0; i < 100 && inPlace.Load() == 0; i++ {
		mb.PostHere(i)
		time.Sleep(time.Millisecond)
	}
	if inPlace.Load() == 0 {
		t.Fatalf("none of %d posts ran the actor on the posting goroutine", handled.Load())
	}
	if err := system.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if now, _ := system.ProcessRegistry.Get(pid); now == proc {
		t.Fatal("a stopped actor's process is still registered: a kept pair could not tell")
	}
}

func TestFindLeavesOtherActorsAlone(t *testing.T) {
	var logs bytes.Buffer
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}))
	pid := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(string); ok {
			ctx.Respond("pong")
		}
	}))
	if _, _, ok := dispatch.Find(system, pid); ok {
		t.Fatal("Find found a dispatch.Mailbox on an actor with protoactor's")
	}
	// The probe was queued and handled as a no-op: the actor still
	// answers, and nothing was logged about it.
	res, err := system.Root.RequestFuture(pid, "ping", 5*time.Second).Result()
	if err != nil || res != "pong" {
		t.Fatalf("after Find the actor answered %v, %v", res, err)
	}
	if logs.Len() > 0 {
		t.Fatalf("Find's probe was logged: %s", logs.String())
	}
	if _, _, ok := dispatch.Find(system, actor.NewPID("elsewhere:1234", pid.Id)); ok {
		t.Fatal("Find answered for a remote PID")
	}
	if _, _, ok := dispatch.Find(system, actor.NewPID(system.Address(), "nobody")); ok {
		t.Fatal("Find answered for an actor that does not exist")
	}
	_ = system.Root.StopFuture(pid).Wait()
}

// A dispatch.Mailbox given without HereProps (as the TCP connections have
// theirs) is found by Find, not by FindHere: its actor did not agree to be
// run in place by its senders.
func TestFindHereFindsOnlyHerePropsActors(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	pid, mb := spawnWithMailbox(t, system, actor.PropsFromFunc(func(actor.Context) {}))
	if got, _, ok := dispatch.Find(system, pid); !ok || got != mb {
		t.Fatal("Find did not find the actor's dispatch.Mailbox")
	}
	if _, _, ok := dispatch.FindHere(system, pid); ok {
		t.Fatal("FindHere found the mailbox of an actor not spawned with HereProps")
	}
	_ = system.Root.StopFuture(pid).Wait()
}

// Here finds a HereProps actor's mailbox and keeps it while the PID names
// that actor; a stopped actor gives nil, a new HereProps actor under its
// name is found again, and an ordinary actor is not looked up again.
func TestHereFollowsThePIDsActor(t *testing.T) {
	system := quietSystem()
	defer system.Shutdown()
	spawnHere := func() *actor.PID {
		pid, err := system.Root.SpawnNamed(dispatch.HereProps(system, actor.PropsFromFunc(func(actor.Context) {})), "h")
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	var h dispatch.Here
	pid := spawnHere()
	first := h.Mailbox(system, pid)
	if mb, _, _ := dispatch.FindHere(system, pid); first == nil || first != mb {
		t.Fatal("Here did not find the HereProps actor's mailbox")
	}
	if h.Mailbox(system, pid) != first {
		t.Fatal("Here lost the mailbox of a live actor")
	}
	_ = system.Root.StopFuture(pid).Wait()
	if h.Mailbox(system, pid) != nil {
		t.Fatal("Here returned the mailbox of a stopped actor")
	}
	second := spawnHere()
	if mb := h.Mailbox(system, pid); mb == nil || mb == first {
		t.Fatal("Here did not find the new actor under the stopped one's name")
	}
	_ = system.Root.StopFuture(second).Wait()

	var plain dispatch.Here
	other, _ := spawnWithMailbox(t, system, actor.PropsFromFunc(func(actor.Context) {}))
	if plain.Mailbox(system, other) != nil {
		t.Fatal("Here found an actor not spawned with HereProps")
	}
	if plain.Mailbox(system, actor.NewPID("elsewhere:1", "h")) != nil {
		t.Fatal("Here answered for a remote PID")
	}
	_ = system.Root.StopFuture(other).Wait()
}
