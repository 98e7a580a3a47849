package tcp_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
)

func TestConnectEchoAndCloseOverLoopback(t *testing.T) {
	for _, lo := range []netip.Addr{lo4, lo6} {
		t.Run(lo.String(), func(t *testing.T) {
			e := newEnv(t, nil)
			addr := e.echo(netip.AddrPortFrom(lo, 0))
			conn, p, c := e.dial("client", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
			if c.Remote != addr || !c.Local.Addr().IsLoopback() || c.TLS != nil || c.Proxy != nil || !c.Conn.Equal(conn) {
				t.Fatalf("connected %+v", c)
			}
			echoRoundTrip(t, p, conn, []byte("hello, microstack"))
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
			echoRoundTrip(t, p, conn, big)
			// bytes_out follows the transport's report of the write, which
			// can reach the actor after the echo does.
			testkit.Eventually(t, 5*time.Second, func() bool {
				n := e.registry.Lookup("client")
				return n != nil && n.Counter("bytes_out") == int64(len(big)+17)
			}, "bytes_out counter = %d", len(big)+17)
			p.Send(conn, &tcpmsg.Close{})
			expectClosed(t, p, messages.ClosedByUs)
			testkit.Eventually(t, 0, func() bool { return e.registry.Lookup("client") == nil }, "connection actor stops")
		})
	}
}

func TestRefusedConnectFailsWithTheCause(t *testing.T) {
	e := newEnv(t, nil)
	lpid, addr := e.listen("gone", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
	_ = e.system.Root.StopFuture(lpid).Wait()
	_, p := e.dialAsync("client", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	f := expectFailed(t, p, transports.ErrRefused)
	if _, ok := f.Cmd.(*tcpmsg.Connect); !ok {
		t.Fatalf("failed command %T", f.Cmd)
	}
}

func TestBadConnectCommandsAreAnswered(t *testing.T) {
	e := newEnv(t, nil)
	for _, cmd := range []*tcpmsg.Connect{
		{},
		{Remote: netip.MustParseAddrPort("127.0.0.1:1"), Host: "x:1"},
		{Host: "no-port"},
		{Host: "x:99999"},
		{Host: "x:1", Options: tcpmsg.ConnectOptions{Proxy: "ftp://proxy:1"}},
		{Host: "x:1", Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Pins: [][]byte{{1, 2}}}}},
	} {
		_, p := e.dialAsync("", tcp.Options{}, cmd)
		expectFailed(t, p, messages.ErrBadCommand)
	}
}

// The peer closes: the handler gets Closed{PeerClosed}; the peer aborts:
// Closed{Aborted} with the reset as the error.
func TestPeerCloseAndAbortAreReported(t *testing.T) {
	e := newEnv(t, nil)
	server := testkit.NewProbe(t, e.system)
	_, addr2 := e.listenWithHandler(t, server)
	accept := func() *actor.PID {
		a := testkit.FishFor[*tcpmsg.Accepted](server, 0, nil)
		server.Send(a.Conn, &messages.Register{Handler: server.PID})
		return a.Conn
	}

	conn, p, _ := e.dial("c1", tcp.Options{}, &tcpmsg.Connect{Remote: addr2})
	sc := accept()
	server.Send(sc, &tcpmsg.Write{Data: []byte("bye")})
	server.Send(sc, &tcpmsg.Close{})
	expectClosed(t, server, messages.ClosedByUs)
	if got := readN(t, p, 3); string(got) != "bye" {
		t.Fatalf("got %q", got)
	}
	expectClosed(t, p, messages.PeerClosed)
	_ = conn

	_, p2, _ := e.dial("c2", tcp.Options{}, &tcpmsg.Connect{Remote: addr2})
	sc2 := accept()
	server.Send(sc2, &tcpmsg.Abort{})
	expectClosed(t, server, messages.Aborted)
	c := expectClosed(t, p2, messages.Aborted)
	if !errors.Is(c.Err, transports.ErrReset) {
		t.Fatalf("abort seen by the peer as %v", c.Err)
	}
}

// listenWithHandler binds a listener whose Accepted events go to h.
func (e *env) listenWithHandler(t *testing.T, h *testkit.Probe) (*actor.PID, netip.AddrPort) {
	t.Helper()
	pid := e.spawn(tcp.ListenerProps(tcp.ListenerOptions{Network: e.net}), "", tcp.ListenerKind)
	h.Send(pid, &tcpmsg.Bind{Local: netip.AddrPortFrom(lo4, 0)})
	return pid, testkit.Expect[*tcpmsg.Bound](h, 0).Local
}

func TestHalfCloseKeepsTheOtherDirectionOpen(t *testing.T) {
	e := newEnv(t, nil)
	server := testkit.NewProbe(t, e.system)
	pid := e.spawn(tcp.ListenerProps(tcp.ListenerOptions{Network: e.net, Socket: tcpmsg.SocketOptions{KeepOpenOnPeerClosed: true}}), "l", tcp.ListenerKind)
	server.Send(pid, &tcpmsg.Bind{Local: netip.AddrPortFrom(lo4, 0)})
	addr := testkit.Expect[*tcpmsg.Bound](server, 0).Local
	conn, p, _ := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Remote: addr})
	a := testkit.FishFor[*tcpmsg.Accepted](server, 0, nil)
	server.Send(a.Conn, &messages.Register{Handler: server.PID})
	p.Send(conn, &tcpmsg.Write{Data: []byte("question")})
	p.Send(conn, &tcpmsg.CloseWrite{})
	if got := readN(t, server, 8); string(got) != "question" {
		t.Fatalf("server got %q", got)
	}
	testkit.FishFor[*tcpmsg.PeerHalfClosed](server, 0, nil)
	server.Send(a.Conn, &tcpmsg.Write{Data: []byte("answer")})
	server.Send(a.Conn, &tcpmsg.Close{})
	if got := readN(t, p, 6); string(got) != "answer" {
		t.Fatalf("client got %q", got)
	}
	expectClosed(t, p, messages.PeerClosed)
	expectClosed(t, server, messages.ClosedByUs)
}

