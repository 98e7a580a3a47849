package http_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/sim"
)

// onEventLoop selects the event-loop engine on the event-loop transport.
func onEventLoop(o httpactor.Options) httpactor.Options {
	o.Engine = httpactor.EngineEventLoop
	if o.Network == nil {
		o.Network = evloop.New(evloop.Options{})
	}
	return o
}

func TestEventLoopEngineAnswersGoClientWithKeepAlive(t *testing.T) {
	system, _ := newSystem(t)
	hello := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{
				Header: nethttp.Header{"X-Pattern": {req.Pattern}, "X-Remote": {req.Remote.String()}},
				Body:   fmt.Appendf(nil, "hello %s %s %s", req.PathValues["name"], req.Host, req.Header.Get("X-A")),
			})
		}
	}))
	stopActor(t, system, hello)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		Routes: []httpactor.Route{{Pattern: "GET /hello/{name}", Actor: hello}},
	}))
	c := newClient(t)
	var remotes []string
	for range 3 {
		req, _ := nethttp.NewRequest("GET", fmt.Sprintf("http://%s/hello/world", addr), nil)
		req.Header.Set("X-A", "a")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "hello world " + addr.String() + " a"; resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("%d %q, want %q", resp.StatusCode, b, want)
		}
		remotes = append(remotes, resp.Header.Get("X-Remote"))
		if resp.Header.Get("X-Pattern") != "GET /hello/{name}" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || resp.Header.Get("Date") == "" {
			t.Fatalf("header %v", resp.Header)
		}
	}
	if remotes[0] != remotes[2] {
		t.Fatalf("not kept alive: %v", remotes)
	}
	if code, _ := get(t, c, fmt.Sprintf("http://%s/nothing", addr)); code != 404 {
		t.Fatalf("no route: %d", code)
	}
	resp, err := c.Post(fmt.Sprintf("http://%s/hello/x", addr), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") == "" {
		t.Fatalf("wrong method: %d %v", resp.StatusCode, resp.Header)
	}
}

