package tcp_test

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports/evloop"
)

// supervise runs specs under a supervisor with a short backoff.
func (e *env) supervise(name string, specs ...supervisor.ChildSpec) *actor.PID {
	e.t.Helper()
	opts := supervisor.Options{Backoff: supervisor.Backoff{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}, Intensity: 100}
	pid, err := inspect.Spawn(e.system.Root, supervisor.Props(opts, specs...), name, "supervisor", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		f := e.system.Root.RequestFuture(pid, &supervisor.Shutdown{}, 30*time.Second)
		_, _ = f.Result()
		_ = e.system.Root.StopFuture(pid).Wait()
	})
	return pid
}

func freePort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

func TestACrashedConnectionDoesNotTakeTheListenerDown(t *testing.T) {
	e := newEnv(t, nil)
	_, addr := e.listen("l", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
	c1, p1, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	c2, p2, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	echoRoundTrip(t, p1, c1, []byte("a"))
	echoRoundTrip(t, p2, c2, []byte("b"))
	var victim string
	for _, in := range e.registry.Snapshot() {
		if in.Kind == tcp.Kind && len(in.Path) > 2 && in.Path[:2] == "l/" {
			victim = in.Path
			break
		}
	}
	e.system.Root.Send(actor.NewPID(e.system.Address(), victim), tcp.CrashConnection())
	testkit.Eventually(t, 0, func() bool { return e.registry.Lookup(victim) == nil }, "crashed connection stops")
	// One client lost its peer (reset or closed); the other goes on, and
	// the listener still accepts.
	survivors := 0
	for _, pc := range []struct {
		pid *actor.PID
		p   *testkit.Probe
	}{{c1, p1}, {c2, p2}} {
		pc.p.Send(pc.pid, &tcpmsg.Write{Data: []byte("ping")})
		m, ok := pc.p.Next(2 * time.Second)
		if ok {
			if _, closed := m.Message.(*messages.Closed); !closed {
				survivors++
			}
		}
	}
	if survivors != 1 {
		t.Fatalf("%d connections survive, want 1", survivors)
	}
	c3, p3, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	echoRoundTrip(t, p3, c3, []byte("still accepting"))
}

// Under load, the listener crashes: its supervisor restarts it on the same
// port and new clients are served.
func TestCrashedListenerIsRestartedOnTheSamePortUnderLoad(t *testing.T) {
	e := newEnv(t, nil)
	bound := testkit.NewProbe(t, e.system)
	spec := tcp.ListenerSpec("echo", tcp.ListenerOptions{
		Network: e.net, Handler: tcp.EchoHandlerProps,
		Bind: &tcpmsg.Bind{Local: netip.AddrPortFrom(lo4, 0), Handler: bound.PID},
	})
	e.supervise("sup", spec)
	addr := testkit.Expect[*tcpmsg.Bound](bound, 0).Local
	type client struct {
		pid *actor.PID
		p   *testkit.Probe
	}
	var load []client
	for range 8 {
		c, p, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
		echoRoundTrip(t, p, c, []byte("warm"))
		load = append(load, client{c, p})
	}
	for _, c := range load {
		c.p.Send(c.pid, &tcpmsg.Write{Data: bytes.Repeat([]byte("z"), 64<<10)})
	}
	e.system.Root.Send(actor.NewPID(e.system.Address(), "sup/echo"), tcp.CrashListener())
	if again := testkit.FishFor[*tcpmsg.Bound](bound, 0, nil); again.Local != addr {
		t.Fatalf("rebound on %v, want %v", again.Local, addr)
	}
	// The old connections died with the listener.
	for _, c := range load {
		testkit.FishFor[*messages.Closed](c.p, 0, nil)
	}
	for range 4 {
		c, p, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
		echoRoundTrip(t, p, c, []byte("after the crash"))
	}
}

// Stopping a listener drains what each connection had accepted for sending
// before the sockets close.
func TestGracefulStopDrainsAcceptedWrites(t *testing.T) {
	e := newEnv(t, nil)
	server := testkit.NewProbe(t, e.system)
	spec := tcp.ListenerSpec("srv", tcp.ListenerOptions{
		Network: e.net,
		Bind:    &tcpmsg.Bind{Local: netip.AddrPortFrom(lo4, 0), Handler: server.PID},
		Socket:  tcpmsg.SocketOptions{HighWater: 16 << 20},
	})
	sup := e.supervise("sup", spec)
	addr := testkit.Expect[*tcpmsg.Bound](server, 0).Local
	conn, cp, _ := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Remote: addr,
		Options: tcpmsg.ConnectOptions{Socket: tcpmsg.SocketOptions{StartSuspended: true}}})
	a := testkit.FishFor[*tcpmsg.Accepted](server, 0, nil)
	server.Send(a.Conn, &messages.Register{Handler: server.PID})
	const total = 4 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), total/16)
	for i := 0; i < total; i += 256 << 10 {
		server.Send(a.Conn, &tcpmsg.Write{Data: bytes.Clone(payload[i : i+256<<10])})
	}
	stopper := testkit.NewProbe(t, e.system)
	stopper.Send(sup, &supervisor.StopChild{Name: "srv"})
	time.Sleep(50 * time.Millisecond) // the stop is under way; the client has read nothing
	cp.Send(conn, &messages.ResumeReading{})
	if got := readN(t, cp, total); !bytes.Equal(got, payload) {
		t.Fatalf("got %d bytes, not the payload", len(got))
	}
	expectClosed(t, cp, messages.PeerClosed)
	expectClosed(t, server, messages.SupervisorStopped)
	if r := testkit.Expect[*supervisor.ChildRemoved](stopper, 20*time.Second); !r.Stopped {
		t.Fatal("the listener did not stop in time")
	}
}

