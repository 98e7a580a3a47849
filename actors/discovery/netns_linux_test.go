package discovery_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/discovery"
	"github.com/microstack-go/microstack/actors/netif/netiftest"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Three agents, each in a namespace of its own, on one bridge (in a fourth
// namespace): a and b share a key, c has another. a and b find each other
// over the real kernel's multicast, nobody accepts c, and when b dies a
// loses it.
func TestDiscoveryAcrossNamespaces(t *testing.T) {
	netiftest.Require(t)
	hub := netiftest.NewNamespace(t, "dhub")
	hub.IP(t, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	hub.IP(t, "link", "set", "br0", "up")
	agents := map[string]*netiftest.Child{}
	for i, id := range []string{"a", "b", "c"} {
		ns := netiftest.NewNamespace(t, "d"+id)
		port := netiftest.Name("v" + id)
		netiftest.Veth(t, ns, "eth1", hub, port)
		hub.IP(t, "link", "set", port, "master", "br0", "up")
		ns.IP(t, "addr", "add", fmt.Sprintf("10.79.0.%d/24", i+1), "dev", "eth1")
		ns.IP(t, "addr", "add", fmt.Sprintf("fd79::%d/64", i+1), "dev", "eth1")
		ns.IP(t, "link", "set", "eth1", "up")
		key := "shared"
		if id == "c" {
			key = "stranger"
		}
		agents[id] = ns.Start(t, "TestNetnsRole", "agent", "AGENT_ID="+id, "AGENT_KEY="+key)
	}
	a, b, c := agents["a"], agents["b"], agents["c"]
	a.Expect("seen b 10.79.0.2:", time.Minute)
	b.Expect("seen a ", time.Minute)
	// c's beacons reach a and b, which refuse them.
	a.Expect("rejected", time.Minute)
	b.Expect("rejected", time.Minute)
	c.Expect("rejected", time.Minute)

	b.Kill() // a crash: no goodbye
	b.Killed()
	a.Expect("lost b", time.Minute)

	a.Stop(time.Minute)
	c.Stop(time.Minute)
	for id, ch := range map[string]*netiftest.Child{"a": a, "c": c} {
		if i := slices.IndexFunc(ch.Events(), func(e string) bool {
			return strings.HasPrefix(e, "seen c") || id == "c" && strings.HasPrefix(e, "seen")
		}); i >= 0 {
			t.Fatalf("%s: %s", id, ch.Events()[i])
		}
	}
}

// TestNetnsRole is what the namespace tests run inside their namespace.
func TestNetnsRole(t *testing.T) {
	switch netiftest.Role() {
	case "":
		t.Skip("runs inside a namespace, started by a namespace test")
	case "agent":
		agentRole(t)
	default:
		t.Fatalf("unknown role %q", netiftest.Role())
	}
}

// agentRole runs discovery on eth1 and prints what it sees until its
// standard input closes.
func agentRole(t *testing.T) {
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	t.Cleanup(system.Shutdown)
	printer := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *discoverymsg.PeerSeen:
			netiftest.Event("seen %s %v %v", m.Peer.ID, m.Peer.Addr, m.Peer.Services)
		case *discoverymsg.PeerLost:
			netiftest.Event("lost %s", m.ID)
		}
	}))
	spec := discovery.ChildSpec("discovery", []string{"eth1"}, discovery.Options{
		Network:     osnet.New(osnet.Options{PollInterval: 100 * time.Millisecond}),
		ID:          os.Getenv("AGENT_ID"),
		Key:         []byte(os.Getenv("AGENT_KEY")),
		Services:    []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:8000")},
		Period:      200 * time.Millisecond,
		Subscribers: []*actor.PID{printer},
		Settle:      100 * time.Millisecond,
	})
	pid, err := inspect.Spawn(system.Root, spec.Props(), spec.Name, spec.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := netiftest.StdinClosed()
	rejected := false
	for {
		select {
		case <-done:
			_ = system.Root.StopFuture(pid).Wait()
			_ = system.Root.StopFuture(printer).Wait()
			return
		case <-time.After(50 * time.Millisecond):
		}
		if !rejected && reg.Lookup("discovery").Counter("beacons-rejected") > 0 {
			rejected = true
			netiftest.Event("rejected")
		}
	}
}
