package netif_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/netif"
	"github.com/microstack-go/microstack/actors/netif/netiftest"
	"github.com/microstack-go/microstack/messages/netifmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/osnet"
)

// The monitor on the real kernel, in a namespace of its own with one test
// interface (an ifb device: this kernel has no dummy links).
func TestMonitorSeesAddressChangesInANamespace(t *testing.T) {
	netiftest.Require(t)
	ns := netiftest.NewNamespace(t, "nif")
	ns.IP(t, "link", "add", "t0", "type", "ifb")
	ns.NoDAD(t, "t0")
	// No link-local address: the test counts every address.
	ns.IP(t, "link", "set", "t0", "addrgenmode", "none")
	ns.IP(t, "link", "set", "t0", "up")
	ns.Start(t, "TestNetnsRole", "monitor").Wait(2 * time.Minute)
}

// TestNetnsRole is what the namespace tests run inside their namespace.
func TestNetnsRole(t *testing.T) {
	switch netiftest.Role() {
	case "":
		t.Skip("runs inside a namespace, started by a namespace test")
	case "monitor":
		monitorRole(t)
	default:
		t.Fatalf("unknown role %q", netiftest.Role())
	}
}

func monitorRole(t *testing.T) {
	system := testkit.NewSystem(t)
	t.Cleanup(system.Shutdown)
	n := osnet.New(osnet.Options{PollInterval: 50 * time.Millisecond})
	pid := system.Root.Spawn(netif.Props(netif.Options{Network: n, Settle: 300 * time.Millisecond}))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	p := testkit.NewProbe(t, system)
	p.Send(pid, &netifmsg.Subscribe{})
	sub := testkit.Expect[*netifmsg.Subscribed](p, 0)
	i := slices.IndexFunc(sub.Current, func(ifc netifmsg.Interface) bool { return ifc.Name == "t0" })
	if i < 0 || !sub.Current[i].Up || len(sub.Current[i].Prefixes) != 0 {
		t.Fatalf("Subscribed = %+v, want t0 up without addresses", sub.Current)
	}

	ipBatch := func(cmds ...string) {
		t.Helper()
		cmd := exec.Command("ip", "-batch", "-")
		cmd.Stdin = strings.NewReader(strings.Join(cmds, "\n") + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ip -batch %q: %v: %s", cmds, err, out)
		}
	}
	expect := func(added, removed []netifmsg.Address) {
		t.Helper()
		ev := testkit.Expect[*netifmsg.InterfacesChanged](p, 10*time.Second)
		if !slices.Equal(ev.Added, added) || !slices.Equal(ev.Removed, removed) {
			t.Fatalf("event Added %v Removed %v, want Added %v Removed %v", ev.Added, ev.Removed, added, removed)
		}
		// Exactly one event: nothing else follows a settled change.
		p.ExpectNoMessage(time.Second)
	}

	ipBatch("addr add 10.88.0.1/24 dev t0")
	expect([]netifmsg.Address{addr("t0", "10.88.0.1/24")}, nil)

	// Another subnet: deleting a subnet's primary address takes its
	// secondaries with it (no promote_secondaries here).
	ipBatch("addr add 10.89.0.2/24 dev t0", "addr add fd88::2/64 dev t0")
	expect([]netifmsg.Address{addr("t0", "10.89.0.2/24"), addr("t0", "fd88::2/64")}, nil)

	ipBatch("addr del 10.88.0.1/24 dev t0")
	expect(nil, []netifmsg.Address{addr("t0", "10.88.0.1/24")})

	// Added and removed again at once: no change to report.
	ipBatch("addr add 10.88.0.3/24 dev t0", "addr del 10.88.0.3/24 dev t0")
	p.ExpectNoMessage(time.Second)

	ipBatch("link set t0 down")
	expect(nil, []netifmsg.Address{addr("t0", "10.89.0.2/24"), addr("t0", "fd88::2/64")})
}
