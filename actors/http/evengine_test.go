package http_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/netconn"
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

var (
	_ = context.Background
	_ = net.Dial
	_ = messages.WriteAck{}
	_ = transports.DialOptions{}
	_ = netconn.New
	_ = sim.New
	_ = testkit.Eventually
)

// The malformed requests the net/http engine refuses are refused by the
// event-loop engine too, over raw loopback sockets, and the server keeps
// serving.
func TestEventLoopEngineRefusesMalformedRequests(t *testing.T) {
	checkMalformed(t, onEventLoop(httpactor.Options{}), map[string]string{
		"space before colon": "nbhttp's parser accepts whitespace between a field name and its colon (see the package documentation)",
	})
}
