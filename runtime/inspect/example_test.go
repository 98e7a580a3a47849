package inspect_test

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/inspect"
)

// An actor spawned through inspect.Spawn appears in the registry and
// publishes its own counters.
func Example() {
	system := actor.NewActorSystem()
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)

	done := make(chan struct{})
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if b, ok := ctx.Message().([]byte); ok {
			inspect.Of(ctx).Add("bytes_in", int64(len(b)))
			close(done)
		}
	})
	pid, _ := inspect.Spawn(system.Root, props, "conn", "tcp.conn", nil)
	system.Root.Send(pid, []byte("hello"))
	<-done
	for _, in := range reg.Snapshot() {
		fmt.Println(in.Path, in.Kind, in.State, in.Counters["bytes_in"])
	}
	_ = system.Root.StopFuture(pid).Wait()
	fmt.Println("tracked after stop:", reg.Len())
	// Output:
	// conn tcp.conn running 5
	// tracked after stop: 0
}
