package http_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/certs"
)

// testServer is a plain net/http server on loopback that counts the
// connections it accepts.
func testServer(t *testing.T, h nethttp.Handler, tls bool) (*httptest.Server, *atomic.Int64) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s nethttp.ConnState) {
		if s == nethttp.StateNew {
			conns.Add(1)
		}
	}
	if tls {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv, &conns
}

func startClient(t *testing.T, system *actor.ActorSystem, opts httpactor.ClientOptions) *actor.PID {
	pid := system.Root.Spawn(httpactor.ClientProps(opts))
	stopActor(t, system, pid)
	return pid
}

func do(t *testing.T, system *actor.ActorSystem, client *actor.PID, req *httpmsg.Request) any {
	t.Helper()
	res, err := system.Root.RequestFuture(client, req, 10*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestClientReusesConnectionsAndKeepsPipelineOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	srv, conns := testServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		mu.Lock()
		order = append(order, r.URL.Path)
		mu.Unlock()
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}), false)
	system, _ := newSystem(t)
	client := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL})
	for i := range 5 {
		res := do(t, system, client, &httpmsg.Request{Target: fmt.Sprintf("/seq/%d", i)})
		if r, ok := res.(*httpmsg.Response); !ok || r.Status != 200 || string(r.Body) != fmt.Sprintf("hello /seq/%d", i) {
			t.Fatalf("response %d: %+v", i, res)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential requests, want 1", n)
	}
	// Pipelined requests, sent at once, go out one after another in order.
	mu.Lock()
	order = nil
	mu.Unlock()
	probe := testkit.NewProbe(t, system)
	for i := range 20 {
		probe.Send(client, &httpmsg.Request{Target: fmt.Sprintf("/pipe/%d", i), Pipeline: true, Tag: i})
	}
	for i := range 20 {
		if r := testkit.Expect[*httpmsg.Response](probe, 0); r.Tag != i {
			t.Fatalf("response %v arrived as number %d", r.Tag, i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, p := range order {
		if p != fmt.Sprintf("/pipe/%d", i) {
			t.Fatalf("server saw %v", order)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections in all, want 2 (one more for the pipeline)", n)
	}
}

func TestClientRedirectsAreBounded(t *testing.T) {
	srv, _ := testServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		if r.URL.Path == "/once" {
			nethttp.Redirect(w, r, "/done", nethttp.StatusFound)
			return
		}
		if r.URL.Path == "/done" {
			io.WriteString(w, "done")
			return
		}
		nethttp.Redirect(w, r, "/loop", nethttp.StatusFound)
	}), false)
	system, _ := newSystem(t)
	client := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL, MaxRedirects: 3})
	if r, ok := do(t, system, client, &httpmsg.Request{Target: "/once"}).(*httpmsg.Response); !ok || string(r.Body) != "done" || !strings.HasSuffix(r.URL, "/done") {
		t.Fatalf("one redirect: %+v", r)
	}
	f, ok := do(t, system, client, &httpmsg.Request{Target: "/loop"}).(*messages.CommandFailed)
	if !ok || !errors.Is(f.Err, httpmsg.ErrTooManyRedirects) {
		t.Fatalf("loop: %+v", f)
	}
}

func TestClientThroughProxy(t *testing.T) {
	var seen atomic.Value
	proxy, _ := testServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		seen.Store(r.URL.String()) // a forward proxy gets the absolute URL
		io.WriteString(w, "from proxy")
	}), false)
	system, _ := newSystem(t)
	pu, _ := url.Parse(proxy.URL)
	client := startClient(t, system, httpactor.ClientOptions{Origin: "http://origin.test:8080", Proxy: pu})
	r, ok := do(t, system, client, &httpmsg.Request{Target: "/x?y=1"}).(*httpmsg.Response)
	if !ok || string(r.Body) != "from proxy" || seen.Load() != "http://origin.test:8080/x?y=1" {
		t.Fatalf("via proxy: %+v, proxy saw %v", r, seen.Load())
	}
}

