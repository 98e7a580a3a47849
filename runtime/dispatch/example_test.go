package dispatch_test

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/dispatch"
)

// An actor system with a pool installed: props passed through
// dispatch.Props run their mailbox on the pool's reused goroutines.
func Example() {
	system := actor.NewActorSystem()
	pool := dispatch.NewPool(dispatch.Options{})
	defer pool.Close()
	dispatch.Install(system, pool)

	props := dispatch.Props(system, actor.PropsFromFunc(func(ctx actor.Context) {
		if s, ok := ctx.Message().(string); ok {
			ctx.Respond("hello, " + s)
		}
	}))
	pid := system.Root.Spawn(props)
	r, _ := system.Root.RequestFuture(pid, "pool", time.Second).Result()
	fmt.Println(r)
	_ = system.Root.StopFuture(pid).Wait()
	// Output: hello, pool
}

// An actor spawned with HereProps can be found from its PID and posted to
// with PostHere, which handles the message on the calling goroutine when
// the actor is idle, as an event loop does for the actors it feeds.
func ExampleFind() {
	system := actor.NewActorSystem()
	pool := dispatch.NewPool(dispatch.Options{})
	defer pool.Close()
	dispatch.Install(system, pool)

	got := make(chan string, 1)
	pid := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(string); ok {
			got <- m
		}
	})))
	if mb, _, ok := dispatch.Find(system, pid); ok {
		// Run here if the actor is idle, else queued for it.
		mb.PostHere("found and posted")
	}
	fmt.Println(<-got)
	_ = system.Root.StopFuture(pid).Wait()
	// Output: found and posted
}
