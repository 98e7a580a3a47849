package sim_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/sim"
)

// Two hosts, a lossy link and a partition, on a manual clock: the run is the
// same every time.
func Example() {
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	n := sim.New(sim.Config{Seed: 42, Clock: clk, Link: sim.LinkConfig{Latency: 10 * time.Millisecond, Loss: 0.3}})
	a := n.AddHost("a", netip.MustParseAddr("10.0.0.1"))
	b := n.AddHost("b", netip.MustParseAddr("10.0.0.2"))

	ra, _ := a.ListenPacket(netip.MustParseAddrPort("10.0.0.1:9000"), transports.PacketOptions{})
	rb, _ := b.ListenPacket(netip.MustParseAddrPort("10.0.0.2:9000"), transports.PacketOptions{})
	received := 0
	rb.Start(transports.PacketFuncs{Packet: func(transports.Packet) { received++ }})
	ra.Start(transports.PacketFuncs{})

	for range 10 {
		ra.SendTo([]byte("hello"), rb.LocalAddr())
	}
	clk.Advance(time.Second)
	fmt.Println("received with 30% loss:", received)

	n.Partition(a, b)
	ra.SendTo([]byte("hello"), rb.LocalAddr())
	clk.Advance(time.Second)
	fmt.Println("received across the partition:", received)

	// Dial blocks until the simulated handshake is decided, which needs
	// the clock to move: dial from a goroutine and advance.
	n.Heal(a, b)
	done := make(chan error, 1)
	go func() {
		_, err := a.Dial(context.Background(), netip.MustParseAddrPort("10.0.0.2:80"), transports.DialOptions{})
		done <- err
	}()
	for {
		select {
		case err := <-done:
			fmt.Println(err)
			ra.Close()
			rb.Close()
			clk.Advance(0)
			return
		default:
			clk.Advance(time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	}
	// Output:
	// received with 30% loss: 8
	// received across the partition: 8
	// dial 10.0.0.2:80: transports: connection refused
}
