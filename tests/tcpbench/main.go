// Command tcpbench runs microstack's TCP echo service (the listener and
// connection actors of actors/tcp, with the echo handler of EchoSpec) and a
// plain goroutine-per-connection echo written with package net side by
// side, in one process and one run, and prints how the actors compare:
//
//	go run ./tests/tcpbench
//
// Both servers run on loopback in this process and are driven by the same
// load generator (plain net clients, also in this process): throughput with
// 64-byte and 4 KiB messages over 50 connections, each keeping a window of
// messages in flight; round-trip latency (p50, p99) of one 64-byte message
// at a time per connection; and the memory each idle connection costs the
// server (Go heap and goroutine stacks in use, measured after a GC), with
// the idle clients held by a child process so that the server's process
// holds only its own descriptors (the descriptor limit is 20,000 per
// process).
//
// Lines read "echo-64B msgs/s actor/raw: 0.93": the actor figure divided by
// the raw one (higher is better for throughput, lower for latency and
// memory), with both figures after it.
package main

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
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages/tcpmsg"
)

// Config sets the sizes of a run.
type Config struct {
	Conns    int           // connections for throughput and latency
	Window   int           // messages in flight per connection
	Duration time.Duration // per throughput or latency measurement
	Idle     int           // idle connections for the memory figure
	// IdleInProcess holds the idle clients in this process instead of a
	// child process (for small counts, in tests).
	IdleInProcess bool
}

func main() {
	child := flag.String("child", "", "internal: hold -idle connections to this address until stdin closes")
	cfg := Config{}
	flag.IntVar(&cfg.Conns, "conns", 50, "connections")
	flag.IntVar(&cfg.Window, "window", 16, "messages in flight per connection")
	flag.DurationVar(&cfg.Duration, "duration", 3*time.Second, "length of each measurement")
	flag.IntVar(&cfg.Idle, "idle", 10000, "idle connections for the memory figure")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *child != "" {
		if err := holdIdle(*child, cfg.Idle); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := Run(cfg, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// server is an echo service under test.
type server struct {
	addr  netip.AddrPort
	conns func() int // live server-side connections
	stop  func()
}

func actorServer() (*server, error) {
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pid := system.Root.Spawn(tcp.ListenerProps(tcp.ListenerOptions{Handler: tcp.EchoHandlerProps, MaxConnections: 100000}))
	res, err := system.Root.RequestFuture(pid, &tcpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")}, 5*time.Second).Result()
	if err != nil {
		return nil, err
	}
	b, ok := res.(*tcpmsg.Bound)
	if !ok {
		return nil, fmt.Errorf("bind: %v", res)
	}
	return &server{
		addr: b.Local,
		conns: func() int {
			r, err := system.Root.RequestFuture(pid, &tcpmsg.GetStats{}, 5*time.Second).Result()
			if err != nil {
				return -1
			}
			return r.(*tcpmsg.ListenerStats).Connections
		},
		stop: func() {
			_ = system.Root.StopFuture(pid).Wait()
			system.Shutdown()
		},
	}, nil
}

// rawServer is the usual Go echo: a goroutine per connection copying
// through a 32 KiB buffer (io.Copy's size, and the actors' read size).
func rawServer() (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var (
		live  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			live.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer live.Add(-1)
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_ = c.Close()
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return &server{
		addr:  ln.Addr().(*net.TCPAddr).AddrPort(),
		conns: func() int { return int(live.Load()) },
		stop: func() {
			_ = ln.Close()
			mu.Lock()
			for c := range conns {
				_ = c.Close()
			}
			mu.Unlock()
			wg.Wait()
		},
	}, nil
}

// throughput echoes size-byte messages over conns connections, each with
// window messages in flight, and returns messages echoed per second.
func throughput(addr netip.AddrPort, size, conns, window int, d time.Duration) (float64, error) {
	var (
		count   atomic.Int64
		stop    atomic.Bool
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	cs := make([]net.Conn, 0, conns)
	for range conns {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			for _, c := range cs {
				_ = c.Close()
			}
			return 0, err
		}
		cs = append(cs, c)
	}
	msg := make([]byte, size)
	done := make(chan struct{})
	for _, c := range cs {
		sem := make(chan struct{}, window)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for {
				select {
				case sem <- struct{}{}:
				case <-done:
					return
				}
				if _, err := c.Write(msg); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					if !stop.Load() {
						errOnce.Do(func() { first = err })
					}
					return
				}
				count.Add(1)
				<-sem
			}
		}()
	}
	time.Sleep(d / 5) // warm up
	start, n0 := time.Now(), count.Load()
	time.Sleep(d)
	rate := float64(count.Load()-n0) / time.Since(start).Seconds()
	stop.Store(true)
	close(done)
	for _, c := range cs {
		_ = c.Close()
	}
	wg.Wait()
	return rate, first
}

// latency sends one 64-byte message at a time on each connection and
// returns the p50 and p99 round trips.
func latency(addr netip.AddrPort, conns int, d time.Duration) (p50, p99 time.Duration, err error) {
	var (
		mu  sync.Mutex
		all []time.Duration
		wg  sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg, buf := make([]byte, 64), make([]byte, 64)
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if _, err := c.Write(msg); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					errs <- err
					return
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	if len(all) == 0 {
		return 0, 0, fmt.Errorf("no round trip measured")
	}
	slices.Sort(all)
	return all[len(all)/2], all[len(all)*99/100], nil
}

// idleCost opens n idle connections to s and returns the Go memory (heap
// and stacks in use) and goroutines the server holds per connection.
func idleCost(s *server, n int, inProcess bool) (bytesPer float64, goroutinesPer float64, err error) {
	before, gBefore := inUse()
	release, err := openIdle(s.addr, n, inProcess)
	if err != nil {
		return 0, 0, err
	}
	if err := waitFor(func() bool { return s.conns() >= n }, time.Minute); err != nil {
		release()
		return 0, 0, fmt.Errorf("server saw %d of %d connections: %w", s.conns(), n, err)
	}
	time.Sleep(500 * time.Millisecond)
	after, gAfter := inUse()
	release()
	if err := waitFor(func() bool { return s.conns() == 0 }, time.Minute); err != nil {
		return 0, 0, fmt.Errorf("server kept %d connections: %w", s.conns(), err)
	}
	// In process, the clients' own memory is in the figure too (an
	// over-estimate, for small runs in tests).
	return float64(after-before) / float64(n), float64(gAfter-gBefore) / float64(n), nil
}

func inUse() (uint64, int) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse, runtime.NumGoroutine()
}

func waitFor(cond func() bool, d time.Duration) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// openIdle holds n connections to addr, in a child process unless
// inProcess, until the returned function is called.
func openIdle(addr netip.AddrPort, n int, inProcess bool) (release func(), err error) {
	if inProcess {
		cs := make([]net.Conn, 0, n)
		for range n {
			c, err := net.Dial("tcp", addr.String())
			if err != nil {
				for _, c := range cs {
					_ = c.Close()
				}
				return nil, err
			}
			cs = append(cs, c)
		}
		return func() {
			for _, c := range cs {
				_ = c.Close()
			}
		}, nil
	}
	cmd := exec.Command(os.Args[0], "-child", addr.String(), "-idle", strconv.Itoa(n))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		_ = stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("client process: %q %v", line, err)
	}
	return func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}, nil
}

// holdIdle is the child process: n connections held until stdin closes.
func holdIdle(addr string, n int) error {
	cs := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return fmt.Errorf("after %d connections: %w", len(cs), err)
		}
		cs = append(cs, c)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range cs {
		_ = c.Close()
	}
	return nil
}

