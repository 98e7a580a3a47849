package websocket_test

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/wsmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports/certs"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// echoHandler answers each text with the same text in upper case and each
// binary with itself; "bye" closes the socket with code 4001.
func echoHandler() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *wsmsg.Text:
			if string(m.Data) == "bye" {
				ctx.Send(ctx.Sender(), &wsmsg.Close{Code: 4001, Reason: "bye"})
				return
			}
			ctx.Send(ctx.Sender(), &wsmsg.Text{Data: []byte(strings.ToUpper(string(m.Data)))})
			ctx.Send(ctx.Sender(), &messages.ResumeReading{Credits: 1})
		case *wsmsg.Binary:
			ctx.Send(ctx.Sender(), &wsmsg.Binary{Data: m.Data})
			ctx.Send(ctx.Sender(), &messages.ResumeReading{Credits: 1})
		}
	})
}

type server struct {
	addr   netip.AddrPort
	system *actor.ActorSystem
	reg    *inspect.Registry
}

func startServer(t *testing.T, ep httpactor.Endpoint, ws websocket.Options) server {
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	if ws.NewHandler == nil {
		ws.NewHandler = echoHandler
	}
	if !ep.Addr.IsValid() {
		ep.Addr = netip.MustParseAddrPort("127.0.0.1:0")
	}
	pid, err := inspect.Spawn(system.Root, httpactor.Props(httpactor.Options{
		Endpoints: []httpactor.Endpoint{ep},
		Routes:    []httpactor.Route{{Pattern: "GET /ws", WebSocket: &ws}},
	}), "web", httpactor.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return server{addr: res.(*httpmsg.Bound).Endpoints[0].Addr, system: system, reg: reg}
}

func dialClient(t *testing.T, system *actor.ActorSystem, opts websocket.Options) (*testkit.Probe, *actor.PID) {
	probe := testkit.NewProbe(t, system)
	opts.Handler = probe.PID
	pid := system.Root.Spawn(websocket.Props(opts))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	return probe, pid
}

func TestEchoBothWaysAndCloseHandshake(t *testing.T) {
	srv := startServer(t, httpactor.Endpoint{}, websocket.Options{})
	probe, sock := dialClient(t, srv.system, websocket.Options{URL: fmt.Sprintf("ws://%s/ws?room=1", srv.addr), Credits: -1})
	opened := testkit.Expect[*wsmsg.Opened](probe, 0)
	if !opened.Socket.Equal(sock) || opened.Target != "/ws?room=1" {
		t.Fatalf("opened %+v", opened)
	}
	// The server's socket is in the tree under its session.
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, in := range srv.reg.Snapshot() {
			if in.Kind == websocket.Kind && strings.Contains(in.Path, "/session-") {
				return true
			}
		}
		return false
	}, "server socket in the tree")
	for i := range 5 {
		probe.Send(sock, &wsmsg.Text{Data: fmt.Appendf(nil, "hello %d", i), Ack: i})
		// The ack and the echo race each other.
		var acked, echoed bool
		for _, m := range probe.CollectUntil(0, func(got []any) bool { return len(got) == 2 }) {
			switch m := m.(type) {
			case *messages.WriteAck:
				acked = m.Ack == i
			case *wsmsg.Text:
				echoed = string(m.Data) == fmt.Sprintf("HELLO %d", i)
			}
		}
		if !acked || !echoed {
			t.Fatalf("message %d: acked %v, echoed %v", i, acked, echoed)
		}
	}
	probe.Send(sock, &wsmsg.Binary{Data: []byte{0, 1, 2}})
	if m := testkit.Expect[*wsmsg.Binary](probe, 0); string(m.Data) != "\x00\x01\x02" {
		t.Fatalf("binary echo %v", m.Data)
	}
	// Our close: the handshake completes and Closed says so.
	probe.Send(sock, &wsmsg.Close{Code: wsmsg.CodeNormal, Reason: "done"})
	c := testkit.Expect[*wsmsg.Closed](probe, 0)
	if c.Reason != messages.ClosedByUs || c.Code != wsmsg.CodeNormal {
		t.Fatalf("closed %+v", c)
	}
	// The server's session and socket leave the tree.
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, in := range srv.reg.Snapshot() {
			if in.Kind == websocket.Kind || in.Kind == httpactor.SessionKind {
				return false
			}
		}
		return true
	}, "server socket gone")
}

