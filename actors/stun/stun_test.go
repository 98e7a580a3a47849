package stun_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pionstun "github.com/pion/stun/v2"

	"github.com/microstack-go/microstack/actors/stun"
	"github.com/microstack-go/microstack/actors/stun/stuntest"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/stunmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

var loopback = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)

type env struct {
	t        *testing.T
	system   *actor.ActorSystem
	registry *inspect.Registry
	net      transports.Network
}

func newEnv(t *testing.T) *env {
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	t.Cleanup(system.Shutdown)
	return &env{t: t, system: system, registry: reg, net: osnet.New(osnet.Options{})}
}

func (e *env) spawn(props *actor.Props, name, kind string) *actor.PID {
	e.t.Helper()
	pid, err := inspect.Spawn(e.system.Root, props, name, kind, nil)
	if err != nil {
		e.t.Fatalf("spawn %s: %v", name, err)
	}
	e.t.Cleanup(func() { _ = e.system.Root.StopFuture(pid).Wait() })
	return pid
}

func (e *env) server(name string) (*actor.PID, netip.AddrPort) {
	e.t.Helper()
	pid := e.spawn(stun.ServerProps(stun.ServerOptions{Network: e.net, Local: loopback, Software: "microstack-test"}), name, stun.ServerKind)
	return pid, e.localAddr(pid)
}

func (e *env) client(name string, opts stun.Options) (*actor.PID, netip.AddrPort) {
	e.t.Helper()
	if opts.Network == nil {
		opts.Network = e.net
	}
	if !opts.Local.IsValid() {
		opts.Local = loopback
	}
	pid := e.spawn(stun.Props(opts), name, stun.Kind)
	return pid, e.localAddr(pid)
}

func (e *env) localAddr(pid *actor.PID) netip.AddrPort {
	e.t.Helper()
	probe := testkit.NewProbe(e.t, e.system)
	probe.Send(pid, &stunmsg.GetLocalAddress{})
	return testkit.Expect[*stunmsg.LocalAddress](probe, 0).Addr
}

// rawSocket opens a plain UDP socket whose datagrams go to a channel.
func (e *env) rawSocket() (transports.PacketConn, chan transports.Packet) {
	e.t.Helper()
	conn, err := e.net.ListenPacket(loopback, transports.PacketOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	in := make(chan transports.Packet, 64)
	if err := conn.Start(transports.PacketFuncs{Packet: func(p transports.Packet) {
		select {
		case in <- p:
		default:
		}
	}}); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	return conn, in
}

func TestClientLearnsItsAddressFromTheServerActor(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server("stun-server")
	client, local := e.client("stun-client", stun.Options{})
	probe := testkit.NewProbe(t, e.system)
	probe.Send(client, &stunmsg.Bind{Server: "stun:" + srv.String()})
	got := testkit.Expect[*stunmsg.MappedAddress](probe, 0)
	if got.Addr != local || got.Server != srv || got.Local != local || got.Attempts != 1 {
		t.Fatalf("MappedAddress = %+v, want Addr = Local = %v from %v in one request", got, local, srv)
	}
	// The plain host:port form works too.
	probe.Send(client, &stunmsg.Bind{Server: srv.String()})
	if got := testkit.Expect[*stunmsg.MappedAddress](probe, 0); got.Addr != local {
		t.Fatalf("second Bind mapped %v, want %v", got.Addr, local)
	}
	// The server counts a response after sending it, so the client can hold
	// the answer before the count moves.
	testkit.Eventually(t, 5*time.Second, func() bool {
		return e.registry.Lookup("stun-server").Counter("responses") == 2
	}, "server responses counter = 2 (now %d)", e.registry.Lookup("stun-server").Counter("responses"))
}

func TestServerCountsAndDropsMalformedPacketsAndKeepsServing(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server("stun-server")
	conn, in := e.rawSocket()
	bad := [][]byte{
		[]byte("hello, not stun"),
		{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42}, // header cut short
		func() []byte { // a binding request whose length field lies
			m := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest)
			raw := append([]byte(nil), m.Raw...)
			raw[3] = 0x40
			return raw
		}(),
		func() []byte { // a wrong FINGERPRINT
			m := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest, pionstun.Fingerprint)
			raw := append([]byte(nil), m.Raw...)
			raw[len(raw)-1] ^= 0xff
			return raw
		}(),
	}
	for _, b := range bad {
		if err := conn.SendTo(b, srv); err != nil {
			t.Fatal(err)
		}
	}
	stats := e.registry.Lookup("stun-server")
	testkit.Eventually(t, 0, func() bool { return stats.Counter("malformed") == int64(len(bad)) },
		"malformed counter %d, want %d", stats.Counter("malformed"), len(bad))
	// A good request after the bad ones is answered.
	req := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest, pionstun.Fingerprint)
	if err := conn.SendTo(req.Raw, srv); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-in:
		resp := &pionstun.Message{Raw: p.Data}
		if err := resp.Decode(); err != nil || resp.Type != pionstun.BindingSuccess || resp.TransactionID != req.TransactionID {
			t.Fatalf("response %v (err %v), want a binding success for %x", resp, err, req.TransactionID)
		}
		var xor pionstun.XORMappedAddress
		if err := xor.GetFrom(resp); err != nil || xor.Port != int(conn.LocalAddr().Port()) {
			t.Fatalf("XOR-MAPPED-ADDRESS %v (err %v), want port %d", xor, err, conn.LocalAddr().Port())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no response to a good request after malformed ones")
	}
}