func TestIdleTimeoutClosesAQuietConnection(t *testing.T) {
	e := newEnv(t, nil)
	addr := e.echo(netip.AddrPortFrom(lo4, 0))
	_, p, _ := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Remote: addr, Options: tcpmsg.ConnectOptions{
		Socket: tcpmsg.SocketOptions{IdleTimeout: 100 * time.Millisecond},
	}})
	c := expectClosed(t, p, messages.ErrorClosed)
	if !errors.Is(c.Err, tcpmsg.ErrIdleTimeout) {
		t.Fatalf("closed with %v", c.Err)
	}
}

func TestWritesBeforeConnectedAndAfterCloseFail(t *testing.T) {
	e := newEnv(t, nil)
	pid := e.spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}), "c", tcp.Kind)
	p := testkit.NewProbe(t, e.system)
	p.Send(pid, &tcpmsg.Write{Data: []byte("x")})
	expectFailed(t, p, messages.ErrNotConnected)
	p.Send(pid, "nonsense")
	expectFailed(t, p, messages.ErrUnknownCommand)
}

// A client connection has a dispatch.Mailbox, as the listener's
// connections do: the transport's goroutine runs the idle actor with each
// read (PostHere) instead of waking another goroutine, and the actor runs
// on the system's dispatch pool. On both backends.
func TestClientConnectionHasADispatchMailbox(t *testing.T) {
	onBothBackends(t, func(t *testing.T, e *env) {
		addr := e.echo(netip.AddrPortFrom(lo4, 0))
		// Spawned as a user would, without the test registry's
		// tracking (which sets a mailbox of its own).
		conn := e.system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}))
		p := testkit.NewProbe(t, e.system)
		p.Send(conn, &tcpmsg.Connect{Remote: addr})
		testkit.Expect[*tcpmsg.Connected](p, 0)
		if _, _, ok := dispatch.Find(e.system, conn); !ok {
			t.Fatal("the client connection's mailbox is not a dispatch.Mailbox")
		}
		for range 20 {
			echoRoundTrip(t, p, conn, []byte("hello, microstack"))
		}
		p.Send(conn, &tcpmsg.Close{})
		expectClosed(t, p, messages.ClosedByUs)

		// Under a supervisor, which spawns with the spec's mailbox:
		// a temporary client and a kept one.
		h := testkit.NewProbe(t, e.system)
		opts := tcp.Options{Network: e.net, Connect: &tcpmsg.Connect{Remote: addr, Handler: h.PID}}
		e.supervise("sup", tcp.ClientSpec("once", opts, nil), tcp.ClientSpec("kept", opts, &tcp.Reconnect{}))
		var clients []*actor.PID
		for range 2 {
			clients = append(clients, testkit.FishFor[*tcpmsg.Connected](h, 10*time.Second, nil).Conn)
		}
		for _, c := range clients {
			if _, _, ok := dispatch.Find(e.system, c); !ok {
				t.Fatalf("the supervised client %s has no dispatch.Mailbox", c.Id)
			}
			echoRoundTrip(t, h, c, []byte("supervised"))
		}
	})
}