func TestClientTLSVerificationAndPinning(t *testing.T) {
	srv, _ := testServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		io.WriteString(w, "secure")
	}), true)
	system, _ := newSystem(t)
	// Verification is on: the test server's certificate is not trusted.
	plain := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL})
	if _, ok := do(t, system, plain, &httpmsg.Request{Target: "/"}).(*messages.CommandFailed); !ok {
		t.Fatal("an untrusted certificate was accepted")
	}
	pin := certs.SHA256(srv.Certificate().Raw)
	pinned := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL, Pins: [][]byte{pin}})
	if r, ok := do(t, system, pinned, &httpmsg.Request{Target: "/"}).(*httpmsg.Response); !ok || string(r.Body) != "secure" {
		t.Fatalf("pinned: %+v", r)
	}
	wrong := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL, Pins: [][]byte{certs.SHA256([]byte("other"))}})
	f, ok := do(t, system, wrong, &httpmsg.Request{Target: "/"}).(*messages.CommandFailed)
	if !ok || !errors.Is(f.Err, certs.ErrPinMismatch) {
		t.Fatalf("wrong pin: %+v", f)
	}
}

func TestClientStreamsChunkedResponseWithCredits(t *testing.T) {
	srv, _ := testServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		for i := range 10 {
			fmt.Fprintf(w, "chunk%d;", i)
			w.(nethttp.Flusher).Flush()
		}
	}), false)
	system, _ := newSystem(t)
	client := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL, ChunkSize: 7})
	probe := testkit.NewProbe(t, system)
	probe.Send(client, &httpmsg.Request{Target: "/", Stream: true, Credits: 2})
	r := testkit.Expect[*httpmsg.Response](probe, 0)
	if !r.Stream || r.StreamID == 0 || r.Body != nil {
		t.Fatalf("stream response %+v", r)
	}
	var got strings.Builder
	for range 2 {
		got.Write(testkit.Expect[*httpmsg.BodyChunk](probe, 0).Data)
	}
	probe.ExpectNoMessage(100 * time.Millisecond) // out of credits
	for {
		probe.Send(client, &httpmsg.ReadBody{StreamID: r.StreamID, Credits: 1})
		e, ok := probe.Next(5 * time.Second)
		if !ok {
			t.Fatal("stream stalled")
		}
		if end, ok := e.Message.(*httpmsg.BodyEnd); ok {
			if end.Err != nil {
				t.Fatal(end.Err)
			}
			break
		}
		got.Write(e.Message.(*httpmsg.BodyChunk).Data)
	}
	want := ""
	for i := range 10 {
		want += fmt.Sprintf("chunk%d;", i)
	}
	if got.String() != want {
		t.Fatalf("streamed %q", got.String())
	}
}

func TestClientTimeoutAndQueueBound(t *testing.T) {
	release := make(chan struct{})
	srv, _ := testServer(t, nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}), false)
	t.Cleanup(func() { close(release) })
	system, _ := newSystem(t)
	client := startClient(t, system, httpactor.ClientOptions{Origin: srv.URL, MaxConns: 1, MaxQueue: 1})
	probe := testkit.NewProbe(t, system)
	probe.Send(client, &httpmsg.Request{Target: "/slow", Timeout: 300 * time.Millisecond, Tag: "a"})
	probe.Send(client, &httpmsg.Request{Target: "/slow", Timeout: 300 * time.Millisecond, Tag: "b"})
	probe.Send(client, &httpmsg.Request{Target: "/slow", Tag: "c"}) // the queue holds one
	full := testkit.Expect[*messages.CommandFailed](probe, 0)
	if !errors.Is(full.Err, httpmsg.ErrQueueFull) {
		t.Fatalf("third request: %v", full.Err)
	}
	for range 2 {
		f := testkit.Expect[*messages.CommandFailed](probe, 0)
		if !errors.Is(f.Err, messages.ErrTimeout) {
			t.Fatalf("slow request: %v", f.Err)
		}
	}
}

// The client actor and the server actor, together.
func TestClientAgainstServerActor(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}})
	client := startClient(t, system, httpactor.ClientOptions{Origin: "http://" + addr.String()})
	r, ok := do(t, system, client, &httpmsg.Request{Method: "PUT", Target: "/both", Body: []byte("ways")}).(*httpmsg.Response)
	if !ok || string(r.Body) != "PUT /both ways" {
		t.Fatalf("%+v", r)
	}
}
