package perf

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/netconn"
	"github.com/microstack-go/microstack/transports/osnet"
)

var (
	wrkArgs   = flag.String("perf.wrk", "-t2 -c100 -d5s", "wrk's load options for the HTTP comparison (the URL is added)")
	httpSides = flag.String("perf.httpsides", "nethttp,actor-evloop,actor-nethttp,node", "HTTP servers compared; the first is the baseline (node: Node.js http, when installed)")
)

// helloBody is what every HTTP side answers.
var helloBody = []byte("Hello, World!")

// The HTTP servers join the echo servers' table: a child process serves one.
func init() {
	serverSides["nethttp"] = plainHTTPServer
	serverSides["actor-evloop"+httpSuffix] = func() (*echoServer, error) {
		return actorHTTPServer(httpactor.EngineEventLoop, evloop.New(evloop.Options{}))
	}
	serverSides["actor-evloop-2loops"+httpSuffix] = func() (*echoServer, error) {
		return actorHTTPServer(httpactor.EngineEventLoop, evloop.New(evloop.Options{Loops: 2}))
	}
	serverSides["actor-evloop-nocoalesce"+httpSuffix] = func() (*echoServer, error) {
		return actorHTTPServer(httpactor.EngineEventLoop, evloop.New(evloop.Options{Coalesce: -1}))
	}
	serverSides["actor-nethttp"+httpSuffix] = func() (*echoServer, error) {
		return actorHTTPServer(httpactor.EngineNetHTTP, osnet.New(osnet.Options{}))
	}
	// The net/http engine without its framing check: what the check costs.
	serverSides["actor-nethttp-noframing"+httpSuffix] = func() (*echoServer, error) {
		return actorHTTPServer(httpactor.EngineNetHTTP, osnet.New(osnet.Options{}), func(o *httpactor.Options) { o.AllowAmbiguousFraming = true })
	}
	serverSides["nethttp-netconn"+httpSuffix] = netconnHTTPServer
}

// netconnHTTPServer is the baseline's handler on net/http's server over a
// transports listener (osnet) through netconn: what the net/http engine's
// connections run on, without its session actors, framing check and route
// actor. It splits the engine's cost from the actors'.
func netconnHTTPServer() (*echoServer, error) {
	tl, err := osnet.New(osnet.Options{}).Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		return nil, err
	}
	ln, err := netconn.Listen(tl, 0)
	if err != nil {
		return nil, err
	}
	return serveHello(ln, tl.Addr()), nil
}

// serveHello serves the hello handler with a plain net/http server on ln,
// bound to addr.
func serveHello(ln net.Listener, addr netip.AddrPort) *echoServer {
	srv := &nethttp.Server{Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
		_, _ = w.Write(helloBody)
	})}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return &echoServer{
		addr:  addr,
		conns: func() int { return -1 },
		stop:  func() { _ = srv.Close(); <-done },
	}
}

// httpSuffix tells the HTTP actor sides from the echo sides of the same
// name in the servers' table.
const httpSuffix = "-http"

// plainHTTPServer is the baseline: net/http's server with a hello handler,
// nothing else.
func plainHTTPServer() (*echoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return serveHello(ln, ln.Addr().(*net.TCPAddr).AddrPort()), nil
}

// actorHTTPServer is microstack's HTTP server actor with one hello actor as
// the route's handler, on engine and network n, its options changed by
// each of with.
func actorHTTPServer(engine httpactor.Engine, n transports.Network, with ...func(*httpactor.Options)) (*echoServer, error) {
	quiet := slog.New(slog.DiscardHandler)
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	// As under a chain, which installs a dispatch pool that microstack's
	// own actors use; the hello actor uses it too, as a chain's user can.
	pool := dispatch.NewPool(dispatch.Options{})
	dispatch.Install(system, pool)
	hello := system.Root.Spawn(dispatch.HereProps(system, actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{Body: helloBody})
		}
	})))
	opts := httpactor.Options{
		Network:     n,
		Engine:      engine,
		MaxSessions: 1 << 16,
		Routes:      []httpactor.Route{{Pattern: "/", Actor: hello}},
	}
	for _, f := range with {
		f(&opts)
	}
	pid := system.Root.Spawn(httpactor.Props(opts))
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		return nil, err
	}
	b, ok := res.(*httpmsg.Bound)
	if !ok || len(b.Endpoints) == 0 {
		return nil, fmt.Errorf("bound: %v", res)
	}
	return &echoServer{
		addr:  b.Endpoints[0].Addr,
		conns: func() int { return -1 },
		stop: func() {
			_ = system.Root.StopFuture(pid).Wait()
			system.Shutdown()
			pool.Close()
		},
	}, nil
}