// A client's handler spawned with dispatch.HereProps is run in place: its
// reads are handled on the transport's goroutine, inside the stream's
// OnData, and its writes go out from there; in order, on both backends.
// Once it has stopped, what the connection sends it goes to dead letters.
//
// The handler writes each message on reading the echo of the one before,
// and the echo comes 3 ms after the write, so that the connection is idle
// when it comes. (A read that comes while the connection is still busy,
// with the write that caused it, say, waits for it and is run by the pool:
// a stream that writes directly, as both do, can see a loopback echo
// before the write's handling ends. Only the first read, written from the
// test's probe, is allowed that here.)
func TestClientRunsAHereHandlerInPlace(t *testing.T) {
	onBothBackends(t, func(t *testing.T, e *env) {
		addr := slowEcho(t, 3*time.Millisecond)
		type read struct {
			data    string
			inPlace bool
		}
		const count = 50
		reads := make(chan read, 2*count)
		p := testkit.NewProbe(t, e.system)
		var to *actor.PID  // the connection, as the handler was told
		var pending string // what the handler has read of the current echo
		next := 1
		handler := e.system.Root.Spawn(dispatch.HereProps(e.system, actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *tcpmsg.Received:
				reads <- read{string(m.Data), inOnData()}
				pending += string(m.Data)
				if strings.HasSuffix(pending, ">") && next < count {
					pending = ""
					ctx.Send(to, &tcpmsg.Write{Data: fmt.Appendf(nil, "<%d>", next)})
					next++
				}
			case *tcpmsg.Connected:
				to = m.Conn
				ctx.Send(p.PID, m)
			}
		})))
		conn := e.system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}))
		p.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
		testkit.Expect[*tcpmsg.Connected](p, 0)
		var got strings.Builder
		want := ""
		for i := range count {
			want += fmt.Sprintf("<%d>", i)
		}
		p.Send(conn, &tcpmsg.Write{Data: []byte("<0>")})
		for n := 0; got.Len() < len(want); n++ {
			select {
			case r := <-reads:
				if !r.inPlace && got.Len() >= len("<0>") {
					t.Fatalf("the HereProps handler was not run on the transport's goroutine (read %d, %q)", n, r.data)
				}
				got.WriteString(r.data)
			case <-time.After(10 * time.Second):
				t.Fatalf("echo stopped after %q", got.String())
			}
		}
		if got.String() != want {
			t.Fatalf("echoed %q, want %q", got.String(), want)
		}

		dead := make(chan string, 16)
		sub := e.system.EventStream.Subscribe(func(evt any) {
			if d, ok := evt.(*actor.DeadLetterEvent); ok && d.PID.Equal(handler) {
				if r, ok := d.Message.(*tcpmsg.Received); ok {
					dead <- string(r.Data)
				}
			}
		})
		defer e.system.EventStream.Unsubscribe(sub)
		_ = e.system.Root.StopFuture(handler).Wait()
		p.Send(conn, &tcpmsg.Write{Data: []byte("after")})
		select {
		case d := <-dead:
			if !strings.HasPrefix("after", d) {
				t.Fatalf("dead letter %q", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a read for the stopped handler did not go to dead letters")
		}
		p.Send(conn, &tcpmsg.Close{})
		expectClosed(t, p, messages.ClosedByUs)
	})
}

