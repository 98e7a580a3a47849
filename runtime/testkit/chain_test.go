package testkit_test

import (
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/sim"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

type tick struct{}

// A chain on the simulated network's clock: its timers run in simulated
// time, and a packet between two hosts crosses the simulated link.
func TestSimChainRunsOnSimulatedTimeAndNetwork(t *testing.T) {
	w := testkit.NewSimWorld(t, 42, sim.LinkConfig{Latency: 50 * time.Millisecond}, testkit.DriveOptions{Step: 100 * time.Millisecond})
	a := w.Net.AddHost("a", netip.MustParseAddr("10.0.0.1"))
	b := w.Net.AddHost("b", netip.MustParseAddr("10.0.0.2"))

	rt := w.SimChain(t, a, runtime.Options{Children: []supervisor.ChildSpec{{
		Name:  "idle",
		Props: func() *actor.Props { return actor.PropsFromFunc(func(actor.Context) {}) },
	}}})
	probe := testkit.NewProbe(t, rt.System())
	start := w.Clock.Now()
	rt.SendAfter(probe.PID, time.Minute, tick{})
	testkit.Expect[tick](probe, 10*time.Second) // a minute of simulated time
	if w.Clock.Now().Sub(start) < time.Minute {
		t.Fatalf("timer fired after %v of simulated time", w.Clock.Now().Sub(start))
	}

	got := make(chan transports.Packet, 1)
	pb, err := b.ListenPacket(netip.MustParseAddrPort("10.0.0.2:9"), transports.PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pb.Close() })
	if err := pb.Start(transports.PacketFuncs{Packet: func(p transports.Packet) { got <- p }}); err != nil {
		t.Fatal(err)
	}
	pa, err := a.ListenPacket(netip.MustParseAddrPort("10.0.0.1:9"), transports.PacketOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pa.Close() })
	if err := pa.Start(transports.PacketFuncs{}); err != nil {
		t.Fatal(err)
	}
	sent := w.Clock.Now()
	if err := pa.SendTo([]byte("hi"), netip.MustParseAddrPort("10.0.0.2:9")); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if string(p.Data) != "hi" || p.From.Addr() != netip.MustParseAddr("10.0.0.1") {
			t.Fatalf("packet %+v", p)
		}
		if d := w.Clock.Now().Sub(sent); d < 50*time.Millisecond {
			t.Fatalf("packet crossed a 50ms link in %v of simulated time", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no packet")
	}
}
