package supervisor_test

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/supervisor"
)

// A rest-for-one supervisor: when "db" fails, "api" (started after it,
// depending on it) is restarted too; "log" (started before) is not.
func Example() {
	system := actor.NewActorSystem()
	starts := make(chan string, 16)
	child := func(name string) supervisor.ChildSpec {
		return supervisor.ChildSpec{Name: name, Props: func() *actor.Props {
			return actor.PropsFromFunc(func(ctx actor.Context) {
				switch ctx.Message().(type) {
				case *actor.Started:
					starts <- name
				case string:
					panic("failure in " + name)
				}
			})
		}}
	}
	opts := supervisor.Options{Strategy: supervisor.RestForOne, Intensity: 3, Period: time.Minute}
	sup, _ := system.Root.SpawnNamed(supervisor.Props(opts, child("log"), child("db"), child("api")), "services")
	fmt.Println(<-starts, <-starts, <-starts)
	system.Root.Send(actor.NewPID(system.Address(), "services/db"), "fail")
	fmt.Println(<-starts, <-starts)
	_ = system.Root.StopFuture(sup).Wait()
	// Output:
	// log db api
	// db api
}
