package discovery_test

import (
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/discovery"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/sim"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is a simulated LAN on a Manual clock that a goroutine drives
// forward, ten simulated milliseconds at a time, until the test ends.
type world struct {
	t        *testing.T
	clk      *clock.Manual
	n        *sim.Network
	system   *actor.ActorSystem
	registry *inspect.Registry
}

func newWorld(t *testing.T, seed uint64, link sim.LinkConfig) *world {
	t.Helper()
	clk := clock.NewManual(epoch)
	w := &world{t: t, clk: clk, n: sim.New(sim.Config{Seed: seed, Clock: clk, Link: link})}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				clk.Advance(10 * time.Millisecond)
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// Registered first, so it runs last: stopping actors close sockets,
	// which the simulated network reports when its clock moves.
	t.Cleanup(func() { close(stop); <-done })
	w.system = testkit.NewSystem(t)
	w.registry = inspect.NewRegistry(nil)
	inspect.Install(w.system, w.registry)
	t.Cleanup(w.system.Shutdown)
	return w
}

// agent starts a discovery actor named name on a new host with addr.
func (w *world) agent(name string, addr netip.Addr, opts discovery.Options) (*sim.Host, *actor.PID) {
	w.t.Helper()
	h := w.n.AddHost(name, addr)
	opts.Network, opts.Clock, opts.ID = h, w.clk, name
	if opts.Period == 0 {
		opts.Period = time.Second
	}
	pid, err := inspect.Spawn(w.system.Root, discovery.Props(opts), name, discovery.Kind, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = w.system.Root.StopFuture(pid).Wait() })
	return h, pid
}

func (w *world) peers(pid *actor.PID) []discoverymsg.Peer {
	w.t.Helper()
	r, err := w.system.Root.RequestFuture(pid, &discoverymsg.GetPeers{}, 5*time.Second).Result()
	if err != nil {
		w.t.Fatal(err)
	}
	return r.(*discoverymsg.Peers).Peers
}