// Pipelined requests, chunked and Content-Length bodies mixed, are answered
// in order even when the first handler answers last; a smuggling attempt
// after them gets 400 and the connection closes.
func TestEventLoopEnginePipelinesInOrderAndRefusesSmuggling(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	slow := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			to := req.ReplyTo
			time.AfterFunc(100*time.Millisecond, func() {
				system.Root.Send(to, &httpmsg.Response{Body: []byte("slow " + string(req.Body))})
			})
		}
	}))
	stopActor(t, system, slow)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{
		{Pattern: "/slow", Actor: slow},
		{Pattern: "/", Actor: echo},
	}}))
	conn := rawConn(t, addr)
	var raw strings.Builder
	raw.WriteString("POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst")
	for i := range 6 {
		if i%2 == 0 {
			fmt.Fprintf(&raw, "POST /%d HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n", i)
		} else {
			fmt.Fprintf(&raw, "POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy", i)
		}
	}
	raw.WriteString("POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	raw.WriteString("GET /never HTTP/1.1\r\nHost: x\r\n\r\n")
	// Byte by byte for the first part, so that the parser sees every split.
	s := raw.String()
	for i := range 200 {
		if _, err := conn.Write([]byte{s[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := io.WriteString(conn, s[200:]); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resps, bodies, err := readResponses(br, 8)
	if len(resps) != 8 {
		t.Fatalf("%d responses: %v %q", len(resps), err, bodies)
	}
	if bodies[0] != "slow first" {
		t.Fatalf("first: %q", bodies[0])
	}
	for i := range 6 {
		want := fmt.Sprintf("POST /%d abcde", i)
		if i%2 == 1 {
			want = fmt.Sprintf("POST /%d xy", i)
		}
		if bodies[i+1] != want {
			t.Fatalf("response %d: %q, want %q", i+1, bodies[i+1], want)
		}
	}
	if resps[7].StatusCode != 400 || !closedAfter(br) {
		t.Fatalf("smuggling attempt: %d %q, or connection still open", resps[7].StatusCode, bodies[7])
	}
}

func TestEventLoopEngineRefusesUnsupportedRoutes(t *testing.T) {
	system, _ := newSystem(t)
	props := httpactor.Props(onEventLoop(httpactor.Options{Routes: []httpactor.Route{
		{Pattern: "/", Handler: nethttp.NotFoundHandler()},
	}}))
	failed := make(chan error, 1)
	supervisor := actor.NewOneForOneStrategy(0, time.Second, func(reason any) actor.Directive {
		err, _ := reason.(error)
		select {
		case failed <- err:
		default:
		}
		return actor.StopDirective
	})
	parent := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			ctx.Spawn(props)
		}
	}, actor.WithSupervisor(supervisor)))
	stopActor(t, system, parent)
	select {
	case err := <-failed:
		if !errors.Is(err, httpactor.ErrUnsupportedRoute) {
			t.Fatalf("failure %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not fail")
	}
}

// The malformed requests the net/http engine refuses are refused by the
// event-loop engine too, over raw loopback sockets, and the server keeps
// serving.
func TestEventLoopEngineRefusesMalformedRequests(t *testing.T) {
	checkMalformed(t, onEventLoop(httpactor.Options{}), nil)
}

// rawExchange writes raw to a new connection and reads n responses.
func rawExchange(t *testing.T, addr netip.AddrPort, raw string, n int) ([]*nethttp.Response, []string, *bufio.Reader) {
	t.Helper()
	conn := rawConn(t, addr)
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resps, bodies, err := readResponses(br, n)
	if len(resps) != n {
		t.Fatalf("%d responses of %d: %v", len(resps), n, err)
	}
	return resps, bodies, br
}

// Connection: close is honoured (what follows is not answered); HTTP/1.0
// closes unless it asks for keep-alive.
func TestEventLoopEngineConnectionCloseAndHTTP10(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}}))

	resps, bodies, br := rawExchange(t, addr, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n", 2)
	if bodies[0] != "GET /a " || bodies[1] != "GET /b " || !resps[1].Close || !closedAfter(br) {
		t.Fatalf("close: %q, close %v", bodies, resps[1].Close)
	}

	resps, bodies, br = rawExchange(t, addr, "GET /old HTTP/1.0\r\n\r\n", 1)
	if bodies[0] != "GET /old " || resps[0].ProtoMinor != 1 || !closedAfter(br) {
		t.Fatalf("HTTP/1.0: %q", bodies)
	}

	conn := rawConn(t, addr)
	io.WriteString(conn, "GET /k1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /k2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
	br = bufio.NewReader(conn)
	resps, bodies, err := readResponses(br, 2)
	if err != nil || bodies[0] != "GET /k1 " || bodies[1] != "GET /k2 " || resps[1].Header.Get("Connection") != "keep-alive" || resps[1].Close {
		t.Fatalf("HTTP/1.0 keep-alive: %q %v %v", bodies, resps, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if closedAfter(br) {
		t.Fatal("HTTP/1.0 keep-alive connection closed")
	}
}

func TestEventLoopEngineBodyLimitsAndExpectContinue(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{MaxBodyBytes: 10, Routes: []httpactor.Route{
		{Pattern: "/big", Actor: echo, MaxBodyBytes: 20},
		{Pattern: "/", Actor: echo},
	}}))
	cases := []struct {
		name, raw string
		status    int
		body      string
	}{
		{"declared too large, expecting 100", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", 413, ""},
		{"chunked too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n", 413, ""},
		{"over the server's limit, within the route's", "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 15\r\n\r\n0123456789abcde", 200, "POST /big 0123456789abcde"},
		{"over the route's limit", "POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 21\r\n\r\n0123456789abcde012345", 413, ""},
		{"chunked within the limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", 200, "POST / abcde"},
		{"unknown expectation", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: magic\r\n\r\nok", 417, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resps, bodies, br := rawExchange(t, addr, tc.raw, 1)
			if resps[0].StatusCode != tc.status || (tc.body != "" && bodies[0] != tc.body) {
				t.Fatalf("%d %q, want %d %q", resps[0].StatusCode, bodies[0], tc.status, tc.body)
			}
			if tc.status >= 400 && !closedAfter(br) {
				t.Fatal("connection left open after a refused body")
			}
		})
	}
	// Small, with Expect: 100-continue: 100 first, then the answer.
	conn := rawConn(t, addr)
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("expected 100 Continue, got %q %v", line, err)
	}
	br.ReadString('\n')
	io.WriteString(conn, "ok")
	if _, bodies, err := readResponses(br, 1); err != nil || bodies[0] != "POST / ok" {
		t.Fatalf("after 100: %v %v", bodies, err)
	}
}