func TestServerAnswersOtherMethodsWithBadRequest(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server("stun-server")
	conn, in := e.rawSocket()
	req := pionstun.MustBuild(pionstun.TransactionID, pionstun.NewType(pionstun.MethodAllocate, pionstun.ClassRequest))
	if err := conn.SendTo(req.Raw, srv); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-in:
		resp := &pionstun.Message{Raw: p.Data}
		var code pionstun.ErrorCodeAttribute
		if err := resp.Decode(); err != nil || resp.Type.Class != pionstun.ClassErrorResponse || code.GetFrom(resp) != nil || code.Code != pionstun.CodeBadRequest {
			t.Fatalf("response %v code %v, want 400", resp, code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer")
	}
}

// fakeServer answers binding requests from a raw socket after ignoring the
// first drop requests; with errorCode set it answers with that error.
func (e *env) fakeServer(drop int, errorCode pionstun.ErrorCode) netip.AddrPort {
	conn, in := e.rawSocket()
	seen := 0
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case p := <-in:
				seen++
				if seen <= drop {
					continue
				}
				req := &pionstun.Message{Raw: p.Data}
				if req.Decode() != nil {
					continue
				}
				var resp *pionstun.Message
				if errorCode != 0 {
					resp = pionstun.MustBuild(pionstun.NewTransactionIDSetter(req.TransactionID), pionstun.BindingError, errorCode)
				} else {
					resp = pionstun.MustBuild(pionstun.NewTransactionIDSetter(req.TransactionID), pionstun.BindingSuccess,
						&pionstun.XORMappedAddress{IP: p.From.Addr().AsSlice(), Port: int(p.From.Port())})
				}
				_ = conn.SendTo(resp.Raw, p.From)
			}
		}
	}()
	e.t.Cleanup(func() { close(done); <-stopped })
	return conn.LocalAddr()
}

func TestClientRetransmitsUntilAnswered(t *testing.T) {
	e := newEnv(t)
	srv := e.fakeServer(2, 0)
	client, local := e.client("stun-client", stun.Options{RTO: 20 * time.Millisecond})
	probe := testkit.NewProbe(t, e.system)
	probe.Send(client, &stunmsg.Bind{Server: "stun:" + srv.String()})
	got := testkit.Expect[*stunmsg.MappedAddress](probe, 0)
	if got.Attempts != 3 || got.Addr != local {
		t.Fatalf("MappedAddress %+v, want the third request answered with %v", got, local)
	}
	if n := e.registry.Lookup("stun-client").Counter("retransmissions"); n != 2 {
		t.Fatalf("retransmissions = %d, want 2", n)
	}
}

func TestClientTimesOutAfterMaxRequests(t *testing.T) {
	e := newEnv(t)
	srv := e.fakeServer(1000, 0)
	client, _ := e.client("stun-client", stun.Options{RTO: 10 * time.Millisecond, MaxRequests: 3, LastWait: 2})
	probe := testkit.NewProbe(t, e.system)
	probe.Send(client, &stunmsg.Bind{Server: srv.String()})
	f := testkit.Expect[*messages.CommandFailed](probe, 0)
	if !errors.Is(f.Err, messages.ErrTimeout) {
		t.Fatalf("Bind failed with %v, want ErrTimeout", f.Err)
	}
	if n := e.registry.Lookup("stun-client").Counter("requests"); n != 3 {
		t.Fatalf("requests = %d, want 3", n)
	}
}

