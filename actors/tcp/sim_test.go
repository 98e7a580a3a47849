package tcp_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/sim"
)

var (
	simClient4 = netip.MustParseAddr("10.0.0.1")
	simServer4 = netip.MustParseAddr("10.0.0.2")
	simClient6 = netip.MustParseAddr("fd00::1")
	simServer6 = netip.MustParseAddr("fd00::2")
)

func TestEchoTLSAndRefusalOnTheSimulatedNetwork(t *testing.T) {
	n := sim.New(sim.Config{Seed: 1, Link: sim.LinkConfig{Latency: time.Millisecond, Jitter: time.Millisecond, Loss: 0.05}})
	c := n.AddHost("client", simClient4)
	s := n.AddHost("server", simServer4)
	e := newEnv(t, c)
	_, addr := e.listen("echo", netip.AddrPortFrom(simServer4, 7), tcp.ListenerOptions{Network: s, Handler: tcp.EchoHandlerProps})
	conn, p, got := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	if got.Local.Addr() != simClient4 {
		t.Fatalf("connected from %v", got.Local)
	}
	echoRoundTrip(t, p, conn, bytes.Repeat([]byte("simulated "), 20000))
	p.Send(conn, &tcpmsg.Close{})
	expectClosed(t, p, messages.ClosedByUs)

	_, p2 := e.dialAsync("", tcp.Options{}, &tcpmsg.Connect{Remote: netip.AddrPortFrom(simServer4, 8)})
	expectFailed(t, p2, transports.ErrRefused)

	cert, err := certs.SelfSigned(certs.Options{Hosts: []string{"server.sim"}})
	if err != nil {
		t.Fatal(err)
	}
	_, taddr := e.listen("tls", netip.AddrPortFrom(simServer4, 443), tcp.ListenerOptions{Network: s, Handler: tcp.EchoHandlerProps,
		TLS: &tcp.ServerTLS{Config: &tls.Config{Certificates: []tls.Certificate{cert}}}})
	tconn, tp, tc := e.dial("t", tcp.Options{Resolver: staticResolver{"server.sim": {simServer4}}}, &tcpmsg.Connect{Host: "server.sim:443",
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Config: &tls.Config{RootCAs: rootsOf(t, cert)}}}})
	if tc.TLS == nil || tc.Remote != taddr {
		t.Fatalf("connected %+v", tc)
	}
	echoRoundTrip(t, tp, tconn, []byte("tls on the simulation"))
}

func TestConnectTimeoutThroughAPartition(t *testing.T) {
	n := sim.New(sim.Config{Seed: 2, Link: sim.LinkConfig{Latency: time.Millisecond}})
	c := n.AddHost("client", simClient4)
	s := n.AddHost("server", simServer4)
	e := newEnv(t, c)
	_, addr := e.listen("echo", netip.AddrPortFrom(simServer4, 7), tcp.ListenerOptions{Network: s, Handler: tcp.EchoHandlerProps})
	n.Partition(c, s)
	_, p := e.dialAsync("", tcp.Options{}, &tcpmsg.Connect{Remote: addr, Options: tcpmsg.ConnectOptions{Timeout: 100 * time.Millisecond}})
	expectFailed(t, p, transports.ErrTimeout)
}

// A name with an IPv6 address that does not answer and an IPv4 one that
// does: the IPv4 attempt starts after the fallback delay, long before the
// IPv6 attempt would time out.
func TestHappyEyeballsFallsBackQuickly(t *testing.T) {
	n := sim.New(sim.Config{Seed: 3, Link: sim.LinkConfig{Latency: time.Millisecond}})
	c := n.AddHost("client", simClient4, simClient6)
	s6 := n.AddHost("server6", simServer6)
	s4 := n.AddHost("server4", simServer4)
	e := newEnv(t, c)
	e.listen("l6", netip.AddrPortFrom(simServer6, 80), tcp.ListenerOptions{Network: s6, Handler: tcp.EchoHandlerProps})
	e.listen("l4", netip.AddrPortFrom(simServer4, 80), tcp.ListenerOptions{Network: s4, Handler: tcp.EchoHandlerProps})
	opts := tcp.Options{Resolver: staticResolver{"dual.sim": {simServer4, simServer6}}}
	// Both answer: IPv6 is preferred.
	_, _, got := e.dial("", opts, &tcpmsg.Connect{Host: "dual.sim:80"})
	if got.Remote.Addr() != simServer6 {
		t.Fatalf("connected to %v, want IPv6 first", got.Remote)
	}
	// IPv6 is black-holed: IPv4 wins after the fallback delay.
	n.Partition(c, s6)
	start := time.Now()
	conn, p, got := e.dial("", opts, &tcpmsg.Connect{Host: "dual.sim:80"})
	if got.Remote.Addr() != simServer4 {
		t.Fatalf("connected to %v, want IPv4", got.Remote)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("fallback took %v: that is the IPv6 timeout, not Happy Eyeballs", took)
	}
	echoRoundTrip(t, p, conn, []byte("v4"))
}