// A handler that does not answer in time gets 504, its late answer is
// dropped and the next request on the connection gets its own; a stopped
// handler gets 503; past MaxInFlight, 503 at once.
func TestEventLoopEngineHandlerTimeoutStoppedHandlerAndInFlightBound(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	late := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			to := req.ReplyTo
			time.AfterFunc(400*time.Millisecond, func() { system.Root.Send(to, &httpmsg.Response{Body: []byte("late")}) })
		}
	}))
	stopActor(t, system, late)
	gone := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	_ = system.Root.StopFuture(gone).Wait()
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		HandlerTimeout: 150 * time.Millisecond,
		MaxInFlight:    1,
		Routes: []httpactor.Route{
			{Pattern: "/late", Actor: late},
			{Pattern: "/gone", Actor: gone},
			{Pattern: "/", Actor: echo},
		},
	}))
	conn := rawConn(t, addr)
	io.WriteString(conn, "GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
	// While /late waits, the one request in flight, another is refused.
	time.Sleep(50 * time.Millisecond)
	if resps, _, _ := rawExchange(t, addr, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n", 1); resps[0].StatusCode != 503 || resps[0].Header.Get("Retry-After") == "" {
		t.Fatalf("past MaxInFlight: %d", resps[0].StatusCode)
	}
	br := bufio.NewReader(conn)
	resps, _, err := readResponses(br, 1)
	if err != nil || resps[0].StatusCode != 504 {
		t.Fatalf("silent handler: %v %v", resps, err)
	}
	io.WriteString(conn, "GET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(400 * time.Millisecond) // the late answer comes meanwhile
	io.WriteString(conn, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
	resps, bodies, err := readResponses(br, 2)
	if err != nil || bodies[0] != "GET /after " || resps[1].StatusCode != 503 {
		t.Fatalf("after 504: %v %q %v", resps, bodies, err)
	}
}

func TestEventLoopEngineStreamsResponses(t *testing.T) {
	system, _ := newSystem(t)
	probe := testkit.NewProbe(t, system)
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *httpmsg.Request:
			ctx.Send(m.ReplyTo, &httpmsg.StreamResponse{Header: nethttp.Header{"Trailer": {"X-Sum"}}})
			for i := range 3 {
				ctx.Request(m.ReplyTo, &httpmsg.WriteBody{Data: fmt.Appendf(nil, "part%d;", i), Ack: i})
			}
			ctx.Request(m.ReplyTo, &httpmsg.EndResponse{Trailer: nethttp.Header{"X-Sum": {"3"}}})
			ctx.Request(m.ReplyTo, &httpmsg.WriteBody{Data: []byte("too late")})
		case *messages.WriteAck, *messages.CommandFailed:
			ctx.Send(probe.PID, m)
		}
	}))
	stopActor(t, system, handler)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/stream", Actor: handler}}}))
	resps, bodies, _ := rawExchange(t, addr, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	if !slicesEqual(resps[0].TransferEncoding, []string{"chunked"}) || bodies[0] != "part0;part1;part2;" || resps[0].Trailer.Get("X-Sum") != "3" {
		t.Fatalf("streamed: %v %q trailer %v", resps[0].TransferEncoding, bodies[0], resps[0].Trailer)
	}
	var acks []any
	for range 4 {
		e, ok := probe.Next(0)
		if !ok {
			t.Fatalf("acks %v, and no more", acks)
		}
		switch m := e.Message.(type) {
		case *messages.WriteAck:
			acks = append(acks, m.Ack)
		case *messages.CommandFailed:
			if !errors.Is(m.Err, httpmsg.ErrNoResponse) {
				t.Fatalf("write after the end: %v", m.Err)
			}
		}
	}
	if fmt.Sprint(acks) != "[0 1 2]" {
		t.Fatalf("acks %v", acks)
	}
	// To an HTTP/1.0 client the body ends with the connection.
	resps, bodies, br := rawExchange(t, addr, "GET /stream HTTP/1.0\r\n\r\n", 1)
	if len(resps[0].TransferEncoding) != 0 || bodies[0] != "part0;part1;part2;" || !closedAfter(br) {
		t.Fatalf("HTTP/1.0 stream: %v %q", resps[0].TransferEncoding, bodies[0])
	}
}

