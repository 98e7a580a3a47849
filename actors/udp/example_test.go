package udp_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// An echo service on the loopback interface and a socket actor talking to
// it: Bind, SendTo, and the echoed Datagram at the socket's handler.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()

	echo := system.Root.Spawn(udp.EchoProps(netip.MustParseAddrPort("127.0.0.1:0"), nil))
	defer func() { _ = system.Root.StopFuture(echo).Wait() }()
	reply, _ := system.Root.RequestFuture(echo, &udpmsg.GetLocalAddress{}, 5*time.Second).Result()
	server := reply.(*udpmsg.LocalAddress).Addr

	got := make(chan *udpmsg.Datagram, 1)
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if d, ok := ctx.Message().(*udpmsg.Datagram); ok {
			got <- d
		}
	}))
	defer func() { _ = system.Root.StopFuture(handler).Wait() }()
	client := system.Root.Spawn(udp.Props(udp.Options{}))
	defer func() { _ = system.Root.StopFuture(client).Wait() }()
	reply, _ = system.Root.RequestFuture(client, &udpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0"), Handler: handler}, 5*time.Second).Result()
	fmt.Printf("bound: %T\n", reply)

	system.Root.Send(client, &udpmsg.SendTo{To: server, Data: []byte("hello")})
	d := <-got
	fmt.Printf("echoed %q, from the server: %v\n", d.Data, d.From == server)
	// Output:
	// bound: *udpmsg.Bound
	// echoed "hello", from the server: true
}