// Result holds one run's figures, actor and raw.
type Result struct {
	Msgs64, Msgs4K   [2]float64
	P50, P99         [2]time.Duration
	IdleBytes, IdleG [2]float64
}

// Run measures both servers and prints the comparison to w.
func Run(cfg Config, w io.Writer) error {
	var res Result
	makers := []func() (*server, error){actorServer, rawServer}
	for i, mk := range makers {
		s, err := mk()
		if err != nil {
			return err
		}
		err = func() error {
			defer s.stop()
			var err error
			if res.Msgs64[i], err = throughput(s.addr, 64, cfg.Conns, cfg.Window, cfg.Duration); err != nil {
				return fmt.Errorf("64 B throughput: %w", err)
			}
			if res.Msgs4K[i], err = throughput(s.addr, 4096, cfg.Conns, cfg.Window, cfg.Duration); err != nil {
				return fmt.Errorf("4 KiB throughput: %w", err)
			}
			if res.P50[i], res.P99[i], err = latency(s.addr, cfg.Conns, cfg.Duration); err != nil {
				return fmt.Errorf("latency: %w", err)
			}
			if res.IdleBytes[i], res.IdleG[i], err = idleCost(s, cfg.Idle, cfg.IdleInProcess); err != nil {
				return fmt.Errorf("idle connections: %w", err)
			}
			return nil
		}()
		if err != nil {
			return err
		}
	}
	where := "clients in a child process"
	if cfg.IdleInProcess {
		where = "clients in this process, counted too"
	}
	fmt.Fprintf(w, "tcpbench: %d connections, window %d, %v per measurement, GOMAXPROCS %d\n", cfg.Conns, cfg.Window, cfg.Duration, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "echo-64B msgs/s actor/raw: %.2f (actor %.0f, raw %.0f)\n", res.Msgs64[0]/res.Msgs64[1], res.Msgs64[0], res.Msgs64[1])
	fmt.Fprintf(w, "echo-4KiB msgs/s actor/raw: %.2f (actor %.0f, raw %.0f)\n", res.Msgs4K[0]/res.Msgs4K[1], res.Msgs4K[0], res.Msgs4K[1])
	fmt.Fprintf(w, "rtt-64B p50 actor/raw: %.2f (actor %v, raw %v)\n", float64(res.P50[0])/float64(res.P50[1]), res.P50[0], res.P50[1])
	fmt.Fprintf(w, "rtt-64B p99 actor/raw: %.2f (actor %v, raw %v)\n", float64(res.P99[0])/float64(res.P99[1]), res.P99[0], res.P99[1])
	fmt.Fprintf(w, "idle-conn bytes actor/raw: %.2f (actor %.1f KiB, raw %.1f KiB per connection, %d connections, %s)\n",
		res.IdleBytes[0]/res.IdleBytes[1], res.IdleBytes[0]/1024, res.IdleBytes[1]/1024, cfg.Idle, where)
	fmt.Fprintf(w, "idle-conn goroutines: actor %.2f, raw %.2f per connection\n", res.IdleG[0], res.IdleG[1])
	return nil
}
