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