func TestKeptConnectedClientReconnectsWithBackoff(t *testing.T) {
	e := newEnv(t, nil)
	addr := freePort(t) // nothing listens yet
	h := testkit.NewProbe(t, e.system)
	spec := tcp.ClientSpec("link", tcp.Options{Network: e.net, Connect: &tcpmsg.Connect{Remote: addr, Handler: h.PID}},
		&tcp.Reconnect{MinBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond})
	e.supervise("sup", spec)
	for want := 1; want <= 3; want++ {
		r := testkit.FishFor[*tcpmsg.Reconnecting](h, 0, nil)
		if r.Attempt != want || r.Delay <= 0 || r.Err == nil {
			t.Fatalf("reconnecting %+v, want attempt %d", r, want)
		}
	}
	server := testkit.NewProbe(t, e.system)
	lpid := e.spawn(tcp.ListenerProps(tcp.ListenerOptions{Network: e.net}), "server", tcp.ListenerKind)
	server.Send(lpid, &tcpmsg.Bind{Local: addr})
	testkit.Expect[*tcpmsg.Bound](server, 0)
	testkit.FishFor[*tcpmsg.Connected](h, 10*time.Second, nil)
	a := testkit.FishFor[*tcpmsg.Accepted](server, 0, nil)
	server.Send(a.Conn, &messages.Register{Handler: server.PID})
	// The server drops the link: the client reconnects, attempt 1 again.
	server.Send(a.Conn, &tcpmsg.Abort{})
	expectClosed(t, h, messages.Aborted)
	if r := testkit.FishFor[*tcpmsg.Reconnecting](h, 0, nil); r.Attempt != 1 {
		t.Fatalf("reconnecting %+v", r)
	}
	c := testkit.FishFor[*tcpmsg.Connected](h, 10*time.Second, nil)
	testkit.FishFor[*tcpmsg.Accepted](server, 0, nil)
	h.Send(c.Conn, &tcpmsg.Close{})
	expectClosed(t, h, messages.ClosedByUs)
	h.ExpectNoMessage(100 * time.Millisecond) // closed by us: no reconnection
}

// MeshAgent's most reported bug: memory growing while the server cannot be
// reached. Thousands of failed attempts leave heap and goroutines flat.
func TestThousandsOfFailedAttemptsKeepMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of attempts")
	}
	e := newEnv(t, nil)
	addr := freePort(t)
	h := testkit.NewProbe(t, e.system)
	spec := tcp.ClientSpec("link", tcp.Options{Network: e.net, Connect: &tcpmsg.Connect{Remote: addr, Handler: h.PID}},
		&tcp.Reconnect{MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Jitter: -1})
	e.supervise("sup", spec)
	measure := func() (uint64, int) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc, runtime.NumGoroutine()
	}
	waitAttempt := func(n int) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			env, ok := h.Next(10 * time.Second)
			if !ok {
				t.Fatal("no more attempts")
			}
			if r, ok := env.Message.(*tcpmsg.Reconnecting); ok && r.Attempt >= n {
				return
			}
		}
		t.Fatalf("attempt %d not reached", n)
	}
	waitAttempt(200)
	heap0, gr0 := measure()
	waitAttempt(2000)
	heap1, gr1 := measure()
	t.Logf("after 200 attempts: heap %d KiB, %d goroutines; after 2000: heap %d KiB, %d goroutines", heap0>>10, gr0, heap1>>10, gr1)
	if heap1 > heap0+2<<20 {
		t.Fatalf("heap grew from %d to %d KiB over 1800 failed attempts", heap0>>10, heap1>>10)
	}
	if gr1 > gr0+10 {
		t.Fatalf("goroutines grew from %d to %d", gr0, gr1)
	}
}

// A HereProps handler under a supervisor is run in place again after the
// supervisor restarts it: the restart spawns a new actor under the same
// name, which the connection looks up anew.
func TestARestartedHereHandlerIsRunInPlaceAgain(t *testing.T) {
	e := newEnv(t, evloop.New(evloop.Options{}))
	addr := slowEcho(t, 3*time.Millisecond) // the connection and handler are idle when an echo comes
	type read struct {
		data    string
		inPlace bool
	}
	reads := make(chan read, 64)
	starts := make(chan struct{}, 4)
	spec := supervisor.ChildSpec{Name: "h", Props: func() *actor.Props {
		return dispatch.HereProps(e.system, actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *actor.Started:
				starts <- struct{}{}
			case *tcpmsg.Received:
				reads <- read{string(m.Data), inOnData()}
			}
		}))
	}}
	e.supervise("sup", spec)
	<-starts
	handler := actor.NewPID(e.system.Address(), "sup/h")
	conn := e.system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}))
	p := testkit.NewProbe(t, e.system)
	p.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
	// Connected goes to the handler; the stats show the connection.
	statsUntil(t, p, conn, "connected", func(st *tcpmsg.ConnectionStats) bool { return st.Remote == addr })
	roundTrip := func(msg string) {
		t.Helper()
		p.Send(conn, &tcpmsg.Write{Data: []byte(msg)})
		got := ""
		for got != msg {
			select {
			case r := <-reads:
				if !r.inPlace {
					t.Fatalf("read %q was not run on the transport's goroutine", r.data)
				}
				got += r.data
			case <-time.After(10 * time.Second):
				t.Fatalf("echo of %q: got %q", msg, got)
			}
		}
	}
	roundTrip("before")
	e.system.Root.Send(handler, &messages.Crash{Reason: "test"})
	select {
	case <-starts:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not restarted")
	}
	for i := range 5 {
		roundTrip(fmt.Sprintf("after-%d", i))
	}
	p.Send(conn, &tcpmsg.Close{})
	testkit.FishFor[*messages.Closed](p, 0, nil)
}
