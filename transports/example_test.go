package transports_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/sim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve is code written against transports.Network only: it runs the same
// on osnet.New(...) and on a sim.Host.
func serve(n transports.Network, port uint16) (transports.Listener, error) {
	l, err := n.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), port), transports.ListenOptions{})
	if err != nil {
		return nil, err
	}
	return l, l.Start(transports.ListenerFuncs{Accept: func(s transports.Stream) {
		s.Start(transports.StreamFuncs{Data: func(b []byte) { s.Write(b) }})
	}})
}

// An echo service on a simulated host, reached over a 20ms link.
func Example() {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	net := sim.New(sim.Config{Seed: 1, Clock: clk, Link: sim.LinkConfig{Latency: 20 * time.Millisecond}})
	server := net.AddHost("server", netip.MustParseAddr("192.0.2.1"))
	client := net.AddHost("client", netip.MustParseAddr("192.0.2.2"))
	l, _ := serve(server, 7)

	// The simulated handshake needs the clock to move: dial from a
	// goroutine, advance until the handshake is decided.
	dialed := make(chan transports.Stream, 1)
	go func() {
		s, err := client.Dial(context.Background(), netip.MustParseAddrPort("192.0.2.1:7"), transports.DialOptions{})
		if err != nil {
			fmt.Println(err)
		}
		dialed <- s
	}()
	var s transports.Stream
	for s == nil {
		select {
		case s = <-dialed:
		default:
			clk.Advance(time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	}
	s.Start(transports.StreamFuncs{
		Data:   func(b []byte) { fmt.Printf("echoed %q\n", b) },
		Closed: func(err error) { fmt.Println("closed:", err) },
	})
	start := clk.Now()
	s.Write([]byte("hello"))
	clk.Advance(40 * time.Millisecond) // one round trip
	fmt.Println("round trip:", clk.Now().Sub(start))
	s.Close()
	l.Close()
	clk.Advance(time.Second)
	// Output:
	// echoed "hello"
	// round trip: 40ms
	// closed: <nil>
}
