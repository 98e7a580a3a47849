package udp_test

import (
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/netif/netiftest"
	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

const peerEnv = "MICROSTACK_NETNS_PEER"

// Two namespaces joined by a veth pair: the actors run in b (a child
// process), and the test sends from sockets it opens in a.
func TestMulticastBetweenNamespaces(t *testing.T) {
	netiftest.Require(t)
	a, b := netiftest.NewNamespace(t, "mca"), netiftest.NewNamespace(t, "mcb")
	netiftest.Veth(t, a, "a0", b, "b0")
	a.IP(t, "addr", "add", "10.77.0.1/24", "dev", "a0")
	a.IP(t, "addr", "add", "fd77::1/64", "dev", "a0")
	b.IP(t, "addr", "add", "10.77.0.2/24", "dev", "b0")
	b.IP(t, "addr", "add", "fd77::2/64", "dev", "b0")
	a.IP(t, "link", "set", "a0", "up")
	b.IP(t, "link", "set", "b0", "up")
	b.Start(t, "TestNetnsRole", "multicast", peerEnv+"="+a.Name).Wait(3 * time.Minute)
}

// TestNetnsRole is what the namespace tests run inside their namespace.
func TestNetnsRole(t *testing.T) {
	switch netiftest.Role() {
	case "":
		t.Skip("runs inside a namespace, started by a namespace test")
	case "multicast":
		multicastRole(t)
	default:
		t.Fatalf("unknown role %q", netiftest.Role())
	}
}

const port = 47001

var (
	groupX4, groupX6 = netip.MustParseAddr("239.77.0.1"), netip.MustParseAddr("ff02::77:1")
	groupY4, groupY6 = netip.MustParseAddr("239.77.0.2"), netip.MustParseAddr("ff02::77:2")
)

func multicastRole(t *testing.T) {
	peer := &netiftest.Namespace{Name: os.Getenv(peerEnv)}
	n := osnet.New(osnet.Options{PollInterval: 50 * time.Millisecond})
	e := newEnv(t, n)
	spawn := func(name string, g4, g6 netip.Addr) *testkit.Probe {
		p := testkit.NewProbe(t, e.system)
		e.spawn(udp.MulticastProps(udp.MulticastOptions{Network: n, Group4: g4, Group6: g6, Port: port,
			Handler: p.PID, Settle: 100 * time.Millisecond}), name, udp.MulticastKind)
		return p
	}
	px, py := spawn("x", groupX4, groupX6), spawn("y", groupY4, groupY6)
	for _, c := range []struct {
		p *testkit.Probe
		g netip.Addr
	}{{px, groupX4}, {px, groupX6}, {py, groupY4}, {py, groupY6}} {
		expectJoinedWithin(t, c.p, c.g, "b0")
	}

	// Two groups, one port: each actor gets its own group's datagrams
	// only, over IPv4 and IPv6.
	sendUntil(t, peer, "a0", groupX4, "x4", px)
	sendUntil(t, peer, "a0", groupY4, "y4", py)
	sendUntil(t, peer, "a0", groupX6, "x6", px)
	sendUntil(t, peer, "a0", groupY6, "y6", py)
	onlyOwn(t, px, "x")
	onlyOwn(t, py, "y")

	// A link that appears is joined without a restart: b1, whose other
	// end a1 is the only way to it.
	ip(t, "link", "add", "b1", "type", "veth", "peer", "name", "a1", "netns", peer.Name)
	ip(t, "addr", "add", "10.78.0.2/24", "dev", "b1")
	ip(t, "link", "set", "b1", "up")
	ip(t, "-n", peer.Name, "addr", "add", "10.78.0.1/24", "dev", "a1")
	ip(t, "-n", peer.Name, "link", "set", "a1", "up")
	expectJoinedWithin(t, px, groupX4, "b1")
	expectJoinedWithin(t, px, groupX6, "b1") // on its link-local address
	d := sendUntil(t, peer, "a1", groupX4, "over b1", px)
	if d.From.Addr() != netip.MustParseAddr("10.78.0.1") {
		t.Fatalf("datagram over b1 came from %v", d.From)
	}
	ip(t, "link", "del", "b1")
	testkit.FishFor(px, 10*time.Second, func(l *udpmsg.GroupLeft) bool { return l.Group == groupX4 && l.Interface == "b1" })
	if r := e.registry.Lookup("x").Info().Restarts; r != 0 {
		t.Fatalf("multicast actor restarted %d times", r)
	}

	// Inside the namespace there is no default route: a send off-link is
	// unreachable, and the socket stays open.
	pid, p, local := e.socket("unicast", netip.MustParseAddrPort("10.77.0.2:0"), udpmsg.SocketOptions{})
	p.Send(pid, &udpmsg.SendTo{To: netip.MustParseAddrPort("192.0.2.1:9"), Data: []byte("x")})
	expectFailed(t, p, transports.ErrUnreachable)
	p.Send(pid, &udpmsg.SendTo{To: local, Data: []byte("open")})
	expectData(t, p, "open")
}

func expectJoinedWithin(t *testing.T, p *testkit.Probe, group netip.Addr, ifname string) {
	t.Helper()
	testkit.FishFor(p, 10*time.Second, func(j *udpmsg.GroupJoined) bool { return j.Group == group && j.Interface == ifname })
}

// sendUntil sends text to group from a socket in ns leaving by ifname,
// again every 50 ms (the first can race the kernel's join), until p gets
// it.
func sendUntil(t *testing.T, ns *netiftest.Namespace, ifname string, group netip.Addr, text string, p *testkit.Probe) *udpmsg.Datagram {
	t.Helper()
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if group.Is6() {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	var pc transports.PacketConn
	err := ns.Do(func() (err error) {
		pc, err = osnet.New(osnet.Options{}).ListenPacket(local, transports.PacketOptions{
			Multicast: transports.MulticastOptions{Interface: ifname, NoLoopback: true}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	if err := pc.Start(transports.PacketFuncs{Closed: func(error) { close(closed) }}); err != nil {
		t.Fatal(err)
	}
	defer func() { pc.Close(); <-closed }()
	for range 100 {
		if err := pc.SendTo([]byte(text), netip.AddrPortFrom(group, port)); err != nil {
			t.Fatalf("send to %v on %s: %v", group, ifname, err)
		}
		for {
			env, ok := p.Next(50 * time.Millisecond)
			if !ok {
				break
			}
			if d, ok := env.Message.(*udpmsg.Datagram); ok {
				if string(d.Data) != text {
					t.Fatalf("waiting for %q to %v got %q (to %v)", text, group, d.Data, d.To)
				}
				return d
			}
		}
	}
	t.Fatalf("%q to %v on %s never arrived", text, group, ifname)
	return nil
}

// onlyOwn drains p and fails on a datagram not meant for its group.
func onlyOwn(t *testing.T, p *testkit.Probe, prefix string) {
	t.Helper()
	for {
		env, ok := p.Next(300 * time.Millisecond)
		if !ok {
			return
		}
		if d, ok := env.Message.(*udpmsg.Datagram); ok && !strings.HasPrefix(string(d.Data), prefix) {
			t.Fatalf("actor of group %s received %q sent to %v", prefix, d.Data, d.To)
		}
	}
}

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