// httpSample is one wrk run against one side.
type httpSample struct {
	requests int64
	elapsed  time.Duration
	ticks    int64
	wrk      time.Duration // wrk's own CPU time (user+system)
	idle     float64       // the machine's idle share over the run, 0..1
}

var (
	wrkTotal = regexp.MustCompile(`(\d+) requests in ([0-9.]+)(us|ms|s|m)`)
	wrkBad   = regexp.MustCompile(`(Non-2xx or 3xx responses|Socket errors): .*`)
)

// runWrk runs wrk against url and reads the server's CPU ticks around it.
func runWrk(srv *child, url string, args []string) (httpSample, error) {
	srv.send("stat")
	t0, err := srv.expect("stat", 10*time.Second)
	if err != nil {
		return httpSample{}, err
	}
	i0, err := machineIdle()
	if err != nil {
		return httpSample{}, err
	}
	cmd := exec.Command("wrk", append(args, url)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return httpSample{}, fmt.Errorf("wrk: %w: %s", err, out)
	}
	i1, err := machineIdle()
	if err != nil {
		return httpSample{}, err
	}
	srv.send("stat")
	t1, err := srv.expect("stat", 10*time.Second)
	if err != nil {
		return httpSample{}, err
	}
	if m := wrkBad.Find(out); m != nil {
		return httpSample{}, fmt.Errorf("wrk saw failures: %s\n%s", m, out)
	}
	m := wrkTotal.FindSubmatch(out)
	if m == nil {
		return httpSample{}, fmt.Errorf("wrk output not understood:\n%s", out)
	}
	n, _ := strconv.ParseInt(string(m[1]), 10, 64)
	el, err := time.ParseDuration(string(m[2]) + string(m[3]))
	if err != nil || n == 0 {
		return httpSample{}, fmt.Errorf("wrk output not understood (%v):\n%s", err, out)
	}
	a, _ := strconv.ParseInt(t0, 10, 64)
	z, _ := strconv.ParseInt(t1, 10, 64)
	return httpSample{requests: n, elapsed: el, ticks: z - a,
		wrk:  cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
		idle: i1.share(i0)}, nil
}

// cpuTimes is the machine's idle and total jiffies from /proc/stat.
type cpuTimes struct{ idle, total int64 }

// share is the idle share of the time between since and t.
func (t cpuTimes) share(since cpuTimes) float64 {
	if t.total == since.total {
		return 0
	}
	return float64(t.idle-since.idle) / float64(t.total-since.total)
}

// machineIdle reads the first line of /proc/stat: the whole machine's
// time.
func machineIdle() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return parseCPULine(line)
}

// parseCPULine reads /proc/stat's "cpu" line: user nice system idle iowait
// irq softirq steal (then guest and guest_nice, which user and nice
// already hold), in jiffies. Idle and iowait count as idle.
func parseCPULine(line string) (cpuTimes, error) {
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return cpuTimes{}, fmt.Errorf("/proc/stat not understood: %q", line)
	}
	var t cpuTimes
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cpuTimes{}, fmt.Errorf("/proc/stat not understood: %q", line)
		}
		if i < 8 {
			t.total += n
		}
		if i == 3 || i == 4 {
			t.idle += n
		}
	}
	return t, nil
}