func TestPeerCloseCodeAndOversizedMessage(t *testing.T) {
	srv := startServer(t, httpactor.Endpoint{}, websocket.Options{MaxMessage: 1024})
	url := fmt.Sprintf("ws://%s/ws", srv.addr)
	probe, sock := dialClient(t, srv.system, websocket.Options{URL: url, MaxMessage: 4096})
	testkit.Expect[*wsmsg.Opened](probe, 0)
	probe.Send(sock, &wsmsg.Text{Data: []byte("bye")})
	c := testkit.Expect[*wsmsg.Closed](probe, 0)
	if c.Reason != messages.PeerClosed || c.Code != 4001 || c.Text != "bye" {
		t.Fatalf("peer close %+v", c)
	}
	// Larger than our own limit: refused before sending.
	probe, sock = dialClient(t, srv.system, websocket.Options{URL: url, MaxMessage: 4096})
	testkit.Expect[*wsmsg.Opened](probe, 0)
	probe.Send(sock, &wsmsg.Binary{Data: make([]byte, 5000)})
	if f := testkit.Expect[*messages.CommandFailed](probe, 0); !errors.Is(f.Err, wsmsg.ErrTooLarge) {
		t.Fatalf("oversized send: %v", f.Err)
	}
	// Larger than the server's limit: the server closes with 1009.
	probe.Send(sock, &wsmsg.Binary{Data: make([]byte, 2048)})
	c = testkit.FishFor[*wsmsg.Closed](probe, 0, nil)
	if c.Code != wsmsg.CodeTooBig {
		t.Fatalf("oversized message: %+v", c)
	}
}

// A WebSocket over TLS, pinned, whose link the supervisor reconnects after
// the server closes it: MeshAgent's server link.
func TestTLSLinkReconnectsThroughSupervisor(t *testing.T) {
	cert, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, httpactor.Endpoint{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, websocket.Options{})
	pinned, err := certs.PinnedConfig(nil, [][]byte{certs.SHA384(cert.Certificate[0])})
	if err != nil {
		t.Fatal(err)
	}
	probe := testkit.NewProbe(t, srv.system)
	link := websocket.ChildSpec("link", websocket.Options{
		URL:     fmt.Sprintf("wss://%s/ws", srv.addr),
		TLS:     pinned,
		Handler: probe.PID,
	})
	sup := srv.system.Root.Spawn(supervisor.Props(supervisor.Options{
		Intensity: 10,
		Backoff:   supervisor.Backoff{Min: 20 * time.Millisecond, Max: 100 * time.Millisecond},
	}, link))
	t.Cleanup(func() { _ = srv.system.Root.StopFuture(sup).Wait() })
	for round := range 3 {
		o := testkit.FishFor[*wsmsg.Opened](probe, 0, nil)
		probe.Send(o.Socket, &wsmsg.Text{Data: []byte("ping")})
		if m := testkit.Expect[*wsmsg.Text](probe, 0); string(m.Data) != "PING" {
			t.Fatalf("round %d: %q", round, m.Data)
		}
		// The server ends the link; the supervisor dials again.
		probe.Send(o.Socket, &wsmsg.Text{Data: []byte("bye")})
		if c := testkit.Expect[*wsmsg.Closed](probe, 0); c.Reason != messages.PeerClosed {
			t.Fatalf("round %d: %+v", round, c)
		}
	}
	// Close ends the link for good.
	o := testkit.FishFor[*wsmsg.Opened](probe, 0, nil)
	probe.Send(o.Socket, &wsmsg.Close{Code: wsmsg.CodeNormal})
	testkit.FishFor[*wsmsg.Closed](probe, 0, nil)
	probe.ExpectNoMessage(300 * time.Millisecond)
}

func TestDialFailureIsReported(t *testing.T) {
	system := testkit.NewSystem(t)
	probe, _ := dialClient(t, system, websocket.Options{URL: "ws://127.0.0.1:1/ws"})
	c := testkit.Expect[*wsmsg.Closed](probe, 0)
	if c.Reason != messages.ErrorClosed || c.Err == nil {
		t.Fatalf("%+v", c)
	}
}
