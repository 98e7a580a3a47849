package udp_test

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

type env struct {
	t        *testing.T
	system   *actor.ActorSystem
	registry *inspect.Registry
	net      transports.Network
}

func newEnv(t *testing.T, n transports.Network) *env {
	t.Helper()
	system, reg := testkit.NewInspectedSystem(t)
	if n == nil {
		n = osnet.New(osnet.Options{})
	}
	return &env{t: t, system: system, registry: reg, net: n}
}

func (e *env) spawn(props *actor.Props, name, kind string) *actor.PID {
	e.t.Helper()
	return testkit.Spawn(e.t, e.system, props, name, kind)
}

// socket spawns a socket actor bound to local whose datagrams go to a new
// probe.
func (e *env) socket(name string, local netip.AddrPort, o udpmsg.SocketOptions) (*actor.PID, *testkit.Probe, netip.AddrPort) {
	e.t.Helper()
	pid := e.spawn(udp.Props(udp.Options{Network: e.net}), name, udp.Kind)
	p := testkit.NewProbe(e.t, e.system)
	p.Send(pid, &udpmsg.Bind{Local: local, Options: o})
	return pid, p, testkit.Expect[*udpmsg.Bound](p, 0).Local
}

func (e *env) counter(path, name string) int64 { return e.registry.Lookup(path).Counter(name) }

var loopbacks = []struct {
	name string
	addr netip.Addr
}{
	{"ipv4", netip.MustParseAddr("127.0.0.1")},
	{"ipv6", netip.IPv6Loopback()},
}

func TestEchoServiceOverLoopback(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			e := newEnv(t, nil)
			echo := e.spawn(udp.EchoProps(netip.AddrPortFrom(lb.addr, 0), e.net), "echo", udp.EchoKind)
			p := testkit.NewProbe(t, e.system)
			p.Send(echo, &udpmsg.GetLocalAddress{})
			msg, _ := p.Next(0)
			if f, ok := msg.Message.(*messages.CommandFailed); ok {
				if lb.addr.Is6() {
					t.Skipf("no IPv6 loopback: %v", f.Err)
				}
				t.Fatal(f)
			}
			server := msg.Message.(*udpmsg.LocalAddress).Addr
			if server.Addr() != lb.addr || server.Port() == 0 {
				t.Fatalf("echo bound %v", server)
			}
			client, cp, _ := e.socket("client", netip.AddrPortFrom(lb.addr, 0), udpmsg.SocketOptions{})
			for _, text := range []string{"hello", "world"} {
				cp.Send(client, &udpmsg.SendTo{To: server, Data: []byte(text), Ack: text})
				if ack := testkit.Expect[*udpmsg.Sent](cp, 0); ack.Ack != text {
					t.Fatalf("Sent %+v, want ack %q", ack, text)
				}
				d := testkit.Expect[*udpmsg.Datagram](cp, 0)
				if string(d.Data) != text || d.From != server || d.Truncated {
					t.Fatalf("Datagram %+v, want %q from %v", d, text, server)
				}
			}
			if n := e.counter("client", "datagrams-in"); n != 2 {
				t.Errorf("client datagrams-in = %d, want 2", n)
			}
			// The echo counts a send once it returns, after the client may
			// have the datagram.
			testkit.Eventually(t, 0, func() bool { return e.counter("echo/socket", "datagrams-out") == 2 }, "echo datagrams-out = 2")
		})
	}
}

