package reliability

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/process"
	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
)

var lo = netip.MustParseAddr("127.0.0.1")

// report logs a leak measure and fails past the tolerance.
func report(t *testing.T, what string, n int, base, after usage) {
	t.Helper()
	t.Logf("%d %s: goroutines %d -> %d, fds %d -> %d, RSS %d -> %d KiB", n, what,
		base.goroutines, after.goroutines, base.fds, after.fds, base.rssKiB, after.rssKiB)
	if after.goroutines > base.goroutines+5 || after.fds > base.fds+5 {
		t.Errorf("%s left goroutines or descriptors behind", what)
	}
	if after.rssKiB > base.rssKiB+rssBoundKiB() {
		t.Errorf("%s grew RSS by %d KiB", what, after.rssKiB-base.rssKiB)
	}
}

// Connection actors connected, echoed and closed, one after another:
// goroutines, descriptors and memory come back to where they were.
func TestConnectionCyclesReturnToBaseline(t *testing.T) {
	n := 1000
	if long() {
		n = 10000
	}
	system := testkit.NewSystem(t)
	l := system.Root.Spawn(tcp.ListenerProps(tcp.ListenerOptions{Handler: tcp.EchoHandlerProps}))
	t.Cleanup(func() { _ = system.Root.StopFuture(l).Wait() })
	p := testkit.NewProbe(t, system)
	p.Send(l, &tcpmsg.Bind{Local: netip.AddrPortFrom(lo, 0)})
	addr := testkit.Expect[*tcpmsg.Bound](p, 0).Local
	time.Sleep(100 * time.Millisecond)
	base := measure(t)
	for i := range n {
		c := system.Root.Spawn(tcp.ConnectionProps(tcp.Options{}))
		p.Send(c, &tcpmsg.Connect{Remote: addr})
		testkit.Expect[*tcpmsg.Connected](p, 0)
		p.Send(c, &tcpmsg.Write{Data: []byte("x")})
		testkit.FishFor[*tcpmsg.Received](p, 0, nil)
		p.Send(c, &tcpmsg.Close{})
		testkit.FishFor[*messages.Closed](p, 0, nil)
		_ = i
	}
	report(t, "connection cycles", n, base, settle(t, base, 2))
}

// Process actors spawned, run to their end and stopped.
func TestProcessSpawnsReturnToBaseline(t *testing.T) {
	n := 200
	if long() {
		n = 1000
	}
	system := testkit.NewSystem(t)
	p := testkit.NewProbe(t, system)
	run := func() {
		pid := system.Root.Spawn(process.Props(process.Options{}))
		p.Send(pid, &procmsg.Spawn{Path: "/bin/echo", Args: []string{"hi"}})
		testkit.FishFor[*procmsg.Exited](p, 10*time.Second, nil)
		_ = system.Root.StopFuture(pid).Wait()
	}
	run()
	time.Sleep(100 * time.Millisecond)
	base := measure(t)
	for range n {
		run()
	}
	report(t, "process spawns", n, base, settle(t, base, 2))
}

// A TCP peer that never reads: the echo connection's queue stops at its
// high-water mark, the echo suspends reading, and memory stays bounded
// while another client is served.
func TestPeerThatNeverReadsStaysBounded(t *testing.T) {
	system := testkit.NewSystem(t)
	l := system.Root.Spawn(tcp.ListenerProps(tcp.ListenerOptions{Handler: tcp.EchoHandlerProps}))
	t.Cleanup(func() { _ = system.Root.StopFuture(l).Wait() })
	p := testkit.NewProbe(t, system)
	p.Send(l, &tcpmsg.Bind{Local: netip.AddrPortFrom(lo, 0)})
	addr := testkit.Expect[*tcpmsg.Bound](p, 0).Local
	base := measure(t)
	hog := dial(t, addr)
	defer hog.Close()
	chunk := make([]byte, 64<<10)
	written := 0
	_ = hog.SetWriteDeadline(time.Now().Add(3 * time.Second))
	for written < 256<<20 {
		n, err := hog.Write(chunk)
		written += n
		if err != nil {
			break // the kernel buffers are full: the server stopped reading
		}
	}
	after := measure(t)
	good := dial(t, addr)
	defer good.Close()
	if _, err := good.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := good.Read(buf); err != nil || string(buf) != "ping" {
		t.Fatalf("another client: %q %v", buf, err)
	}
	t.Logf("a peer that never reads pushed %d KiB before the server stopped reading; RSS %d -> %d KiB", written>>10, base.rssKiB, after.rssKiB)
	if after.rssKiB-base.rssKiB > rssBoundKiB() {
		t.Fatalf("RSS grew by %d KiB", after.rssKiB-base.rssKiB)
	}
}

// A flood of UDP garbage at a UDP socket actor whose handler never looks
// at it: memory stays bounded.
func TestUDPGarbageFloodStaysBounded(t *testing.T) {
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	sink := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {})) // a handler that never reads
	t.Cleanup(func() { _ = system.Root.StopFuture(sink).Wait() })
	u, err := inspect.Spawn(system.Root, udp.Props(udp.Options{}), "udp", udp.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(u).Wait() })
	p := testkit.NewProbe(t, system)
	p.Send(u, &udpmsg.Bind{Local: netip.AddrPortFrom(lo, 0), Handler: sink})
	local := testkit.Expect[*udpmsg.Bound](p, 0).Local
	base := measure(t)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(local))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	garbage := make([]byte, 1200)
	const n = 200000
	for i := range n {
		garbage[0] = byte(i)
		_, _ = c.Write(garbage)
	}
	time.Sleep(500 * time.Millisecond)
	after := measure(t)
	e := reg.Lookup("udp")
	t.Logf("%d garbage datagrams: %d in, %d dropped; RSS %d -> %d KiB", n, e.Counter("datagrams-in"), e.Counter("dropped"), base.rssKiB, after.rssKiB)
	if after.rssKiB-base.rssKiB > rssBoundKiB() {
		t.Fatalf("RSS grew by %d KiB", after.rssKiB-base.rssKiB)
	}
}