// A HereProps handler that panics while run in place fails alone: its
// supervisor restarts it, the connection goes on, and the reads after the
// panic reach the restarted handler.
func TestAPanicInAHereHandlerLeavesTheConnectionRunning(t *testing.T) {
	e := newEnv(t, evloop.New(evloop.Options{}))
	addr := e.echo(netip.AddrPortFrom(lo4, 0))
	p := testkit.NewProbe(t, e.system)
	reads := make(chan string, 64)
	starts := make(chan struct{}, 4)
	handler := e.system.Root.Spawn(dispatch.HereProps(e.system, actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			starts <- struct{}{}
		case *tcpmsg.Received:
			if strings.Contains(string(m.Data), "boom") {
				panic("boom")
			}
			reads <- string(m.Data)
		case *tcpmsg.Connected, *messages.Closed:
			ctx.Send(p.PID, m)
		}
	})))
	defer func() { _ = e.system.Root.StopFuture(handler).Wait() }()
	conn := e.system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}))
	p.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
	testkit.Expect[*tcpmsg.Connected](p, 0)
	<-starts
	p.Send(conn, &tcpmsg.Write{Data: []byte("boom")})
	select {
	case <-starts: // restarted after the panic
	case <-time.After(10 * time.Second):
		t.Fatal("the handler was not restarted after its panic")
	}
	p.Send(conn, &tcpmsg.Write{Data: []byte("after")})
	var got string
	for got != "after" {
		select {
		case r := <-reads:
			got += r
		case <-time.After(10 * time.Second):
			t.Fatalf("after the panic the handler got %q", got)
		}
	}
	p.Send(conn, &tcpmsg.Close{})
	expectClosed(t, p, messages.ClosedByUs)
}

// An accepted connection runs a HereProps handler in place too, whether
// the listener's factory made it (a tracked child of the connection) or a
// Register named it: each read is handled inside the stream's OnData, and
// the handler's echo goes out from there.
func TestAcceptedConnectionRunsAHereHandlerInPlace(t *testing.T) {
	onBothBackends(t, func(t *testing.T, e *env) {
		outside := make(chan string, 16)
		echo := func() *actor.Props {
			return dispatch.HereProps(e.system, actor.PropsFromFunc(func(ctx actor.Context) {
				if m, ok := ctx.Message().(*tcpmsg.Received); ok {
					// The first read may come while the handler is still
					// starting (busy): that one is run by the pool.
					if string(m.Data) != "<0>" && !inOnData() {
						select {
						case outside <- string(m.Data):
						default:
						}
					}
					ctx.Send(ctx.Sender(), &tcpmsg.Write{Data: m.Data})
				}
			}))
		}
		roundTrips := func(addr netip.AddrPort) error {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			for i := range 20 {
				msg := fmt.Sprintf("<%d>", i)
				if _, err := io.WriteString(c, msg); err != nil {
					return err
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
					return fmt.Errorf("echo %q: %q %v", msg, got, err)
				}
			}
			select {
			case d := <-outside:
				return fmt.Errorf("read %q handled off the transport's goroutine", d)
			default:
				return nil
			}
		}

		_, addr := e.listen("factory", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: echo})
		if err := roundTrips(addr); err != nil {
			t.Fatal("factory: ", err)
		}

		sp := testkit.NewProbe(t, e.system)
		lpid := e.spawn(tcp.ListenerProps(tcp.ListenerOptions{Network: e.net}), "register", tcp.ListenerKind)
		sp.Send(lpid, &tcpmsg.Bind{Local: netip.AddrPortFrom(lo4, 0)})
		addr = testkit.Expect[*tcpmsg.Bound](sp, 0).Local
		done := make(chan error, 1)
		go func() { done <- roundTrips(addr) }()
		a := testkit.FishFor[*tcpmsg.Accepted](sp, 0, nil)
		handler := e.system.Root.Spawn(echo())
		defer func() { _ = e.system.Root.StopFuture(handler).Wait() }()
		sp.Send(a.Conn, &messages.Register{Handler: handler})
		if err := <-done; err != nil {
			t.Fatal("register: ", err)
		}
	})
}