func TestBadCommandsFailAndTheSocketStaysOpen(t *testing.T) {
	e := newEnv(t, nil)
	pid := e.spawn(udp.Props(udp.Options{Network: e.net}), "sock", udp.Kind)
	p := testkit.NewProbe(t, e.system)

	p.Send(pid, &udpmsg.SendTo{To: netip.MustParseAddrPort("127.0.0.1:9"), Data: []byte("x")})
	expectFailed(t, p, udpmsg.ErrNotBound)
	p.Send(pid, &udpmsg.Unbind{})
	expectFailed(t, p, udpmsg.ErrNotBound)
	p.Send(pid, &udpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")})
	local := testkit.Expect[*udpmsg.Bound](p, 0).Local
	p.Send(pid, &udpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")})
	expectFailed(t, p, udpmsg.ErrAlreadyBound)

	for _, bad := range []struct {
		name string
		to   netip.AddrPort
		want error
	}{
		{"port zero", netip.MustParseAddrPort("127.0.0.1:0"), transports.ErrInvalidAddress},
		{"zero address", netip.AddrPort{}, transports.ErrInvalidAddress},
		{"unspecified", netip.MustParseAddrPort("0.0.0.0:9"), transports.ErrInvalidAddress},
		{"IPv6 on an IPv4 socket", netip.MustParseAddrPort("[::1]:9"), transports.ErrInvalidAddress},
		{"broadcast not enabled", netip.MustParseAddrPort("255.255.255.255:9"), transports.ErrInvalidAddress},
	} {
		p.Send(pid, &udpmsg.SendTo{To: bad.to, Data: []byte("x")})
		f := expectFailed(t, p, bad.want)
		if cmd, ok := f.Cmd.(*udpmsg.SendTo); !ok || cmd.To != bad.to {
			t.Errorf("%s: CommandFailed.Cmd = %+v", bad.name, f.Cmd)
		}
	}
	p.Send(pid, &udpmsg.JoinGroup{Group: netip.MustParseAddr("10.0.0.1")})
	expectFailed(t, p, transports.ErrInvalidAddress)
	p.Send(pid, "what")
	expectFailed(t, p, messages.ErrUnknownCommand)

	// Still open: a datagram to itself comes back.
	p.Send(pid, &udpmsg.SendTo{To: local, Data: []byte("still here")})
	if d := testkit.Expect[*udpmsg.Datagram](p, 0); string(d.Data) != "still here" {
		t.Fatalf("Datagram %q", d.Data)
	}
	if n := e.counter("sock", "send-failed"); n != 5 {
		t.Errorf("send-failed = %d, want 5", n)
	}
	p.Send(pid, &udpmsg.Unbind{})
	testkit.Expect[*udpmsg.Unbound](p, 0)
	p.Send(pid, &udpmsg.GetLocalAddress{})
	expectFailed(t, p, udpmsg.ErrNotBound)
	// Bound again after Unbind.
	p.Send(pid, &udpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")})
	testkit.Expect[*udpmsg.Bound](p, 0)
}

func expectFailed(t *testing.T, p *testkit.Probe, want error) *messages.CommandFailed {
	t.Helper()
	f := testkit.Expect[*messages.CommandFailed](p, 0)
	if !errors.Is(f, want) {
		t.Fatalf("CommandFailed %v, want %v", f, want)
	}
	return f
}

func TestOversizedDatagramIsReportedTruncated(t *testing.T) {
	e := newEnv(t, nil)
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	rx, rp, to := e.socket("rx", lo, udpmsg.SocketOptions{MaxDatagram: 100})
	tx, tp, _ := e.socket("tx", lo, udpmsg.SocketOptions{})
	_ = rx
	big := bytes.Repeat([]byte("x"), 300)
	tp.Send(tx, &udpmsg.SendTo{To: to, Data: big})
	tp.Send(tx, &udpmsg.SendTo{To: to, Data: big[:100]})
	d := testkit.Expect[*udpmsg.Datagram](rp, 0)
	if !d.Truncated || len(d.Data) != 100 {
		t.Fatalf("oversized datagram: %d bytes, truncated %v; want 100, true", len(d.Data), d.Truncated)
	}
	if d := testkit.Expect[*udpmsg.Datagram](rp, 0); d.Truncated || len(d.Data) != 100 {
		t.Fatalf("exact-size datagram: %d bytes, truncated %v", len(d.Data), d.Truncated)
	}
	if n := e.counter("rx", "truncated"); n != 1 {
		t.Fatalf("truncated counter = %d, want 1", n)
	}
}

func TestSuspendedReadingHoldsDatagramsUntilResumed(t *testing.T) {
	e := newEnv(t, nil)
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	rx, rp, to := e.socket("rx", lo, udpmsg.SocketOptions{})
	tx, tp, _ := e.socket("tx", lo, udpmsg.SocketOptions{})
	rp.Send(rx, &messages.SuspendReading{})
	for i := range 5 {
		tp.Send(tx, &udpmsg.SendTo{To: to, Data: []byte{byte(i)}, Ack: i})
		testkit.Expect[*udpmsg.Sent](tp, 0)
	}
	rp.ExpectNoMessage(200 * time.Millisecond)

	// Two credits: two datagrams, then Passive and nothing more.
	rp.Send(rx, &messages.ResumeReading{Credits: 2})
	for i := range 2 {
		if d := testkit.Expect[*udpmsg.Datagram](rp, 0); d.Data[0] != byte(i) {
			t.Fatalf("datagram %d carries %d", i, d.Data[0])
		}
	}
	testkit.Expect[*messages.Passive](rp, 0)
	rp.ExpectNoMessage(200 * time.Millisecond)

	// Unlimited: the rest, in order.
	rp.Send(rx, &messages.ResumeReading{})
	for i := 2; i < 5; i++ {
		if d := testkit.Expect[*udpmsg.Datagram](rp, 0); d.Data[0] != byte(i) {
			t.Fatalf("datagram %d carries %d", i, d.Data[0])
		}
	}
	rp.ExpectNoMessage(100 * time.Millisecond)
}

func TestRegisterHandsTheDatagramsToAnotherActor(t *testing.T) {
	e := newEnv(t, nil)
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	rx, rp, to := e.socket("rx", lo, udpmsg.SocketOptions{})
	other := testkit.NewProbe(t, e.system)
	rp.Send(rx, &messages.Register{Handler: other.PID})
	tx, tp, _ := e.socket("tx", lo, udpmsg.SocketOptions{})
	tp.Send(tx, &udpmsg.SendTo{To: to, Data: []byte("to the other")})
	if d := testkit.Expect[*udpmsg.Datagram](other, 0); string(d.Data) != "to the other" {
		t.Fatalf("Datagram %q", d.Data)
	}
	rp.ExpectNoMessage(100 * time.Millisecond)
}
