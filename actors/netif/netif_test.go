package netif_test

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/netif"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/netifmsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/sim"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is one simulated host on a Manual clock with a monitor watching it.
type world struct {
	t        *testing.T
	system   *actor.ActorSystem
	registry *inspect.Registry
	clk      *clock.Manual
	host     *sim.Host
	monitor  *actor.PID
}

const settle = 100 * time.Millisecond

func newWorld(t *testing.T) *world {
	t.Helper()
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	t.Cleanup(system.Shutdown)
	clk := clock.NewManual(epoch)
	n := sim.New(sim.Config{Seed: 1, Clock: clk})
	w := &world{t: t, system: system, registry: reg, clk: clk, host: n.AddHost("a", netip.MustParseAddr("10.0.0.1"))}
	pid, err := inspect.Spawn(system.Root, netif.Props(netif.Options{Network: w.host, Settle: settle, Clock: clk}), "netif", netif.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	w.monitor = pid
	return w
}

func (w *world) subscribe() *testkit.Probe {
	w.t.Helper()
	p := testkit.NewProbe(w.t, w.system)
	p.Send(w.monitor, &netifmsg.Subscribe{})
	testkit.Expect[*netifmsg.Subscribed](p, 0)
	return p
}

// run advances the clock in small steps, giving the actors time to act on
// each, until probe holds a message or d of simulated time has passed.
func (w *world) run(p *testkit.Probe, d time.Duration) {
	for step := time.Duration(0); step < d && (p == nil || p.Len() == 0); step += 10 * time.Millisecond {
		w.clk.Advance(10 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

func (w *world) change(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatal(err)
	}
}

func addr(ifname, prefix string) netifmsg.Address {
	return netifmsg.Address{Interface: ifname, Prefix: netip.MustParsePrefix(prefix)}
}

func TestSubscribedCarriesTheCurrentInterfaces(t *testing.T) {
	w := newWorld(t)
	p := testkit.NewProbe(t, w.system)
	p.Send(w.monitor, &netifmsg.Subscribe{})
	got := testkit.Expect[*netifmsg.Subscribed](p, 0)
	if len(got.Current) != 2 || got.Current[0].Name != "eth0" || got.Current[1].Name != "lo" {
		t.Fatalf("Subscribed = %+v, want eth0 and lo", got.Current)
	}
	if !netifmsg.Has(got.Current, netip.MustParseAddr("10.0.0.1")) || !got.Current[1].Loopback {
		t.Fatalf("Subscribed = %+v", got.Current)
	}
	p.Send(w.monitor, &netifmsg.GetInterfaces{})
	if ifs := testkit.Expect[*netifmsg.Interfaces](p, 0); len(ifs.Current) != 2 {
		t.Fatalf("Interfaces = %+v", ifs)
	}
}

func TestBurstOfChangesIsOneEvent(t *testing.T) {
	w := newWorld(t)
	p := w.subscribe()
	w.change(w.host.AddPrefix("eth0", netip.MustParsePrefix("10.0.0.9/24")))
	w.change(w.host.AddPrefix("eth0", netip.MustParsePrefix("fd00::9/64")))
	w.change(w.host.AddInterface(transports.Interface{Name: "wlan0", Flags: transports.FlagUp | transports.FlagMulticast,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.5.2/24")}}))
	w.run(p, 5*time.Second)
	ev := testkit.Expect[*netifmsg.InterfacesChanged](p, 0)
	want := []netifmsg.Address{addr("eth0", "10.0.0.9/24"), addr("eth0", "fd00::9/64"), addr("wlan0", "192.168.5.2/24")}
	if !slices.Equal(ev.Added, want) || len(ev.Removed) != 0 || len(ev.Current) != 3 {
		t.Fatalf("event %+v, want Added %v only", ev, want)
	}
	w.run(nil, time.Second)
	p.ExpectNoMessage(50 * time.Millisecond)
}

func TestChangeUndoneWithinTheSettleDelayIsNoEvent(t *testing.T) {
	w := newWorld(t)
	p := w.subscribe()
	pfx := netip.MustParsePrefix("10.0.0.9/24")
	w.change(w.host.AddPrefix("eth0", pfx))
	w.clk.Advance(0) // the watch sees the address
	w.change(w.host.RemovePrefix("eth0", pfx))
	w.run(p, 2*time.Second)
	p.ExpectNoMessage(50 * time.Millisecond)
	if n := w.registry.Lookup("netif").Counter("unchanged"); n != 1 {
		t.Fatalf("unchanged counter = %d, want 1", n)
	}
}

func TestInterfaceDownRemovesItsAddresses(t *testing.T) {
	w := newWorld(t)
	p := w.subscribe()
	w.change(w.host.SetInterfaceUp("eth0", false))
	w.run(p, 5*time.Second)
	ev := testkit.Expect[*netifmsg.InterfacesChanged](p, 0)
	if !slices.Equal(ev.Removed, []netifmsg.Address{addr("eth0", "10.0.0.1/24")}) || len(ev.Added) != 0 {
		t.Fatalf("event %+v, want eth0's address removed", ev)
	}
	if netifmsg.Has(ev.Current, netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("Has reports an address of a down interface")
	}
	w.change(w.host.SetInterfaceUp("eth0", true))
	w.run(p, 5*time.Second)
	ev = testkit.Expect[*netifmsg.InterfacesChanged](p, 0)
	if !slices.Equal(ev.Added, []netifmsg.Address{addr("eth0", "10.0.0.1/24")}) || len(ev.Removed) != 0 {
		t.Fatalf("event %+v, want eth0's address back", ev)
	}
}

func TestSubscribersAreDroppedWhenTheyStopOrUnsubscribe(t *testing.T) {
	w := newWorld(t)
	p1, p2 := w.subscribe(), w.subscribe()
	p1.Send(w.monitor, &netifmsg.Subscribe{}) // again: no second stream
	testkit.Expect[*netifmsg.Subscribed](p1, 0)
	entry := w.registry.Lookup("netif")
	if n := entry.Counter("subscribers"); n != 2 {
		t.Fatalf("subscribers = %d, want 2", n)
	}
	gone := w.system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	w.system.Root.Send(w.monitor, &netifmsg.Subscribe{Subscriber: gone})
	testkit.Eventually(t, 0, func() bool { return entry.Counter("subscribers") == 3 }, "third subscriber")
	_ = w.system.Root.StopFuture(gone).Wait()
	testkit.Eventually(t, 0, func() bool { return entry.Counter("subscribers") == 2 }, "stopped subscriber dropped")

	p2.Send(w.monitor, &netifmsg.Unsubscribe{})
	testkit.Expect[*netifmsg.Unsubscribed](p2, 0)
	w.change(w.host.AddPrefix("eth0", netip.MustParsePrefix("10.0.0.9/24")))
	w.run(p1, 5*time.Second)
	if ev := testkit.Expect[*netifmsg.InterfacesChanged](p1, 0); len(ev.Added) != 1 {
		t.Fatalf("event %+v", ev)
	}
	p1.ExpectNoMessage(50 * time.Millisecond)
	p2.ExpectNoMessage(50 * time.Millisecond)
}

func TestUnknownCommandFails(t *testing.T) {
	w := newWorld(t)
	p := testkit.NewProbe(t, w.system)
	p.Send(w.monitor, "hello")
	if f := testkit.Expect[*messages.CommandFailed](p, 0); f.Cmd != "hello" {
		t.Fatalf("CommandFailed %+v", f)
	}
}
