package tcp_test

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/internal/cputime"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Client connections, 50 of them, each with one 64 B message in flight to
// a plain Go echo server in this process: a round trip per operation over
// all connections. Sides: "raw", a goroutine per net.Conn writing and
// reading; the connection actor (ConnectionProps) on each network, whose
// handler writes the next message when the last one is back, as an agent
// talking to its server would (spawned with dispatch.HereProps, so that
// the connection runs it in place). The system has a dispatch pool, as a
// chain's does. The server runs in another process: ns/op and cpu-ns/op
// (this process's CPU per round trip) are the client's.
func BenchmarkClientRoundTrip(b *testing.B) {
	const conns, size = 50, 64
	b.Run("raw", func(b *testing.B) {
		addr := benchEchoServer(b)
		var left atomic.Int64
		left.Store(int64(b.N))
		var wg sync.WaitGroup
		start := benchStart(b)
		for range conns {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				b.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				msg, in := make([]byte, size), make([]byte, size)
				for left.Add(-1) >= 0 {
					if _, err := c.Write(msg); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(c, in); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		benchStop(b, start)
	})
	for _, side := range []struct {
		name string
		net  func() transports.Network
	}{
		{"actor-osnet", func() transports.Network { return osnet.New(osnet.Options{}) }},
		{"actor-evloop", func() transports.Network { return evloop.New(evloop.Options{}) }},
	} {
		b.Run(side.name, func(b *testing.B) {
			addr := benchEchoServer(b)
			quiet := slog.New(slog.DiscardHandler)
			system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
			pool := dispatch.NewPool(dispatch.Options{})
			dispatch.Install(system, pool)
			defer pool.Close()
			defer system.Shutdown()
			n := side.net()
			var left atomic.Int64
			left.Store(int64(b.N))
			done := make(chan struct{}, conns)
			var pids []*actor.PID
			start := benchStart(b)
			for range conns {
				got := 0
				handler := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
					switch m := ctx.Message().(type) {
					case *tcpmsg.Connected:
						left.Add(-1)
						ctx.Send(ctx.Sender(), &tcpmsg.Write{Data: make([]byte, size)})
					case *tcpmsg.Received:
						if got += len(m.Data); got < size {
							return
						}
						got = 0
						if left.Add(-1) < 0 {
							done <- struct{}{}
							return
						}
						ctx.Send(ctx.Sender(), &tcpmsg.Write{Data: make([]byte, size)})
					}
				})))
				conn := system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: n}))
				system.Root.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
				pids = append(pids, conn, handler)
			}
			for range conns {
				select {
				case <-done:
				case <-time.After(time.Minute):
					b.Fatal("round trips did not end")
				}
			}
			benchStop(b, start)
			for _, pid := range pids {
				_ = system.Root.StopFuture(pid).Wait()
			}
		})
	}
}

// benchEchoServer starts a goroutine-per-connection echo on loopback in a
// child process (this test binary again, see init), so that the
// benchmark's process CPU is the client's alone, and stops it when the
// benchmark ends.
func benchEchoServer(b *testing.B) netip.AddrPort {
	cmd := exec.Command(os.Args[0], "-test.run", "^$")
	cmd.Env = append(os.Environ(), benchEchoEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		in.Close() // the child exits when its stdin ends
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("echo child: %v", err)
	}
	addr, err := netip.ParseAddrPort(strings.TrimSpace(line))
	if err != nil {
		b.Fatalf("echo child said %q: %v", line, err)
	}
	return addr
}

// benchEchoEnv makes this test binary an echo server (benchEchoServer).
const benchEchoEnv = "TCP_BENCH_ECHO_CHILD"

func init() {
	if os.Getenv(benchEchoEnv) == "" {
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr())
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}

type benchClock struct{ cpu time.Duration }

func benchStart(b *testing.B) benchClock {
	b.ReportAllocs()
	b.ResetTimer()
	return benchClock{cputime.Process()}
}

func benchStop(b *testing.B, c benchClock) {
	b.StopTimer()
	b.ReportMetric(float64(cputime.Process()-c.cpu)/float64(b.N), "cpu-ns/op")
}