// A client that sends half a header, or stays idle, is closed by the
// timeouts.
func TestEventLoopEngineClosesSlowAndIdleClients(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		ReadHeaderTimeout: 200 * time.Millisecond,
		IdleTimeout:       200 * time.Millisecond,
		Routes:            []httpactor.Route{{Pattern: "/", Actor: echo}},
	}))
	slow := rawConn(t, addr)
	io.WriteString(slow, "GET / HTTP/1.1\r\nHost: x\r\n")
	_, _, idle := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	for _, c := range []io.Reader{slow, idle} {
		if _, err := io.ReadAll(c); err != nil && isTimeout(err) {
			t.Fatal("connection not closed by the server")
		}
	}
}

// The engine serves TLS on the simulated network: the request carries the
// connection's TLS state.
func TestEventLoopEngineOnSimulatedNetworkWithTLS(t *testing.T) {
	cert, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	net1 := sim.New(sim.Config{Seed: 7, Link: sim.LinkConfig{Latency: time.Millisecond}})
	srvHost := net1.AddHost("server", netip.MustParseAddr("10.0.0.1"))
	cliHost := net1.AddHost("client", netip.MustParseAddr("10.0.0.2"))
	system, _ := newSystem(t)
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{Body: fmt.Appendf(nil, "%s %s tls=%v", req.Path, req.Body, req.TLS != nil)})
		}
	}))
	stopActor(t, system, handler)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		Network:   srvHost,
		Endpoints: []httpactor.Endpoint{{Addr: netip.MustParseAddrPort("10.0.0.1:443"), TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}},
		Routes:    []httpactor.Route{{Pattern: "/", Actor: handler}},
	}))
	c := simTLSClient(t, cliHost, addr, leaf)
	for i := range 3 {
		resp, err := c.Post(fmt.Sprintf("https://server/sim/%d", i), "text/plain", strings.NewReader("over sim"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("/sim/%d over sim tls=true", i); string(b) != want {
			t.Fatalf("%q, want %q", b, want)
		}
	}
}

// Middleware sees every request before its actor: it may answer (401), or
// set header fields that the actor's response carries.
func TestEventLoopEngineRunsMiddleware(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	token := func(pattern string, next nethttp.Handler) nethttp.Handler {
		return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			w.Header().Set("X-Route", pattern)
			if r.Header.Get("Authorization") != "Bearer secret" {
				nethttp.Error(w, "unauthorized", nethttp.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		Middleware: []httpactor.Middleware{token},
		Routes:     []httpactor.Route{{Pattern: "GET /items/{id}", Actor: echo}},
	}))
	resps, bodies, _ := rawExchange(t, addr, "GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /items/2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n\r\n", 2)
	if resps[0].StatusCode != 401 || strings.TrimSpace(bodies[0]) != "unauthorized" {
		t.Fatalf("without a token: %d %q", resps[0].StatusCode, bodies[0])
	}
	if resps[1].StatusCode != 200 || bodies[1] != "GET /items/2 " || resps[1].Header.Get("X-Route") != "GET /items/{id}" || resps[1].Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("with a token: %d %q %v", resps[1].StatusCode, bodies[1], resps[1].Header)
	}
}

// Connections cost no goroutine: a hundred kept-alive connections leave the
// goroutine count where it was.
func TestEventLoopEngineHasNoGoroutinePerConnection(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}}))
	rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1) // the loops are up
	before := runtime.NumGoroutine()
	for range 100 {
		rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	}
	if after := runtime.NumGoroutine(); after > before+10 {
		t.Fatalf("%d goroutines with 100 more connections, %d before", after, before)
	}
}