func TestClientReportsErrorResponses(t *testing.T) {
	e := newEnv(t)
	srv := e.fakeServer(0, pionstun.CodeServerError)
	client, _ := e.client("stun-client", stun.Options{})
	probe := testkit.NewProbe(t, e.system)
	probe.Send(client, &stunmsg.Bind{Server: srv.String()})
	f := testkit.Expect[*messages.CommandFailed](probe, 0)
	if !errors.Is(f.Err, stunmsg.ErrErrorResponse) {
		t.Fatalf("Bind failed with %v, want ErrErrorResponse", f.Err)
	}
}

func TestClientRejectsBadServersAndKeepsWorking(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server("stun-server")
	client, _ := e.client("stun-client", stun.Options{})
	probe := testkit.NewProbe(t, e.system)
	for _, s := range []string{"", "stun:", "stuns:127.0.0.1:3478", "127.0.0.1", "127.0.0.1:0", "[::1]:3478", "stun:127.0.0.1:99999"} {
		probe.Send(client, &stunmsg.Bind{Server: s})
		f := testkit.Expect[*messages.CommandFailed](probe, 0)
		if !errors.Is(f.Err, stunmsg.ErrBadServer) {
			t.Errorf("Bind{%q} failed with %v, want ErrBadServer", s, f.Err)
		}
	}
	probe.Send(client, &stunmsg.Bind{Server: "stun:" + srv.String()})
	testkit.Expect[*stunmsg.MappedAddress](probe, 0)
}

func TestClientResolvesHostNames(t *testing.T) {
	e := newEnv(t)
	_, srv := e.server("stun-server")
	client, local := e.client("stun-client", stun.Options{Resolve: func(_ context.Context, host string) ([]netip.Addr, error) {
		if host != "stun.example.test" {
			return nil, errors.New("no such host")
		}
		return []netip.Addr{netip.MustParseAddr("::1"), srv.Addr()}, nil
	}})
	probe := testkit.NewProbe(t, e.system)
	probe.Send(client, &stunmsg.Bind{Server: fmt.Sprintf("stun:stun.example.test:%d", srv.Port())})
	if got := testkit.Expect[*stunmsg.MappedAddress](probe, 0); got.Addr != local {
		t.Fatalf("mapped %v, want %v", got.Addr, local)
	}
	probe.Send(client, &stunmsg.Bind{Server: "stun:nowhere.test"})
	if f := testkit.Expect[*messages.CommandFailed](probe, 0); !errors.Is(f.Err, stunmsg.ErrBadServer) {
		t.Fatalf("unresolvable host failed with %v, want ErrBadServer", f.Err)
	}
}

func TestClientCountsMalformedPackets(t *testing.T) {
	e := newEnv(t)
	client, local := e.client("stun-client", stun.Options{})
	conn, _ := e.rawSocket()
	_ = conn.SendTo([]byte("garbage"), local)
	stray := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingSuccess)
	_ = conn.SendTo(stray.Raw, local)
	stats := e.registry.Lookup("stun-client")
	testkit.Eventually(t, 0, func() bool { return stats.Counter("malformed") == 1 && stats.Counter("ignored") == 1 },
		"malformed %d ignored %d, want 1 and 1", stats.Counter("malformed"), stats.Counter("ignored"))
	_ = client
}

func TestClientAgainstCoturn(t *testing.T) {
	turn := stuntest.StartCoturn(t)
	e := newEnv(t)
	client, local := e.client("stun-client", stun.Options{})
	probe := testkit.NewProbe(t, e.system)
	probe.Send(client, &stunmsg.Bind{Server: "stun:" + turn.Addr.String()})
	e2 := testkit.FishFor[any](probe, 10*time.Second, nil)
	got, ok := e2.(*stunmsg.MappedAddress)
	if !ok {
		t.Fatalf("Bind to coturn: %+v\ncoturn log:\n%s", e2, turn.Log())
	}
	if got.Addr != local {
		t.Fatalf("coturn mapped %v, want %v", got.Addr, local)
	}
}
