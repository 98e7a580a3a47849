package tcp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

// An echo service on loopback, run by the chain, and a client connection
// whose handler sees what happens: Connected, Received, Closed.
func Example() {
	rt := runtime.New(runtime.Options{
		Name:     "agent",
		Children: []supervisor.ChildSpec{tcp.EchoSpec("echo", netip.MustParseAddrPort("127.0.0.1:0"))},
		Logger:   testkit.QuietLogger(),
	})
	if err := rt.Start(); err != nil {
		panic(err)
	}
	defer func() { _, _ = rt.Stop(context.Background()) }()
	root := rt.System().Root

	// Port 0 was asked: the listener says which port it got.
	st, _ := root.RequestFuture(actor.NewPID(rt.System().Address(), "agent/echo"), &tcpmsg.GetStats{}, time.Second).Result()
	addr := st.(*tcpmsg.ListenerStats).Local

	events := make(chan any, 8)
	handler := root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *tcpmsg.Connected, *tcpmsg.Received, *messages.Closed:
			events <- ctx.Message()
		}
	}))
	defer root.Stop(handler)
	conn := root.Spawn(tcp.ConnectionProps(tcp.Options{}))
	root.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})

	c := (<-events).(*tcpmsg.Connected)
	fmt.Println("connected to the echo service:", c.Remote == addr)
	root.Send(conn, &tcpmsg.Write{Data: []byte("hello")})
	fmt.Printf("received %q\n", (<-events).(*tcpmsg.Received).Data)
	root.Send(conn, &tcpmsg.Close{})
	fmt.Println((<-events).(*messages.Closed).Reason)
	// Output:
	// connected to the echo service: true
	// received "hello"
	// closed-by-us
}

// A listener whose connections each run a Behavior inside the connection
// actor: here, one that answers every read with its length. One actor per
// connection, and the behaviour's writes go straight to the socket.
func ExampleBehavior() {
	rt := runtime.New(runtime.Options{Name: "agent", Logger: testkit.QuietLogger()})
	if err := rt.Start(); err != nil {
		panic(err)
	}
	defer func() { _, _ = rt.Stop(context.Background()) }()
	root := rt.System().Root

	counter := func() tcp.Behavior {
		return tcp.BehaviorFunc(func(c *tcp.Conn, msg any) {
			if m, ok := msg.(*tcpmsg.Received); ok {
				c.Write([]byte(fmt.Sprintf("%d bytes\n", len(m.Data))))
			}
		})
	}
	ln := root.Spawn(tcp.ListenerProps(tcp.ListenerOptions{Behavior: counter}))
	defer root.Stop(ln)
	res, _ := root.RequestFuture(ln, &tcpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")}, time.Second).Result()
	addr := res.(*tcpmsg.Bound).Local

	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("hello"))
	line, _ := bufio.NewReader(c).ReadString('\n')
	fmt.Print(line)
	// Output: 5 bytes
}
