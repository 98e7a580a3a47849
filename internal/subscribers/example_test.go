package subscribers_test

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/internal/subscribers"
)

type subscribe struct{ who *actor.PID }

// A publisher that takes one subscriber at most, and forgets it once it
// stops.
func Example() {
	system := actor.NewActorSystem()
	gone := make(chan int, 1)
	subs := subscribers.New(1)
	publisher := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case subscribe:
			ctx.Respond(subs.Add(ctx, subscribers.Who(ctx, m.who)))
		case *actor.Terminated:
			subs.Gone(m.Who)
			gone <- subs.Len()
		}
	}))
	idle := actor.PropsFromFunc(func(actor.Context) {})
	a, b := system.Root.Spawn(idle), system.Root.Spawn(idle)
	ask := func(who *actor.PID) any {
		r, _ := system.Root.RequestFuture(publisher, subscribe{who}, time.Second).Result()
		return r
	}
	fmt.Println("a:", ask(a))
	fmt.Println("b, while full:", ask(b))
	_ = system.Root.StopFuture(a).Wait()
	fmt.Println("left after a stopped:", <-gone)
	fmt.Println("b:", ask(b))
	// Output:
	// a: true
	// b, while full: false
	// left after a stopped: 0
	// b: true
}
