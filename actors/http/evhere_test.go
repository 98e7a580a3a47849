package http_test

import (
	"bufio"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports/evloop"
)

// onConnStack reports whether the calling goroutine is one that serves a
// connection of engine: an event loop's, or net/http's for the connection.
func onConnStack(engine httpactor.Engine) bool {
	frame := "transports/evloop.(*loop).run"
	if engine == httpactor.EngineNetHTTP {
		frame = "net/http.(*conn).serve"
	}
	buf := make([]byte, 64<<10)
	return strings.Contains(string(buf[:runtime.Stack(buf, false)]), frame)
}

// placeCounter is a HereProps route actor, on a system with a dispatch
// pool, that counts the requests it handles on a goroutine serving a
// connection of engine and elsewhere, panics on a path ending in /panic,
// and answers the others with their path and body. started has a value
// once it has started (again after a restart).
type placeCounter struct {
	pid                *actor.PID
	inPlace, elsewhere atomic.Int64
	started            chan struct{}
}

func newPlaceCounter(t *testing.T, system *actor.ActorSystem, engine httpactor.Engine) *placeCounter {
	pool := dispatch.NewPool(dispatch.Options{})
	t.Cleanup(pool.Close)
	dispatch.Install(system, pool)
	pc := &placeCounter{started: make(chan struct{}, 1)}
	pc.pid = system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		switch req := ctx.Message().(type) {
		case *actor.Started:
			select {
			case pc.started <- struct{}{}:
			default:
			}
		case *httpmsg.Request:
			if onConnStack(engine) {
				pc.inPlace.Add(1)
			} else {
				pc.elsewhere.Add(1)
			}
			if strings.HasSuffix(req.Path, "/panic") {
				panic("handler panics")
			}
			ctx.Respond(&httpmsg.Response{Body: fmt.Appendf(nil, "%s %s", req.Path, req.Body)})
		}
	})))
	return pc
}

// On the net/http engine, a route actor spawned with dispatch.HereProps is
// run by net/http's goroutine for the connection, with no hand-off to
// another thread and back; a panic is the actor's supervisor's business,
// and a stopped actor's route answers 503.
func TestNetHTTPEngineRunsHerePropsActorsOnTheConnectionsGoroutine(t *testing.T) {
	system, _ := newSystem(t)
	pc := newPlaceCounter(t, system, httpactor.EngineNetHTTP)
	here := pc.pid
	<-pc.started
	_, addr := startServer(t, system, httpactor.Options{
		HandlerTimeout: 300 * time.Millisecond,
		Routes:         []httpactor.Route{{Pattern: "/", Actor: here}},
	})
	conn := rawConn(t, addr)
	br := bufio.NewReader(conn)
	for i := range 20 {
		fmt.Fprintf(conn, "POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d", i, i%10)
		resps, bodies, err := readResponses(br, 1)
		if want := fmt.Sprintf("/%d %d", i, i%10); err != nil || resps[0].StatusCode != 200 || bodies[0] != want {
			t.Fatalf("request %d: %v %q %v, want %q", i, resps, bodies, err, want)
		}
	}
	// The first may find the actor still finishing its Started (then the
	// pool runs it); every other one must run in place.
	if pc.inPlace.Load() < 19 {
		t.Fatalf("%d of 20 requests ran on the connection's goroutine, %d elsewhere", pc.inPlace.Load(), pc.elsewhere.Load())
	}
	io.WriteString(conn, "GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
	resps, bodies, err := readResponses(br, 2)
	if err != nil || resps[0].StatusCode != 504 || resps[1].StatusCode != 200 || bodies[1] != "/after " {
		t.Fatalf("after a panic: %v %q %v", resps, bodies, err)
	}
	if err := system.Root.StopFuture(here).Wait(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET /gone HTTP/1.1\r\nHost: x\r\n\r\n")
	if resps, _, err = readResponses(br, 1); err != nil || resps[0].StatusCode != 503 {
		t.Fatalf("stopped HereProps actor: %v %v", resps, err)
	}
}

// A route actor spawned with dispatch.HereProps is run by the connection's
// event loop while it is idle; pipelined requests keep their order, a
// panic is the actor's supervisor's business, and once the actor stops
// its route answers 503 as for any stopped handler.
func TestEventLoopEngineRunsHerePropsActorsOnTheLoop(t *testing.T) {
	if !evloop.Supported {
		t.Skip("no event loops on this system")
	}
	system, _ := newSystem(t)
	pc := newPlaceCounter(t, system, httpactor.EngineEventLoop)
	here := pc.pid
	slow := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			to := req.ReplyTo
			time.AfterFunc(50*time.Millisecond, func() { system.Root.Send(to, &httpmsg.Response{Body: []byte("slow")}) })
		}
	}))
	stopActor(t, system, slow)
	_, addr := startServer(t, system, onEventLoop(httpactor.Options{
		HandlerTimeout: 300 * time.Millisecond,
		Routes: []httpactor.Route{
			{Pattern: "/here/", Actor: here},
			{Pattern: "/slow", Actor: slow},
		},
	}))

	conn := rawConn(t, addr)
	var raw strings.Builder
	want := []string{}
	for i := range 20 {
		if i%5 == 2 {
			raw.WriteString("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
			want = append(want, "slow")
			continue
		}
		fmt.Fprintf(&raw, "POST /here/%d HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n%d", i, i%10)
		want = append(want, fmt.Sprintf("/here/%d %d", i, i%10))
	}
	if _, err := io.WriteString(conn, raw.String()); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resps, bodies, err := readResponses(br, len(want))
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if resps[i].StatusCode != 200 || bodies[i] != want[i] {
			t.Fatalf("response %d: %d %q, want %q", i, resps[i].StatusCode, bodies[i], want[i])
		}
	}
	if pc.inPlace.Load() == 0 {
		t.Fatalf("the HereProps actor never ran on the event loop (%d times elsewhere)", pc.elsewhere.Load())
	}

	// A panic restarts the actor (protoactor's default strategy); the
	// request it dropped times out, and the next one is answered.
	io.WriteString(conn, "GET /here/panic HTTP/1.1\r\nHost: x\r\n\r\nGET /here/after HTTP/1.1\r\nHost: x\r\n\r\n")
	resps, bodies, err = readResponses(br, 2)
	if err != nil || resps[0].StatusCode != 504 || resps[1].StatusCode != 200 || bodies[1] != "/here/after " {
		t.Fatalf("after a panic: %v %q %v", resps, bodies, err)
	}

	if err := system.Root.StopFuture(here).Wait(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET /here/gone HTTP/1.1\r\nHost: x\r\n\r\n")
	resps, _, err = readResponses(br, 1)
	if err != nil || resps[0].StatusCode != 503 {
		t.Fatalf("stopped HereProps actor: %v %v", resps, err)
	}
}

