package tcp_test

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/internal/cputime"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/osnet"
)

var (
	rtRounds = flag.Int("client.rounds", 3, "BenchmarkClientRoundTrip: rounds per side, alternating")
	rtTrips  = flag.Int("client.trips", 100000, "BenchmarkClientRoundTrip: round trips per round, over all connections")
)

// rtConns and rtSize shape BenchmarkClientRoundTrip's load.
const rtConns, rtSize = 50, 64

// BenchmarkClientRoundTrip compares client connections: 50 of them, each
// with one 64 B message in flight, to a goroutine-per-connection echo in
// another process (so that this process's CPU is the client's alone).
// Sides: "raw", a goroutine per net.Conn writing and reading; the
// connection actor (ConnectionProps) on each network, whose handler writes
// the next message when the last one is back, as an agent talking to its
// server would, spawned with dispatch.HereProps so that the connection
// runs it in place; the system has a dispatch pool, as a chain's does.
// The sides run in turn, -client.rounds times; each side's time, CPU and
// allocations per round trip (set-up included) are printed, and the ratios
// to raw of the time and the CPU as "name: ratio" lines.
// Run it with -benchtime 1x.
func BenchmarkClientRoundTrip(b *testing.B) {
	addr := benchEchoServer(b)
	sides := []struct {
		name string
		run  func(netip.AddrPort, int) (stop func(), err error)
	}{
		{"raw", rawTrips},
		{"actor-osnet", func(a netip.AddrPort, n int) (func(), error) { return actorTrips(a, n, osnet.New(osnet.Options{})) }},
		{"actor-evloop", func(a netip.AddrPort, n int) (func(), error) { return actorTrips(a, n, evloop.New(evloop.Options{})) }},
	}
	wall := make([]time.Duration, len(sides))
	cpu := make([]time.Duration, len(sides))
	mallocs := make([]uint64, len(sides))
	trips := 0
	var ms runtime.MemStats
	for range b.N {
		for range *rtRounds {
			for k, side := range sides {
				runtime.ReadMemStats(&ms)
				m0 := ms.Mallocs
				w0, c0 := time.Now(), cputime.Process()
				stop, err := side.run(addr, *rtTrips)
				wall[k] += time.Since(w0)
				cpu[k] += cputime.Process() - c0
				runtime.ReadMemStats(&ms)
				mallocs[k] += ms.Mallocs - m0
				stop() // not measured
				if err != nil {
					b.Fatalf("%s: %v", side.name, err)
				}
			}
			trips += *rtTrips
		}
	}
	fmt.Printf("# client round trips: %d connections, %d B one at a time, %d rounds of %d per side, alternating; the echo server in another process\n",
		rtConns, rtSize, *rtRounds, *rtTrips)
	for k, side := range sides {
		fmt.Printf("# %s: %.0f ns/round trip, %.0f ns CPU/round trip, %.1f allocations/round trip\n", side.name,
			float64(wall[k])/float64(trips), float64(cpu[k])/float64(trips), float64(mallocs[k])/float64(trips))
	}
	for k := 1; k < len(sides); k++ {
		fmt.Printf("client-rtt time %s/raw: %.2f\n", sides[k].name, float64(wall[k])/float64(wall[0]))
		fmt.Printf("client-rtt cpu %s/raw: %.2f\n", sides[k].name, float64(cpu[k])/float64(cpu[0]))
		b.ReportMetric(float64(cpu[k])/float64(cpu[0]), sides[k].name+"-cpu-ratio")
	}
}

// rawTrips makes n round trips over rtConns goroutines with a net.Conn
// each; they are closed when it returns.
func rawTrips(addr netip.AddrPort, n int) (func(), error) {
	nothing := func() {}
	var left atomic.Int64
	left.Store(int64(n))
	errs := make(chan error, rtConns)
	var wg sync.WaitGroup
	for range rtConns {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			return nothing, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			msg, in := make([]byte, rtSize), make([]byte, rtSize)
			for left.Add(-1) >= 0 {
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, in); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nothing, err
	default:
		return nothing, nil
	}
}

// actorTrips makes n round trips over rtConns connection actors on
// network nw, each with a HereProps handler, in an actor system of its
// own, which stop ends.
func actorTrips(addr netip.AddrPort, n int, nw transports.Network) (stop func(), err error) {
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pool := dispatch.NewPool(dispatch.Options{})
	dispatch.Install(system, pool)
	var pids []*actor.PID
	stop = func() {
		for _, pid := range pids {
			_ = system.Root.StopFuture(pid).Wait()
		}
		system.Shutdown()
		pool.Close()
	}
	var left atomic.Int64
	left.Store(int64(n))
	done := make(chan error, rtConns)
	for range rtConns {
		got := 0
		handler := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *tcpmsg.Connected:
				left.Add(-1)
				ctx.Send(ctx.Sender(), &tcpmsg.Write{Data: make([]byte, rtSize)})
			case *messages.CommandFailed:
				done <- m.Err
			case *tcpmsg.Received:
				if got += len(m.Data); got < rtSize {
					return
				}
				got = 0
				if left.Add(-1) < 0 {
					done <- nil
					return
				}
				ctx.Send(ctx.Sender(), &tcpmsg.Write{Data: make([]byte, rtSize)})
			}
		})))
		conn := system.Root.Spawn(tcp.ConnectionProps(tcp.Options{Network: nw}))
		system.Root.Send(conn, &tcpmsg.Connect{Remote: addr, Handler: handler})
		pids = append(pids, conn, handler)
	}
	for range rtConns {
		select {
		case err := <-done:
			if err != nil {
				return stop, err
			}
		case <-time.After(time.Minute):
			return stop, fmt.Errorf("round trips did not end")
		}
	}
	return stop, nil
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
	// Its goroutines end with the process.
	serveEcho(ln, 0, new(sync.WaitGroup), func(net.Conn) {})
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
}
