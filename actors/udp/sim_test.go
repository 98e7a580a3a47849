package udp_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/sim"
)

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	addrC = netip.MustParseAddr("10.0.0.3")
)

func TestUnreachableSendFailsOnTheSimulatedNetwork(t *testing.T) {
	n := sim.New(sim.Config{Seed: 1})
	a := n.AddHost("a", addrA)
	n.AddHost("b", addrB)
	e := newEnv(t, a)
	pid, p, _ := e.socket("sock", netip.AddrPortFrom(addrA, 0), udpmsg.SocketOptions{})
	p.Send(pid, &udpmsg.SendTo{To: netip.MustParseAddrPort("10.9.9.9:9"), Data: []byte("x")})
	expectFailed(t, p, transports.ErrUnreachable)
	p.Send(pid, &udpmsg.SendTo{To: netip.MustParseAddrPort("[2001:db8::1]:9"), Data: []byte("x")})
	expectFailed(t, p, transports.ErrInvalidAddress)
	p.Send(pid, &udpmsg.SendTo{To: netip.AddrPortFrom(addrB, 9), Data: []byte("x"), Ack: 1})
	testkit.Expect[*udpmsg.Sent](p, 0)
}

// With loss and duplication on the link, the socket delivers exactly what
// the network delivered, duplicates included, and counts it.
func TestLossAndDuplicationOnTheSimulatedNetwork(t *testing.T) {
	n := sim.New(sim.Config{Seed: 7, Link: sim.LinkConfig{Latency: time.Millisecond, Loss: 0.2, Duplicate: 0.2}})
	a, b := n.AddHost("a", addrA), n.AddHost("b", addrB)
	ea, eb := newEnv(t, a), newEnv(t, b)
	tx, tp, _ := ea.socket("tx", netip.AddrPortFrom(addrA, 0), udpmsg.SocketOptions{})
	_, rp, to := eb.socket("rx", netip.AddrPortFrom(addrB, 0), udpmsg.SocketOptions{})
	const sent = 100
	for i := range sent {
		tp.Send(tx, &udpmsg.SendTo{To: to, Data: []byte{byte(i)}, Ack: i})
		testkit.Expect[*udpmsg.Sent](tp, 0)
	}
	count := func(kind string) int {
		c := 0
		for _, ev := range n.Trace() {
			if ev.Kind == kind && ev.Proto == "udp" {
				c++
			}
		}
		return c
	}
	// Everything sent has been delivered or dropped once the last
	// delivery is traced; wait for the handler to have it all.
	testkit.Eventually(t, 0, func() bool { return count("deliver")+count("drop-loss") >= sent }, "network settles")
	time.Sleep(20 * time.Millisecond) // a duplicate trails its original by the jitter-free latency
	delivered := count("deliver")
	got := rp.CollectUntil(0, func(ms []any) bool { return len(ms) == delivered })
	if count("drop-loss") == 0 || count("duplicate") == 0 {
		t.Fatalf("seed gave no loss or no duplicates: %d lost, %d duplicated", count("drop-loss"), count("duplicate"))
	}
	seen := map[byte]int{}
	for _, m := range got {
		seen[m.(*udpmsg.Datagram).Data[0]]++
	}
	if len(seen) != sent-count("drop-loss") {
		t.Fatalf("%d distinct datagrams, want %d sent - %d lost", len(seen), sent, count("drop-loss"))
	}
	if n := eb.counter("rx", "datagrams-in"); n != int64(delivered) {
		t.Fatalf("datagrams-in = %d, want %d", n, delivered)
	}
	rp.ExpectNoMessage(50 * time.Millisecond)
}

// mcastHost runs a multicast actor on host h whose events go to a probe.
func mcastHost(t *testing.T, h *sim.Host, opts udp.MulticastOptions) (*env, *actor.PID, *testkit.Probe) {
	t.Helper()
	e := newEnv(t, h)
	p := testkit.NewProbe(t, e.system)
	opts.Network, opts.Handler = h, p.PID
	if opts.Settle == 0 {
		opts.Settle = 20 * time.Millisecond
	}
	pid := e.spawn(udp.MulticastProps(opts), "mcast", udp.MulticastKind)
	return e, pid, p
}

func expectJoined(t *testing.T, p *testkit.Probe, group netip.Addr, ifname string) {
	t.Helper()
	testkit.FishFor(p, 0, func(j *udpmsg.GroupJoined) bool { return j.Group == group && j.Interface == ifname })
}

func expectData(t *testing.T, p *testkit.Probe, want string) *udpmsg.Datagram {
	t.Helper()
	return testkit.FishFor(p, 0, func(d *udpmsg.Datagram) bool { return string(d.Data) == want })
}