// A HereProps route actor under a supervisor is run on the loop (on the
// net/http engine, net/http's goroutine for the connection) again after
// the supervisor restarts it (a new actor under the same name, which the
// route looks up anew), and the requests before and after are answered.
func TestEventLoopEngineRunsARestartedHereActorOnTheLoopAgain(t *testing.T) {
	forEngine(t, runsARestartedHereActorInPlaceAgain)
}

func runsARestartedHereActorInPlaceAgain(t *testing.T, engine httpactor.Engine) {
	system, _ := newSystem(t)
	starts := make(chan struct{}, 4)
	var elsewhere atomic.Int64
	spec := supervisor.ChildSpec{Name: "hello", Props: func() *actor.Props {
		return dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				starts <- struct{}{}
			case *httpmsg.Request:
				if !onConnStack(engine) {
					elsewhere.Add(1)
				}
				ctx.Respond(&httpmsg.Response{Body: []byte(m.Path)})
			}
		}))
	}}
	sup, err := inspect.Spawn(system.Root, supervisor.Props(supervisor.Options{}, spec), "sup", "supervisor", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(sup).Wait() })
	<-starts
	hello := actor.NewPID(system.Address(), "sup/hello")
	opts := httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: hello}}}
	if engine == httpactor.EngineEventLoop {
		opts = onEventLoop(opts)
	}
	_, addr := startServer(t, system, opts)
	conn := rawConn(t, addr)
	br := bufio.NewReader(conn)
	ask := func(path string) {
		t.Helper()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		resps, bodies, err := readResponses(br, 1)
		if err != nil || resps[0].StatusCode != 200 || bodies[0] != path {
			t.Fatalf("%s: %v %q %v", path, resps, bodies, err)
		}
		if n := elsewhere.Load(); n != 0 {
			t.Fatalf("%s: the HereProps actor ran off the connection's goroutine %d times", path, n)
		}
	}
	// The first request after a start may find the actor still finishing
	// its Started (the pool then runs it): it is not counted.
	settle := func(path string) {
		t.Helper()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
		if _, _, err := readResponses(br, 1); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		elsewhere.Store(0)
	}
	settle("/settle")
	ask("/before")
	system.Root.Send(hello, &messages.Crash{Reason: "test"})
	select {
	case <-starts:
	case <-time.After(10 * time.Second):
		t.Fatal("the route actor was not restarted")
	}
	settle("/settle/again")
	for i := range 5 {
		ask(fmt.Sprintf("/after/%d", i))
	}
}