// Stopping the server answers the request in progress, closes the idle
// connections and returns once every connection has ended.
func TestEventLoopEngineDrainsOnStop(t *testing.T) {
	system, _ := newSystem(t)
	slow := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			to := req.ReplyTo
			time.AfterFunc(200*time.Millisecond, func() { system.Root.Send(to, &httpmsg.Response{Body: []byte("done")}) })
		}
	}))
	stopActor(t, system, slow)
	pid, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: slow}}}))
	_, _, idle := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1)
	busy := rawConn(t, addr)
	io.WriteString(busy, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	stopped := make(chan struct{})
	go func() { _ = system.Root.StopFuture(pid).Wait(); close(stopped) }()
	br := bufio.NewReader(busy)
	resps, bodies, err := readResponses(br, 1)
	if err != nil || bodies[0] != "done" || !resps[0].Close {
		t.Fatalf("request in progress: %v %q", err, bodies)
	}
	if !closedAfter(br) || !closedAfter(idle) {
		t.Fatal("connections left open")
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not stop")
	}
	if _, err := net.DialTimeout("tcp", addr.String(), time.Second); err == nil {
		t.Fatal("still accepting")
	}
}

// A client that pipelines thousands of requests before reading any answer
// is held back by back-pressure, not buffered without bound, and gets every
// answer in order.
func TestEventLoopEngineHoldsBackAPipelineFlood(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		HighWater: 16 << 10, LowWater: 4 << 10,
		Routes: []httpactor.Route{{Pattern: "/", Actor: echo}},
	}))
	conn := rawConn(t, addr)
	const n = 3000
	go func() {
		var raw strings.Builder
		for i := range n {
			fmt.Fprintf(&raw, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
		}
		_, _ = io.WriteString(conn, raw.String())
	}()
	time.Sleep(200 * time.Millisecond) // the server fills up and stops reading
	br := bufio.NewReader(conn)
	for i := range n {
		resps, bodies, err := readResponses(br, 1)
		if err != nil || resps[0].StatusCode != 200 || bodies[0] != fmt.Sprintf("GET /%d ", i) {
			t.Fatalf("response %d: %v %q", i, err, bodies)
		}
	}
}

// What the engine does not serve is refused with 400, and said so.
func TestEventLoopEngineRefusesUnknownMethodsAndProxyTargets(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}}))
	for _, raw := range []string{
		"FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET http://x/ HTTP/1.1\r\nHost: x\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		resps, bodies, br := rawExchange(t, addr, raw, 1)
		if resps[0].StatusCode != 400 || !closedAfter(br) {
			t.Fatalf("%q: %d %q", raw, resps[0].StatusCode, bodies[0])
		}
	}
}

// Whitespace in a field name, or before its colon, is refused wherever the
// head is split between reads; the same bytes inside a body (by length or
// chunked) are only body, and a pipelined request after such a body is
// checked again.
func TestEventLoopEngineChecksFieldNamesOnlyInHeads(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}}))
	bad := "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"
	for split := 1; split < len(bad); split += 3 {
		conn := rawConn(t, addr)
		io.WriteString(conn, bad[:split])
		time.Sleep(time.Millisecond)
		io.WriteString(conn, bad[split:])
		resps, _, err := readResponses(bufio.NewReader(conn), 1)
		if err != nil || resps[0].StatusCode != 400 {
			t.Fatalf("split at %d: %v %v, want 400", split, resps, err)
		}
	}
	body := "a\r\nX-A B: c\r\nY : d\r\n"
	good := fmt.Sprintf("POST /cl HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body) +
		fmt.Sprintf("POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body) +
		"GET /after HTTP/1.1\r\nHost: x\r\n\r\n" +
		"GET /bad HTTP/1.1\r\nHost: x\r\nX-A B: c\r\n\r\n"
	conn := rawConn(t, addr)
	io.WriteString(conn, good)
	resps, bodies, _ := readResponses(bufio.NewReader(conn), 4)
	if len(resps) != 4 {
		t.Fatalf("%d responses: %q", len(resps), bodies)
	}
	for i, want := range []string{"POST /cl " + body, "POST /te " + body, "GET /after "} {
		if resps[i].StatusCode != 200 || bodies[i] != want {
			t.Fatalf("response %d: %d %q, want %q", i, resps[i].StatusCode, bodies[i], want)
		}
	}
	if resps[3].StatusCode != 400 {
		t.Fatalf("a bad field name after bodies: %d", resps[3].StatusCode)
	}
}
