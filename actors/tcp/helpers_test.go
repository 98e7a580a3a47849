package tcp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/osnet"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

var (
	lo4 = netip.MustParseAddr("127.0.0.1")
	lo6 = netip.IPv6Loopback()
)

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

// inOnData reports whether the caller runs inside a stream's OnData, on
// the transport's goroutine: where a connection runs a HereProps handler.
func inOnData() bool {
	stack := make([]byte, 64<<10)
	return bytes.Contains(stack[:runtime.Stack(stack, false)], []byte("tcp.(*events).OnData"))
}

// slowEcho listens on loopback with the net package and echoes what each
// connection reads after delay, so that a connection that wrote has long
// gone idle when the echo comes. It stops with the test.
func slowEcho(t *testing.T, delay time.Duration) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	serveEcho(ln, delay, &wg, func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// serveEcho accepts from ln until it closes, and echoes on a goroutine per
// connection (each counted in wg, each connection given to keep) what the
// connection reads: delay after reading it, or at once through io.Copy
// (which splices socket to socket) when delay is zero.
func serveEcho(ln net.Listener, delay time.Duration, wg *sync.WaitGroup, keep func(net.Conn)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			keep(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				if delay == 0 {
					_, _ = io.Copy(c, c)
					return
				}
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
}

// statsUntil asks conn for its stats from p until cond holds for them.
func statsUntil(t *testing.T, p *testkit.Probe, conn *actor.PID, what string, cond func(*tcpmsg.ConnectionStats) bool) {
	t.Helper()
	testkit.Eventually(t, 5*time.Second, func() bool {
		p.Send(conn, &tcpmsg.GetStats{})
		env, ok := p.Next(time.Second)
		st, isStats := env.Message.(*tcpmsg.ConnectionStats)
		return ok && isStats && cond(st)
	}, what)
}

// onBothBackends runs f as a subtest on each backend, the goroutine
// transport (osnet) and the event loops (evloop), with an env of its own.
func onBothBackends(t *testing.T, f func(t *testing.T, e *env)) {
	for _, b := range []struct {
		name string
		net  func() transports.Network
	}{
		{"osnet", func() transports.Network { return nil }},
		{"evloop", func() transports.Network { return evloop.New(evloop.Options{}) }},
	} {
		t.Run(b.name, func(t *testing.T) { f(t, newEnv(t, b.net())) })
	}
}

func (e *env) spawn(props *actor.Props, name, kind string) *actor.PID {
	e.t.Helper()
	return testkit.Spawn(e.t, e.system, props, name, kind)
}

// listen spawns a listener with opts bound to local and returns it with
// its address.
func (e *env) listen(name string, local netip.AddrPort, opts tcp.ListenerOptions) (*actor.PID, netip.AddrPort) {
	e.t.Helper()
	if opts.Network == nil {
		opts.Network = e.net
	}
	pid := e.spawn(tcp.ListenerProps(opts), name, tcp.ListenerKind)
	p := testkit.NewProbe(e.t, e.system)
	p.Send(pid, &tcpmsg.Bind{Local: local})
	return pid, testkit.Expect[*tcpmsg.Bound](p, 0).Local
}

// echo runs an echo listener on local.
func (e *env) echo(local netip.AddrPort) netip.AddrPort {
	e.t.Helper()
	_, addr := e.listen("echo", local, tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
	return addr
}

// dial spawns a connection actor, sends it cmd from a new probe, and
// returns both once Connected (or the test fails).
func (e *env) dial(name string, opts tcp.Options, cmd *tcpmsg.Connect) (*actor.PID, *testkit.Probe, *tcpmsg.Connected) {
	e.t.Helper()
	pid, p := e.dialAsync(name, opts, cmd)
	env, ok := p.Next(10 * time.Second)
	if !ok {
		e.t.Fatalf("no answer to Connect")
	}
	c, ok := env.Message.(*tcpmsg.Connected)
	if !ok {
		e.t.Fatalf("connect: got %T %v", env.Message, env.Message)
	}
	return pid, p, c
}

func (e *env) dialAsync(name string, opts tcp.Options, cmd *tcpmsg.Connect) (*actor.PID, *testkit.Probe) {
	e.t.Helper()
	if opts.Network == nil {
		opts.Network = e.net
	}
	pid := e.spawn(tcp.ConnectionProps(opts), name, tcp.Kind)
	p := testkit.NewProbe(e.t, e.system)
	p.Send(pid, cmd)
	return pid, p
}

// readN gathers Received data on p until n bytes came.
func readN(t *testing.T, p *testkit.Probe, n int) []byte {
	t.Helper()
	var got []byte
	for len(got) < n {
		r := testkit.FishFor[*tcpmsg.Received](p, 10*time.Second, nil)
		got = append(got, r.Data...)
	}
	return got
}

func expectClosed(t *testing.T, p *testkit.Probe, want messages.CloseReason) *messages.Closed {
	t.Helper()
	c := testkit.FishFor[*messages.Closed](p, 10*time.Second, nil)
	if c.Reason != want {
		t.Fatalf("closed %v (%v), want %v", c.Reason, c.Err, want)
	}
	return c
}

func expectFailed(t *testing.T, p *testkit.Probe, want ...error) *messages.CommandFailed {
	t.Helper()
	f := testkit.FishFor[*messages.CommandFailed](p, 25*time.Second, nil)
	for _, w := range want {
		if !errors.Is(f.Err, w) {
			t.Fatalf("CommandFailed %v: not %v", f.Err, w)
		}
	}
	return f
}

// echoRoundTrip writes msg through conn and expects it back.
func echoRoundTrip(t *testing.T, p *testkit.Probe, conn *actor.PID, msg []byte) {
	t.Helper()
	p.Send(conn, &tcpmsg.Write{Data: bytes.Clone(msg), Ack: "w"})
	var got []byte
	acked := false
	p.CollectUntil(10*time.Second, func(ms []any) bool {
		if len(ms) > 0 {
			switch m := ms[len(ms)-1].(type) {
			case *messages.WriteAck:
				acked = acked || m.Ack == "w"
			case *tcpmsg.Received:
				got = append(got, m.Data...)
			}
		}
		return acked && len(got) >= len(msg)
	})
	if !bytes.Equal(got, msg) {
		t.Fatalf("echo %q, want %q", got, msg)
	}
}

// staticResolver answers every name with the same addresses, or with the
// addresses of its map.
type staticResolver map[string][]netip.Addr

func (r staticResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	if a, ok := r["*"]; ok {
		return a, nil
	}
	return nil, errors.New("no such host " + host)
}
