package testkit_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/testkit"
)

type ping struct{}
type pong struct{ n int }

// A test asks an actor through a probe and expects the answer by type.
func ExampleProbe() {
	t := &testing.T{} // stands in for the *testing.T a real test gets
	system := actor.NewActorSystem()
	counter := 0
	pid := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(ping); ok {
			counter++
			ctx.Respond(pong{counter})
		}
	}))
	probe := testkit.NewProbe(t, system)
	probe.Send(pid, ping{})
	got := testkit.Expect[pong](probe, time.Second)
	fmt.Println("pong", got.n)
	probe.ExpectNoMessage(10 * time.Millisecond)
	// Output:
	// pong 1
}