// A HereProps handler that stopped, whose name another HereProps actor
// then takes, is looked up again: the new one is run in place.
func TestANewHereHandlerUnderAStoppedOnesNameIsRunInPlace(t *testing.T) {
	e := newEnv(t, evloop.New(evloop.Options{}))
	addr := slowEcho(t, 3*time.Millisecond) // the connection is idle when an echo comes
	type read struct {
		gen     int
		inPlace bool
	}
	reads := make(chan read, 16)
	spawn := func(gen int) *actor.PID {
		pid, err := e.system.Root.SpawnNamed(dispatch.HereProps(e.system, actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*tcpmsg.Received); ok {
				reads <- read{gen, inOnData()}
			}
		})), "handler")
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}
	handler := spawn(1)
	conn := e.system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}))
	p := testkit.NewProbe(t, e.system)
	p.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
	// Connected goes to the handler; the stats show the connection.
	statsUntil(t, p, conn, "connected", func(st *tcpmsg.ConnectionStats) bool { return st.Remote == addr })
	next := func() read {
		t.Helper()
		select {
		case r := <-reads:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no read reached a handler")
			return read{}
		}
	}
	p.Send(conn, &tcpmsg.Write{Data: []byte("1")})
	if r := next(); r.gen != 1 || !r.inPlace {
		t.Fatalf("first handler: %+v", r)
	}
	_ = e.system.Root.StopFuture(handler).Wait()
	p.Send(conn, &tcpmsg.Write{Data: []byte("2")}) // to dead letters
	statsUntil(t, p, conn, "the echo of 2 read", func(st *tcpmsg.ConnectionStats) bool { return st.BytesIn == 2 })
	second := spawn(2)
	defer func() { _ = e.system.Root.StopFuture(second).Wait() }()
	p.Send(conn, &tcpmsg.Write{Data: []byte("3")})
	if r := next(); r.gen != 2 || !r.inPlace {
		t.Fatalf("second handler: %+v", r)
	}
	p.Send(conn, &tcpmsg.Close{})
	testkit.FishFor[*messages.Closed](p, 0, nil)
}

// A handler with a dispatch.Mailbox given otherwise than by HereProps did
// not agree to be run in place: its reads reach it on another goroutine.
func TestOnlyHerePropsHandlersAreRunInPlace(t *testing.T) {
	e := newEnv(t, evloop.New(evloop.Options{}))
	addr := e.echo(netip.AddrPortFrom(lo4, 0))
	p := testkit.NewProbe(t, e.system)
	inPlace := make(chan bool, 16)
	handler := e.system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *tcpmsg.Connected:
			ctx.Send(p.PID, m)
		case *tcpmsg.Received:
			inPlace <- inOnData()
		}
	}, actor.WithMailbox(func() actor.Mailbox { return dispatch.NewMailbox() })))
	defer func() { _ = e.system.Root.StopFuture(handler).Wait() }()
	conn := e.system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: e.net}))
	p.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
	testkit.Expect[*tcpmsg.Connected](p, 0)
	for i := range 5 {
		p.Send(conn, &tcpmsg.Write{Data: []byte{byte(i)}})
		select {
		case here := <-inPlace:
			if here {
				t.Fatal("a handler not spawned with HereProps was run in place")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no read reached the handler")
		}
	}
	p.Send(conn, &tcpmsg.Close{})
	expectClosed(t, p, messages.ClosedByUs)
}
