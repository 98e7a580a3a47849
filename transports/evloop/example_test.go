package evloop_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
)

// An echo server and a client on the event loops: the same code as on any
// other transports.Network.
func Example() {
	n := evloop.New(evloop.Options{})
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	listenerDone := make(chan struct{})
	l.Start(transports.ListenerFuncs{
		Accept: func(s transports.Stream) {
			s.Start(transports.StreamFuncs{
				Data: func(b []byte) { s.Write(b) }, // echo; b is ours to pass on
			})
		},
		Closed: func(error) { close(listenerDone) },
	})

	c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	got := make(chan string, 1)
	closed := make(chan error, 1)
	c.Start(transports.StreamFuncs{
		Data:   func(b []byte) { got <- string(b); c.Close() },
		Closed: func(err error) { closed <- err },
	})
	c.Write([]byte("hello"))
	fmt.Println("echoed:", <-got)
	fmt.Println("closed:", <-closed)
	l.Close()
	<-listenerDone
	// Output:
	// echoed: hello
	// closed: <nil>
}
