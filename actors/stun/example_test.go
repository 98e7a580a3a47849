package stun_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/stun"
	"github.com/microstack-go/microstack/messages/stunmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// A binding server on loopback, and a client asking it for the client's own
// address as the server sees it.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()
	loopback := netip.MustParseAddrPort("127.0.0.1:0")

	server := system.Root.Spawn(stun.ServerProps(stun.ServerOptions{Local: loopback}))
	defer func() { _ = system.Root.StopFuture(server).Wait() }()
	client := system.Root.Spawn(stun.Props(stun.Options{Local: loopback}))
	defer func() { _ = system.Root.StopFuture(client).Wait() }()

	reply, _ := system.Root.RequestFuture(server, &stunmsg.GetLocalAddress{}, 5*time.Second).Result()
	serverAddr := reply.(*stunmsg.LocalAddress).Addr
	reply, _ = system.Root.RequestFuture(client, &stunmsg.Bind{Server: "stun:" + serverAddr.String()}, 5*time.Second).Result()
	mapped := reply.(*stunmsg.MappedAddress)
	fmt.Println("mapped to the client's own socket:", mapped.Addr == mapped.Local)
	// Output:
	// mapped to the client's own socket: true
}