// runHTTP measures every side rounds times with wrk, alternating (the
// order rotates every round), and prints the ratios against the first side.
func runHTTP(sides []string, rounds int, wrk string, w io.Writer) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed: the HTTP comparison needs it (tests/setup.sh installs it; as root: apt-get install -y wrk)")
	}
	sides = available(sides, w)
	names := make([]string, len(sides))
	for i, s := range sides {
		names[i] = s
		if strings.TrimPrefix(s, "other:") != "nethttp" {
			names[i] = s + httpSuffix
		}
	}
	srv, addr, stop, err := startServers(names)
	if err != nil {
		return err
	}
	defer stop()
	// Each side answers once before it is measured.
	for _, n := range names {
		if err := helloOnce(addr[n]); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	args := strings.Fields(wrk)
	got := map[string][]httpSample{}
	for r := range rounds {
		for i := range sides {
			k := (i + r) % len(sides)
			s, err := runWrk(srv[names[k]], "http://"+addr[names[k]]+"/", args)
			if err != nil {
				return fmt.Errorf("%s: %w", sides[k], err)
			}
			got[sides[k]] = append(got[sides[k]], s)
		}
	}
	sum := func(ss []httpSample) (rate, cpu, gen, idle float64) {
		var n, ticks int64
		var el, wrk time.Duration
		for _, s := range ss {
			n += s.requests
			ticks += s.ticks
			el += s.elapsed
			wrk += s.wrk
			idle += s.idle / float64(len(ss))
		}
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(n) }
		return float64(n) / el.Seconds(), us(time.Duration(ticks) * tick), us(wrk), idle
	}
	// The load generator shares the machine: with no core idle, requests/s
	// is the cores over the CPU per request of server and wrk together, so
	// wrk's own CPU per request is printed beside the server's.
	base := sides[0]
	br, bc, bg, bi := sum(got[base])
	fmt.Fprintf(w, "# http-hello: wrk %s, %d rounds per side, alternating; ratios are side/%s\n", wrk, rounds, base)
	fmt.Fprintf(w, "# http-hello %s: %.0f req/s, %.2f µs server CPU/req, %.2f µs wrk CPU/req, machine %.0f%% idle\n", base, br, bc, bg, 100*bi)
	for _, side := range sides[1:] {
		r, c, g, i := sum(got[side])
		fmt.Fprintf(w, "# http-hello %s: %.0f req/s, %.2f µs server CPU/req, %.2f µs wrk CPU/req, machine %.0f%% idle; rounds:", side, r, c, g, 100*i)
		for i, s := range got[side] {
			b := got[base][i]
			fmt.Fprintf(w, " %.2f/%.2f", (float64(s.requests)/s.elapsed.Seconds())/(float64(b.requests)/b.elapsed.Seconds()),
				(float64(s.ticks)/float64(s.requests))/(float64(b.ticks)/float64(b.requests)))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "http-hello req/s %s/%s: %.2f\n", side, base, r/br)
		fmt.Fprintf(w, "http-hello cpu/req %s/%s: %.2f\n", side, base, c/bc)
	}
	return nil
}

// helloOnce asks addr for / once, on a connection of its own.
func helloOnce(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", ap.String(), 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: perf\r\nConnection: close\r\n\r\n"); err != nil {
		return err
	}
	resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 || string(b) != string(helloBody) {
		return fmt.Errorf("hello: %d %q %v", resp.StatusCode, b, err)
	}
	return nil
}

// BenchmarkHTTP is the HTTP comparison of issue 11: keep-alive "hello"
// requests from wrk (-perf.wrk, default -t2 -c100 -d5s) against a plain
// net/http server, microstack's server with an actor answering on the
// event-loop engine and transport, and on the net/http engine. Server CPU
// per request comes from each server child's /proc/self/stat. It runs once
// whatever b.N is; use -benchtime 1x. It fails when wrk is missing.
func BenchmarkHTTP(b *testing.B) {
	for range b.N {
		if err := runHTTP(strings.Split(*httpSides, ","), *rounds, *wrkArgs, os.Stdout); err != nil {
			b.Fatal(err)
		}
	}
}
