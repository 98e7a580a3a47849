package netif_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/netif"
	"github.com/microstack-go/microstack/messages/netifmsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/sim"
)

// A monitor watching a simulated host: a subscriber gets the interfaces as
// they are, then one event for a burst of two changes.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	host := sim.New(sim.Config{Clock: clk}).AddHost("agent", netip.MustParseAddr("10.0.0.1"))

	monitor := system.Root.Spawn(netif.Props(netif.Options{Network: host, Settle: 100 * time.Millisecond, Clock: clk}))
	defer func() { _ = system.Root.StopFuture(monitor).Wait() }()
	events := make(chan any, 4)
	subscriber := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *netifmsg.Subscribed, *netifmsg.InterfacesChanged:
			events <- m
		}
	}))
	defer func() { _ = system.Root.StopFuture(subscriber).Wait() }()
	system.Root.Send(monitor, &netifmsg.Subscribe{Subscriber: subscriber})
	for _, ifc := range (<-events).(*netifmsg.Subscribed).Current {
		fmt.Println(ifc.Name, ifc.Prefixes)
	}

	_ = host.AddPrefix("eth0", netip.MustParsePrefix("10.0.0.2/24"))
	_ = host.RemovePrefix("eth0", netip.MustParsePrefix("10.0.0.1/24"))
	for {
		select {
		case e := <-events:
			ev := e.(*netifmsg.InterfacesChanged)
			fmt.Println("added", ev.Added, "removed", ev.Removed)
			return
		default:
			clk.Advance(10 * time.Millisecond) // simulated time, driven by the example
			time.Sleep(time.Millisecond)
		}
	}
	// Output:
	// eth0 [10.0.0.1/24]
	// lo [127.0.0.1/8 ::1/128]
	// added [{eth0 10.0.0.2/24}] removed [{eth0 10.0.0.1/24}]
}
