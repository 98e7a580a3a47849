package http_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	nethttp "net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/sim"
)

// Pipelined requests on one connection, chunked and Content-Length bodies
// mixed, are answered in order; a smuggling attempt after them is still
// seen, since the framing check follows the bodies.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}})
	conn := rawConn(t, addr)
	var raw strings.Builder
	for i := range 6 {
		if i%2 == 0 {
			fmt.Fprintf(&raw, "POST /%d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", i)
		} else {
			fmt.Fprintf(&raw, "POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy", i)
		}
	}
	raw.WriteString("POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if _, err := io.WriteString(conn, raw.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resps, bodies, err := readResponses(br, 7)
	if len(resps) != 7 {
		t.Fatalf("%d responses: %v", len(resps), err)
	}
	for i := range 6 {
		want := fmt.Sprintf("POST /%d abcde", i)
		if i%2 == 1 {
			want = fmt.Sprintf("POST /%d xy", i)
		}
		if bodies[i] != want {
			t.Fatalf("response %d: %q, want %q", i, bodies[i], want)
		}
	}
	if resps[6].StatusCode != 400 || !closedAfter(br) {
		t.Fatalf("smuggling attempt: %d, connection still open", resps[6].StatusCode)
	}
}

func TestBodyLimitAndExpectContinue(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{MaxBodyBytes: 10, Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}})
	// Declared too large: 413 without 100 Continue.
	conn := rawConn(t, addr)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := nethttp.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 413 {
		t.Fatalf("declared too large: %v %v", resp, err)
	}
	// Chunked and too large: 413.
	conn = rawConn(t, addr)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n")
	if resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 413 {
		t.Fatalf("chunked too large: %v %v", resp, err)
	}
	// Small, with Expect: 100-continue: 100 first, then the answer.
	conn = rawConn(t, addr)
	fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	br = bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("expected 100 Continue, got %q %v", line, err)
	}
	br.ReadString('\n') // the empty line after the 100
	io.WriteString(conn, "ok")
	if _, bodies, err := readResponses(br, 1); err != nil || bodies[0] != "POST / ok" {
		t.Fatalf("after 100: %v %v", bodies, err)
	}
}

// A client that sends half a header, or stays idle, is closed by the
// server's timeouts; the session leaves the tree.
func TestSlowAndIdleClientsAreClosed(t *testing.T) {
	system, reg := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{
		ReadHeaderTimeout: 200 * time.Millisecond,
		IdleTimeout:       200 * time.Millisecond,
		Routes:            []httpactor.Route{{Pattern: "/", Actor: echo}},
	})
	slow := rawConn(t, addr)
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n")
	idle := rawConn(t, addr)
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(idle)
	if _, _, err := readResponses(br, 1); err != nil {
		t.Fatal(err)
	}
	for _, c := range []io.Reader{slow, br} {
		if _, err := io.ReadAll(c); err != nil && isTimeout(err) {
			t.Fatal("connection not closed by the server")
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, in := range reg.Snapshot() {
			if in.Kind == httpactor.SessionKind {
				return false
			}
		}
		return true
	}, "sessions left the tree")
}

// Sessions are reported to the event handler and closed on CloseSession.
func TestSessionsAreVisibleAndClosable(t *testing.T) {
	system, reg := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	events := testkit.NewProbe(t, system)
	_, addr := startServer(t, system, httpactor.Options{Events: events.PID, Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}})
	testkit.Expect[*httpmsg.Bound](events, 0)
	conn := rawConn(t, addr)
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	if _, _, err := readResponses(br, 1); err != nil {
		t.Fatal(err)
	}
	opened := testkit.Expect[*httpmsg.SessionOpened](events, 0)
	if opened.Remote.String() != conn.LocalAddr().String() {
		t.Fatalf("session remote %v, want %v", opened.Remote, conn.LocalAddr())
	}
	// The client can read the response before the session has counted the
	// bytes written (the count follows the transport's report).
	var in inspect.Info
	testkit.Eventually(t, 5*time.Second, func() bool {
		in = reg.Lookup(opened.Session.Id).Info()
		return in.Kind == httpactor.SessionKind && in.Counters["requests"] == 1 && in.Counters["bytes_in"] > 0 && in.Counters["bytes_out"] > 0
	}, "session counters; last seen %+v", &in)
	system.Root.Send(opened.Session, &httpmsg.CloseSession{})
	closed := testkit.Expect[*httpmsg.SessionClosed](events, 0)
	if closed.Requests != 1 || !closed.Session.Equal(opened.Session) {
		t.Fatalf("closed %+v", closed)
	}
	if _, err := io.ReadAll(br); err != nil && isTimeout(err) {
		t.Fatal("connection still open after CloseSession")
	}
}

// The same server on the simulated network, over TLS, with Go's client.
func TestServerOnSimulatedNetworkWithTLS(t *testing.T) {
	cert, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	net1 := sim.New(sim.Config{Seed: 7, Link: sim.LinkConfig{Latency: time.Millisecond}})
	srvHost := net1.AddHost("server", netip.MustParseAddr("10.0.0.1"))
	cliHost := net1.AddHost("client", netip.MustParseAddr("10.0.0.2"))
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{
		Network:   srvHost,
		Endpoints: []httpactor.Endpoint{{Addr: netip.MustParseAddrPort("10.0.0.1:443"), TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}},
		Routes:    []httpactor.Route{{Pattern: "/", Actor: echo}},
	})
	c := simTLSClient(t, cliHost, addr, leaf)
	for i := range 3 {
		resp, err := c.Post(fmt.Sprintf("https://server/sim/%d", i), "text/plain", strings.NewReader("over sim"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("POST /sim/%d over sim", i); string(b) != want {
			t.Fatalf("%q, want %q", b, want)
		}
	}
}

// A request reaches a TLS endpoint's handler with its TLS state.
func TestTLSEndpointSetsRequestTLS(t *testing.T) {
	cert, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	system, _ := newSystem(t)
	probe := testkit.NewProbe(t, system)
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Send(probe.PID, req)
			ctx.Respond(&httpmsg.Response{Status: 201})
		}
	}))
	stopActor(t, system, handler)
	_, addr := startServer(t, system, httpactor.Options{
		Endpoints: []httpactor.Endpoint{{Addr: netip.MustParseAddrPort("127.0.0.1:0"), TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}},
		Routes:    []httpactor.Route{{Pattern: "GET /items/{id}", Actor: handler}},
	})
	tr := &nethttp.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&nethttp.Client{Transport: tr}).Get(fmt.Sprintf("https://%s/items/42", addr))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req := testkit.Expect[*httpmsg.Request](probe, 0)
	if resp.StatusCode != 201 || req.TLS == nil || req.PathValues["id"] != "42" || req.Pattern != "GET /items/{id}" || req.Session == nil {
		t.Fatalf("status %d, request %+v", resp.StatusCode, req)
	}
}