func TestMulticastOnTheSimulatedNetwork(t *testing.T) {
	n := sim.New(sim.Config{Seed: 3, Link: sim.LinkConfig{Latency: time.Millisecond}})
	hosts := []*sim.Host{n.AddHost("a", addrA), n.AddHost("b", addrB), n.AddHost("c", addrC)}
	group := netip.MustParseAddr("239.1.2.3")
	var pids []*actor.PID
	var probes []*testkit.Probe
	for _, h := range hosts {
		_, pid, p := mcastHost(t, h, udp.MulticastOptions{Group4: group, Port: 5000})
		expectJoined(t, p, group, "eth0")
		pids, probes = append(pids, pid), append(probes, p)
	}
	probes[0].Send(pids[0], &udpmsg.SendToGroup{Data: []byte("hello group"), Ack: "x"})
	testkit.FishFor[*udpmsg.Sent](probes[0], 0, nil)
	for i, p := range probes {
		d := expectData(t, p, "hello group")
		if d.From.Addr() != addrA || d.To != group {
			t.Fatalf("host %d got %+v", i, d)
		}
	}
	probes[1].Send(pids[1], &udpmsg.GetMemberships{})
	m := testkit.FishFor[*udpmsg.Memberships](probes[1], 0, nil)
	if m.Port != 5000 || !slices.Equal(m.Joined, []udpmsg.Membership{{Group: group, Interface: "eth0"}}) {
		t.Fatalf("Memberships %+v", m)
	}
}

// An interface that comes up is joined, and one that goes is left, without
// restarting the actor.
func TestMulticastFollowsInterfacesOnTheSimulatedNetwork(t *testing.T) {
	n := sim.New(sim.Config{Seed: 3})
	a, b := n.AddHost("a", addrA), n.AddHost("b", addrB)
	group := netip.MustParseAddr("239.1.2.3")
	eb, pid, p := mcastHost(t, b, udp.MulticastOptions{Group4: group, Port: 5000})
	expectJoined(t, p, group, "eth0")
	wlan := transports.Interface{Name: "wlan0", Flags: transports.FlagUp | transports.FlagMulticast,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("192.168.7.2/24")}}
	if err := b.AddInterface(wlan); err != nil {
		t.Fatal(err)
	}
	expectJoined(t, p, group, "wlan0")
	_, apid, ap := mcastHost(t, a, udp.MulticastOptions{Group4: group, Port: 5000})
	expectJoined(t, ap, group, "eth0")
	ap.Send(apid, &udpmsg.SendToGroup{Data: []byte("after join")})
	expectData(t, p, "after join")

	if err := b.RemovePrefix("wlan0", wlan.Prefixes[0]); err != nil {
		t.Fatal(err)
	}
	testkit.FishFor(p, 0, func(l *udpmsg.GroupLeft) bool { return l.Interface == "wlan0" })
	if err := b.RemoveInterface("eth0"); err != nil {
		t.Fatal(err)
	}
	testkit.FishFor(p, 0, func(l *udpmsg.GroupLeft) bool { return l.Interface == "eth0" })
	p.Send(pid, &udpmsg.SendToGroup{Data: []byte("nowhere")})
	expectFailed(t, p, udpmsg.ErrNoMembership)
	if got := eb.counter("mcast", "memberships"); got != 0 {
		t.Fatalf("memberships gauge = %d", got)
	}
	if eb.registry.Lookup("mcast").Info().Restarts != 0 {
		t.Fatal("the actor restarted")
	}
}

func TestTwoGroupsOnOnePortOnTheSimulatedNetwork(t *testing.T) {
	n := sim.New(sim.Config{Seed: 3})
	a, b := n.AddHost("a", addrA), n.AddHost("b", addrB)
	gx, gy := netip.MustParseAddr("239.1.1.1"), netip.MustParseAddr("239.1.1.2")
	_, _, px := mcastHost(t, b, udp.MulticastOptions{Group4: gx, Port: 6000})
	expectJoined(t, px, gx, "eth0")
	ey := newEnv(t, b)
	py := testkit.NewProbe(t, ey.system)
	ey.spawn(udp.MulticastProps(udp.MulticastOptions{Network: b, Group4: gy, Port: 6000, Handler: py.PID, Settle: 20 * time.Millisecond}), "mcast", udp.MulticastKind)
	expectJoined(t, py, gy, "eth0")
	_, spid, sp := mcastHost(t, a, udp.MulticastOptions{Group4: gx, Port: 6000})
	expectJoined(t, sp, gx, "eth0")
	for i := range 3 {
		sp.Send(spid, &udpmsg.SendToGroup{Data: []byte(fmt.Sprint("x", i))})
	}
	for i := range 3 {
		expectData(t, px, fmt.Sprint("x", i))
	}
	py.ExpectNoMessage(100 * time.Millisecond)
}

func TestBroadcastNeedsTheOption(t *testing.T) {
	n := sim.New(sim.Config{Seed: 4})
	a, b := n.AddHost("a", addrA), n.AddHost("b", addrB)
	ea, eb := newEnv(t, a), newEnv(t, b)
	_, rp, to := eb.socket("rx", netip.AddrPortFrom(netip.IPv4Unspecified(), 0), udpmsg.SocketOptions{})
	bcast := netip.AddrPortFrom(netip.AddrFrom4([4]byte{255, 255, 255, 255}), to.Port())
	plain, pp, _ := ea.socket("plain", netip.AddrPortFrom(addrA, 0), udpmsg.SocketOptions{})
	pp.Send(plain, &udpmsg.SendTo{To: bcast, Data: []byte("refused")})
	expectFailed(t, pp, transports.ErrInvalidAddress)
	tx, tp, _ := ea.socket("tx", netip.AddrPortFrom(addrA, 0), udpmsg.SocketOptions{Broadcast: true})
	tp.Send(tx, &udpmsg.SendTo{To: bcast, Data: []byte("to everyone")})
	if d := expectData(t, rp, "to everyone"); d.From.Addr() != addrA {
		t.Fatalf("broadcast from %v", d.From)
	}
}
