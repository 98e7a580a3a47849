// Command loadgen drives a TCP echo server, such as the demo's echo port:
//
//	go run ./cmd/loadgen -addr 127.0.0.1:7007 -conns 50 -size 64 -duration 10s
//
// prints messages per second, megabytes per second (one way) and the p50
// and p99 round trips, with -window messages in flight on each connection
// (1 measures pure round trips). With -idle it holds -conns idle
// connections instead, for -duration, spread over the source addresses
// 127.0.0.1, 127.0.0.2, ... (-per-source connections each) so that more
// connections than one address's ephemeral ports fit; above -per-process
// connections it runs itself again as several processes, because each
// process can hold only as many as its descriptor limit:
//
//	go run ./cmd/loadgen -addr 127.0.0.1:7007 -idle -conns 100000 -duration 1m
//
// Connections are made to loopback or wherever -addr points; loadgen
// only connects, it never listens.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"time"

	"github.com/microstack-go/microstack/tests/perf/loadgen"
)

func main() {
	var (
		addr       = flag.String("addr", "127.0.0.1:7007", "echo server address")
		conns      = flag.Int("conns", 50, "connections")
		size       = flag.Int("size", 64, "message size in bytes")
		window     = flag.Int("window", 16, "messages in flight per connection")
		duration   = flag.Duration("duration", 10*time.Second, "how long to measure (or to hold idle connections)")
		idle       = flag.Bool("idle", false, "hold idle connections instead of echoing")
		perSource  = flag.Int("per-source", 20000, "connections per source address 127.0.0.x")
		perProcess = flag.Int("per-process", 18000, "idle connections per process (below the descriptor limit)")
		firstSrc   = flag.Int("first-source", 1, "internal: first 127.0.0.x source address of an idle child")
		child      = flag.Bool("idle-child", false, "internal: hold connections until stdin closes")
	)
	flag.Parse()
	to, err := netip.ParseAddrPort(*addr)
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch {
	case *child:
		err = holdChild(ctx, to, *conns, sources(*conns, *perSource, *firstSrc))
	case *idle:
		err = holdIdle(ctx, to, *conns, *perSource, *perProcess, *duration)
	default:
		err = echo(ctx, loadgen.Config{Addr: to, Conns: *conns, Size: *size, Window: *window, Duration: *duration,
			Sources: sources(*conns, *perSource, 1)})
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

func sources(conns, perSource, first int) []netip.Addr {
	s := loadgen.Sources(conns, perSource)
	for i := range s {
		s[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(min(first+i, 254))})
	}
	return s
}

func echo(ctx context.Context, cfg loadgen.Config) error {
	fmt.Printf("echo to %v: %d connections, %d B messages, window %d, %v\n", cfg.Addr, cfg.Conns, cfg.Size, cfg.Window, cfg.Duration)
	res, err := loadgen.Echo(ctx, cfg, nil)
	if err != nil {
		return err
	}
	fmt.Printf("msgs/s: %.0f\nMB/s: %.1f\np50: %v\np99: %v\n", res.MsgsPerSec(), res.MBPerSec(), res.P50, res.P99)
	return nil
}

// holdIdle holds n idle connections for d, in child processes of at most
// perProcess connections each, and reports how many were open.
func holdIdle(ctx context.Context, to netip.AddrPort, n, perSource, perProcess int, d time.Duration) error {
	type proc struct {
		cmd *exec.Cmd
		in  io.WriteCloser
	}
	var procs []proc
	defer func() {
		for _, p := range procs {
			_ = p.in.Close() // the child closes its connections and exits
			_ = p.cmd.Wait()
		}
	}()
	start := time.Now()
	src := 1
	for left := n; left > 0; {
		k := min(left, perProcess)
		cmd := exec.Command(os.Args[0], "-idle-child", "-addr", to.String(), "-conns", strconv.Itoa(k),
			"-per-source", strconv.Itoa(perSource), "-first-source", strconv.Itoa(src))
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, proc{cmd, in})
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil || line != "ready\n" {
			return fmt.Errorf("idle process %d: %q %v", len(procs), line, err)
		}
		left -= k
		src += len(loadgen.Sources(k, perSource))
	}
	fmt.Printf("holding %d idle connections to %v in %d processes (opened in %v) for %v\n", n, to, len(procs), time.Since(start).Round(time.Millisecond), d)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

func holdChild(ctx context.Context, to netip.AddrPort, n int, src []netip.Addr) error {
	conns, err := loadgen.Hold(ctx, to, n, src)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
	return nil
}
