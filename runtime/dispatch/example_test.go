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

// An actor spawned with HereProps can be found from its PID and run in
// place: PostHere handles the message on the calling goroutine when the
// actor is idle, as an event loop does for the actors it feeds.
func ExampleFind() {
	system := actor.NewActorSystem()
	pool := dispatch.NewPool(dispatch.Options{})
	defer pool.Close()
	dispatch.Install(system, pool)

	var got string
	pid := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case string:
			got = m
		case int:
			ctx.Respond(m)
		}
	})))
	_, _ = system.Root.RequestFuture(pid, 0, time.Second).Result() // idle from here on
	if mb, _, ok := dispatch.Find(system, pid); ok {
		mb.PostHere("handled before PostHere returns")
	}
	fmt.Println(got)
	_ = system.Root.StopFuture(pid).Wait()
	// Output: handled before PostHere returns
}