func TestHappyEyeballsOverLoopback(t *testing.T) {
	e := newEnv(t, nil)
	both := staticResolver{"*": {lo6, lo4}}
	for _, only := range []netip.Addr{lo4, lo6} {
		_, addr := e.listen("", netip.AddrPortFrom(only, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
		conn, p, got := e.dial("", tcp.Options{Resolver: both}, &tcpmsg.Connect{Host: "dual.test:" + itoa(addr.Port())})
		if got.Remote != addr {
			t.Fatalf("connected to %v, want %v", got.Remote, addr)
		}
		echoRoundTrip(t, p, conn, []byte("dual"))
	}
	_, p := e.dialAsync("", tcp.Options{Resolver: staticResolver{}}, &tcpmsg.Connect{Host: "nowhere.test:1"})
	expectFailed(t, p, tcpmsg.ErrResolve)
}

// A partition cuts a transfer: the kept-connected client's connection
// times out, it keeps trying while the partition lasts, and once healed it
// connects again and works.
func TestPartitionMidTransferAndReconnectionAfterHeal(t *testing.T) {
	n := sim.New(sim.Config{Seed: 4, Link: sim.LinkConfig{Latency: time.Millisecond},
		PartitionTimeout: 200 * time.Millisecond, ConnectTimeout: 100 * time.Millisecond})
	c := n.AddHost("client", simClient4)
	s := n.AddHost("server", simServer4)
	e := newEnv(t, c)
	_, addr := e.listen("echo", netip.AddrPortFrom(simServer4, 7), tcp.ListenerOptions{Network: s, Handler: tcp.EchoHandlerProps})
	h := testkit.NewProbe(t, e.system)
	e.supervise("sup", tcp.ClientSpec("link", tcp.Options{Network: c, Connect: &tcpmsg.Connect{Remote: addr, Handler: h.PID}},
		&tcp.Reconnect{MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}))
	first := testkit.FishFor[*tcpmsg.Connected](h, 0, nil)
	echoRoundTrip(t, h, first.Conn, []byte("before"))
	// Small enough to stay within the simulated flow-control window (64 KiB)
	// both ways: bytes held by the partition are in flight, which is what
	// the partition timeout applies to. (With more, the sender can be left
	// waiting for window, not in flight, and the simulated network only
	// times out bytes in flight: it has no zero-window probe.)
	chunk := bytes.Repeat([]byte("t"), 1<<10)
	for range 16 {
		h.Send(first.Conn, &tcpmsg.Write{Data: bytes.Clone(chunk)})
	}
	n.Partition(c, s)
	for range 4 { // bytes the partition holds, whatever was delivered before
		h.Send(first.Conn, &tcpmsg.Write{Data: bytes.Clone(chunk)})
	}
	closed := testkit.FishFor[*messages.Closed](h, 10*time.Second, nil)
	if closed.Reason != messages.ErrorClosed || !errors.Is(closed.Err, transports.ErrTimeout) {
		t.Fatalf("closed %v %v, want a timeout", closed.Reason, closed.Err)
	}
	// Attempts fail while the partition lasts.
	for range 2 {
		testkit.FishFor[*tcpmsg.Reconnecting](h, 5*time.Second, nil)
	}
	n.Heal(c, s)
	again := testkit.FishFor[*tcpmsg.Connected](h, 10*time.Second, nil)
	echoRoundTrip(t, h, again.Conn, []byte("after the heal"))
}