func ids(ps []discoverymsg.Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// converge waits until pid's table holds exactly want.
func (w *world) converge(pid *actor.PID, want ...string) []discoverymsg.Peer {
	w.t.Helper()
	var got []discoverymsg.Peer
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = w.peers(pid)
		if slices.Equal(ids(got), want) {
			return got
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s's table is %v, want %v", pid.Id, ids(got), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *world) counter(path, name string) int64 { return w.registry.Lookup(path).Counter(name) }

var (
	addrA, addrB, addrC, addrD = netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"), netip.MustParseAddr("10.0.0.4")
	key                        = []byte("the LAN's shared key")
)

func TestTablesConvergeDespiteLossAndDuplication(t *testing.T) {
	w := newWorld(t, 11, sim.LinkConfig{Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Loss: 0.2, Duplicate: 0.2, Reorder: 0.1})
	opts := discovery.Options{Key: key, MissedBeacons: 6, NoIPv6: true}
	svc := func(s string) discovery.Options {
		o := opts
		o.Services = []netip.AddrPort{netip.MustParseAddrPort(s)}
		return o
	}
	_, a := w.agent("a", addrA, svc("0.0.0.0:8080"))
	_, b := w.agent("b", addrB, svc("10.0.0.2:443"))
	_, c := w.agent("c", addrC, opts)
	table := w.converge(b, "a", "c")
	if pa := table[0]; pa.Addr.Addr() != addrA || !slices.Equal(pa.Services, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:8080")}) || pa.Name == "" {
		t.Fatalf("b sees a as %+v", pa)
	}
	w.converge(a, "b", "c")
	w.converge(c, "a", "b")
	// Several periods on, nothing has been lost.
	start := w.clk.Now()
	for w.clk.Now().Sub(start) < 10*time.Second {
		time.Sleep(5 * time.Millisecond)
	}
	w.converge(a, "b", "c")
	if w.counter("a", "beacons-duplicate") == 0 {
		t.Error("no duplicate beacon counted on a lossy, duplicating link")
	}
}

func TestStrangersWithoutTheKeyAreIgnored(t *testing.T) {
	w := newWorld(t, 12, sim.LinkConfig{Latency: time.Millisecond})
	_, a := w.agent("a", addrA, discovery.Options{Key: key, NoIPv6: true})
	w.agent("b", addrB, discovery.Options{Key: key, NoIPv6: true})
	_, c := w.agent("c", addrC, discovery.Options{Key: []byte("a guess"), NoIPv6: true})
	w.agent("d", addrD, discovery.Options{NoIPv6: true})
	w.converge(a, "b")
	testkit.Eventually(t, 0, func() bool { return w.counter("a", "beacons-rejected") >= 4 }, "a rejects c's and d's beacons")
	w.converge(c) // c hears nobody it trusts
	if got := ids(w.peers(a)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("a's table %v", got)
	}
}

func TestReplayedAndMalformedBeaconsAreRefused(t *testing.T) {
	w := newWorld(t, 13, sim.LinkConfig{Latency: time.Millisecond})
	_, a := w.agent("a", addrA, discovery.Options{Key: key, NoIPv6: true, MissedBeacons: 2})
	_, b := w.agent("b", addrB, discovery.Options{Key: key, NoIPv6: true, MissedBeacons: 2})
	mallory := w.n.AddHost("mallory", addrC)
	tap := listen(t, mallory)
	w.converge(a, "b")
	captured := tap.next(t, addrB)

	// A newer beacon of b's has been accepted since: the capture is old.
	tap.next(t, addrB)
	testkit.Eventually(t, 0, func() bool { return w.counter("a", "beacons-in") > 4 }, "a hears more")
	tap.send(t, captured)
	testkit.Eventually(t, 0, func() bool { return w.counter("a", "beacons-replayed") == 1 }, "a refuses the replay")

	// b stops; replaying its beacon does not bring it back.
	sub := testkit.NewProbe(t, w.system)
	sub.Send(a, &discoverymsg.Subscribe{})
	testkit.Expect[*discoverymsg.Subscribed](sub, 0)
	_ = w.system.Root.StopFuture(b).Wait()
	if lost := testkit.Expect[*discoverymsg.PeerLost](sub, 30*time.Second); lost.ID != "b" {
		t.Fatalf("PeerLost %+v", lost)
	}
	tap.send(t, captured)
	testkit.Eventually(t, 0, func() bool { return w.counter("a", "beacons-replayed") == 2 }, "a refuses the replay of a lost peer")

	tap.send(t, []byte("garbage on the discovery port"))
	testkit.Eventually(t, 0, func() bool { return w.counter("a", "beacons-malformed") == 1 }, "garbage counted")
	sub.ExpectNoMessage(100 * time.Millisecond)
	w.converge(a)
}

func TestPartitionedPeerIsLostAndFoundAgain(t *testing.T) {
	w := newWorld(t, 14, sim.LinkConfig{Latency: time.Millisecond})
	ha, a := w.agent("a", addrA, discovery.Options{NoIPv6: true})
	hb, _ := w.agent("b", addrB, discovery.Options{NoIPv6: true})
	sub := testkit.NewProbe(t, w.system)
	sub.Send(a, &discoverymsg.Subscribe{})
	testkit.Expect[*discoverymsg.Subscribed](sub, 0)
	if seen := testkit.Expect[*discoverymsg.PeerSeen](sub, 30*time.Second); seen.Peer.ID != "b" || seen.Peer.Addr.Addr() != addrB {
		t.Fatalf("PeerSeen %+v", seen)
	}
	w.n.Partition(ha, hb)
	if lost := testkit.Expect[*discoverymsg.PeerLost](sub, 30*time.Second); lost.ID != "b" {
		t.Fatalf("PeerLost %+v", lost)
	}
	w.n.Heal(ha, hb)
	if seen := testkit.Expect[*discoverymsg.PeerSeen](sub, 30*time.Second); seen.Peer.ID != "b" {
		t.Fatalf("PeerSeen %+v", seen)
	}
}

func TestSetServicesIsAnnounced(t *testing.T) {
	w := newWorld(t, 15, sim.LinkConfig{Latency: time.Millisecond})
	_, a := w.agent("a", addrA, discovery.Options{NoIPv6: true})
	_, b := w.agent("b", addrB, discovery.Options{NoIPv6: true})
	w.converge(b, "a")
	p := testkit.NewProbe(t, w.system)
	p.Send(b, &discoverymsg.Subscribe{})
	testkit.Expect[*discoverymsg.Subscribed](p, 0)
	p.Send(a, &discoverymsg.SetServices{Services: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:9000")}})
	testkit.Expect[*discoverymsg.ServicesSet](p, 0)
	seen := testkit.Expect[*discoverymsg.PeerSeen](p, 30*time.Second)
	if seen.Peer.ID != "a" || !slices.Equal(seen.Peer.Services, []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:9000")}) {
		t.Fatalf("PeerSeen %+v", seen)
	}
	p.Send(a, &discoverymsg.SetServices{Services: make([]netip.AddrPort, 17)})
	if f := testkit.Expect[*messages.CommandFailed](p, 0); f.Err == nil {
		t.Fatal("17 services accepted")
	}
}

// tap is a socket on the discovery group that records beacons and sends
// datagrams to the group.
type tap struct {
	conn transports.PacketConn
	mu   sync.Mutex
	cond *sync.Cond
	got  []transports.Packet
}

func listen(t *testing.T, h *sim.Host) *tap {
	t.Helper()
	c, err := h.ListenPacket(netip.AddrPortFrom(netip.IPv4Unspecified(), discovery.DefaultPort), transports.PacketOptions{ReuseAddr: true})
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{conn: c}
	tp.cond = sync.NewCond(&tp.mu)
	if err := c.JoinGroup(discovery.DefaultGroup4, "eth0"); err != nil {
		t.Fatal(err)
	}
	c.Start(transports.PacketFuncs{Packet: func(p transports.Packet) {
		tp.mu.Lock()
		tp.got = append(tp.got, p)
		tp.mu.Unlock()
		tp.cond.Broadcast()
	}})
	t.Cleanup(func() { c.Close() })
	return tp
}

// next waits for the next beacon from addr after those already taken.
func (tp *tap) next(t *testing.T, from netip.Addr) []byte {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		tp.mu.Lock()
		for len(tp.got) > 0 {
			p := tp.got[0]
			tp.got = tp.got[1:]
			if p.From.Addr() == from {
				tp.mu.Unlock()
				return p.Data
			}
		}
		tp.mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no beacon from %v", from)
	return nil
}

func (tp *tap) send(t *testing.T, data []byte) {
	t.Helper()
	if err := tp.conn.SendTo(data, netip.AddrPortFrom(discovery.DefaultGroup4, discovery.DefaultPort)); err != nil {
		t.Fatal(err)
	}
}
