package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

// A chain with one service: start it, run a function on the chain's
// goroutine, look at the tree, stop it.
func Example() {
	echo := supervisor.ChildSpec{
		Name: "echo",
		Kind: "example.echo",
		Props: func() *actor.Props {
			return actor.PropsFromFunc(func(ctx actor.Context) {
				if s, ok := ctx.Message().(string); ok {
					ctx.Respond("echo: " + s)
				}
			})
		},
	}
	rt := runtime.New(runtime.Options{Name: "agent", Children: []supervisor.ChildSpec{echo}, Logger: testkit.QuietLogger()})
	if err := rt.Start(); err != nil {
		panic(err)
	}
	v, _ := rt.Run(context.Background(), func(ctx actor.Context) (any, error) {
		return fmt.Sprintf("running on %s with %d child", ctx.Self().Id, len(ctx.Children())), nil
	})
	fmt.Println(v)
	for _, in := range rt.Tree() {
		fmt.Println(in.Path, in.Kind, in.State)
	}
	reply, _ := rt.System().Root.RequestFuture(actor.NewPID(rt.System().Address(), "agent/echo"), "hi", time.Second).Result()
	fmt.Println(reply)
	rep, err := rt.Stop(context.Background())
	fmt.Println("stopped:", err == nil, "not stopped:", len(rep.NotStopped))
	// Output:
	// running on agent with 1 child
	// agent chain running
	// agent/echo example.echo running
	// echo: hi
	// stopped: true not stopped: 0
}

// A user's own actor owns microstack actors: here it spawns a supervisor
// (with one worker) as its child, under the user's own supervision. The same
// holds for every actor kind microstack ships: each offers Props to spawn
// as a child and a ChildSpec for the chain.
func Example_composition() {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }))
	done := make(chan string, 1)
	worker := supervisor.ChildSpec{
		Name: "worker",
		Props: func() *actor.Props {
			return actor.PropsFromFunc(func(ctx actor.Context) {
				if _, ok := ctx.Message().(*actor.Started); ok {
					done <- ctx.Self().Id
				}
			})
		},
	}
	owner := actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			// The user's actor is the parent; microstack's supervisor is its child.
			if _, err := ctx.SpawnNamed(supervisor.Props(supervisor.Options{}, worker), "services"); err != nil {
				panic(err)
			}
		}
	})
	pid, _ := system.Root.SpawnNamed(owner, "my-agent")
	fmt.Println(<-done)
	_ = system.Root.StopFuture(pid).Wait()
	// Output:
	// my-agent/services/worker
}
