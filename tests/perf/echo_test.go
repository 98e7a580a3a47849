package perf

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/tests/perf/loadgen"
)

var (
	rounds       = flag.Int("perf.rounds", 3, "times each side is measured, alternating")
	duration     = flag.Duration("perf.duration", 2*time.Second, "length of one measurement")
	nconns       = flag.Int("perf.conns", 50, "connections of the echo load")
	window       = flag.Int("perf.window", 16, "messages in flight per connection")
	idleN        = flag.Int("perf.idle", 10000, "idle connections for the RSS figure")
	profile      = flag.String("perf.cpuprofile", "", "write each server's CPU profile to this prefix plus the side's name")
	allocProfile = flag.String("perf.allocprofile", "", "write what each server allocated (pprof allocs profile) to this prefix plus the side's name")
	heapProfile  = flag.String("perf.heapprofile", "", "write each idle server's heap profile to this prefix plus the side's name")
	sizeList     = flag.String("perf.sizes", "64,4096", "message sizes of the windowed echo loads, in bytes")
	latency1     = flag.Bool("perf.w1", true, "also measure 64 B messages one at a time (round-trip latency)")
	otherBin     = flag.String("perf.other", "", "a test binary of this package built from another commit (go test -c); a side named other:NAME runs side NAME from it, for an A/B of two builds in one run")
	sideList     = flag.String("perf.sides", "raw,actor-evloop,chain-evloop,actor-osnet,evloop-direct,nbio,gnet,node", "echo servers compared; the first is the baseline (node: Node.js net, when installed; nbio, gnet: those libraries' own echo)")
)

// echoPlan is one comparison's shape.
type echoPlan struct {
	sides          []string
	rounds         int
	duration       time.Duration
	conns, window  int
	sizes          []int
	latencyWindow1 bool
}

// sample is one measurement of one side.
type sample struct {
	msgs     int64
	ticks    int64
	io       ioCounts // the server's, over the counted part
	elapsed  time.Duration
	p50, p99 time.Duration
}

// measure runs one load against srv and reads the server's CPU ticks
// around the counted part.
func measure(srv *child, addr string, cfg loadgen.Config) (sample, error) {
	b, _ := json.Marshal(cfg)
	lg, err := startChild("PERF_ROLE=echo", "PERF_CFG="+string(b))
	if err != nil {
		return sample{}, err
	}
	defer lg.end()
	limit := cfg.Warmup + cfg.Duration + 30*time.Second
	if _, err := lg.expect("start", limit); err != nil {
		return sample{}, err
	}
	srv.send("stat")
	t0, err := srv.expect("stat", 10*time.Second)
	if err != nil {
		return sample{}, err
	}
	io0 := srv.io()
	done, err := lg.expect("done", limit)
	if err != nil {
		return sample{}, err
	}
	srv.send("stat")
	t1, err := srv.expect("stat", 10*time.Second)
	if err != nil {
		return sample{}, err
	}
	io1 := srv.io()
	var res loadgen.Result
	if err := json.Unmarshal([]byte(done), &res); err != nil {
		return sample{}, err
	}
	a, _ := strconv.ParseInt(t0, 10, 64)
	z, _ := strconv.ParseInt(t1, 10, 64)
	return sample{msgs: res.Msgs, ticks: z - a, io: io1.minus(io0), elapsed: res.Elapsed, p50: res.P50, p99: res.P99}, nil
}

// ioCounts are a process's read and write system calls and the bytes they
// moved, from /proc/PID/io: how many bytes a server's reads carry is what
// most of its CPU per message depends on.
type ioCounts struct{ reads, writes, readBytes int64 }

func (a ioCounts) minus(b ioCounts) ioCounts {
	return ioCounts{a.reads - b.reads, a.writes - b.writes, a.readBytes - b.readBytes}
}

// io reads the child's counts; zero when /proc does not have them.
func (c *child) io() ioCounts {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", c.cmd.Process.Pid))
	if err != nil {
		return ioCounts{}
	}
	var n ioCounts
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		x, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "syscr":
			n.reads = x
		case "syscw":
			n.writes = x
		case "rchar":
			n.readBytes = x
		}
	}
	return n
}

// startServers starts one server child per side and returns them with
// their addresses; stop ends them all.
func startServers(sides []string, extra ...string) (srv map[string]*child, addr map[string]string, stop func(), err error) {
	srv, addr = map[string]*child{}, map[string]string{}
	stop = func() {
		for _, c := range srv {
			c.send("quit")
			c.end()
		}
	}
	for _, side := range sides {
		// A side "name+adaptivestack" is side name with goroutine stacks that
		// start at the size goroutines have needed (GODEBUG).
		name, adaptive := strings.CutSuffix(side, "+adaptivestack")
		name, other := strings.CutPrefix(name, "other:")
		env := append([]string{"PERF_ROLE=server", "PERF_SIDE=" + name}, extra...)
		if adaptive {
			env = append(env, "GODEBUG=adaptivestackstart=1")
		}
		if *profile != "" {
			env = append(env, "PERF_CPUPROFILE="+*profile+side+".pprof")
		}
		if *allocProfile != "" {
			env = append(env, "PERF_ALLOCPROFILE="+*allocProfile+side+".pprof")
		}
		var c *child
		switch {
		case name == "node" || name == "node"+httpSuffix:
			c, err = startNode(name)
		case other && *otherBin == "":
			err = fmt.Errorf("side %s: -perf.other names no binary", side)
		case other:
			c, err = startCommand(exec.Command(*otherBin, "-test.run=^$"), env...)
		default:
			c, err = startChild(env...)
		}
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		srv[side] = c
		a, err := c.expect("addr", 30*time.Second)
		if err != nil {
			stop()
			return nil, nil, nil, fmt.Errorf("%s: %w", side, err)
		}
		addr[side] = a
	}
	return srv, addr, stop, nil
}

// available drops the Node side when node is not installed, saying so.
func available(sides []string, w io.Writer) []string {
	out := sides[:0:0]
	for _, s := range sides {
		if strings.TrimPrefix(s, "other:") == "node" && nodePath == "" {
			fmt.Fprintln(w, "# node: skipped (node is not installed)")
			continue
		}
		out = append(out, s)
	}
	return out
}

// runEcho measures every side rounds times, alternating (the order rotates
// every round), and prints the ratios against the first side to w.
func runEcho(p echoPlan, w io.Writer) error {
	p.sides = available(p.sides, w)
	srv, addr, stop, err := startServers(p.sides)
	if err != nil {
		return err
	}
	defer stop()
	type key struct {
		side string
		size int
		win  int
	}
	got := map[key][]sample{}
	loads := []struct{ size, win int }{}
	for _, size := range p.sizes {
		loads = append(loads, struct{ size, win int }{size, p.window})
	}
	if p.latencyWindow1 {
		loads = append(loads, struct{ size, win int }{64, 1})
	}
	for _, ld := range loads {
		for r := range p.rounds {
			for i := range p.sides {
				side := p.sides[(i+r)%len(p.sides)]
				cfg := loadgen.Config{Conns: p.conns, Size: ld.size, Window: ld.win, Duration: p.duration}
				cfg.Addr, err = parseAddr(addr[side])
				if err != nil {
					return err
				}
				s, err := measure(srv[side], addr[side], cfg)
				if err != nil {
					return fmt.Errorf("%s, %d B, window %d: %w", side, ld.size, ld.win, err)
				}
				k := key{side, ld.size, ld.win}
				got[k] = append(got[k], s)
			}
		}
	}
	base := p.sides[0]
	fmt.Fprintf(w, "# echo: %d connections, %d rounds of %v per side, GOMAXPROCS of each server = machine's; ratios are side/%s\n", p.conns, p.rounds, p.duration, base)
	for _, ld := range loads {
		name := fmt.Sprintf("echo-%s-w%d", sizeName(ld.size), ld.win)
		b := summarize(got[key{base, ld.size, ld.win}])
		fmt.Fprintf(w, "# %s %s: %.0f msgs/s, %.2f µs CPU/msg, p50 %v, p99 %v%s\n", name, base, b.rate, b.cpu, b.p50, b.p99, b.syscalls())
		for _, side := range p.sides[1:] {
			s := summarize(got[key{side, ld.size, ld.win}])
			fmt.Fprintf(w, "# %s %s: %.0f msgs/s, %.2f µs CPU/msg, p50 %v, p99 %v%s\n", name, side, s.rate, s.cpu, s.p50, s.p99, s.syscalls())
			fmt.Fprintf(w, "%s msgs/s %s/%s: %.2f\n", name, side, base, s.rate/b.rate)
			fmt.Fprintf(w, "%s cpu/msg %s/%s: %.2f\n", name, side, base, s.cpu/b.cpu)
			fmt.Fprintf(w, "%s p50 %s/%s: %.2f\n", name, side, base, float64(s.p50)/float64(b.p50))
			fmt.Fprintf(w, "%s p99 %s/%s: %.2f\n", name, side, base, float64(s.p99)/float64(b.p99))
		}
	}
	return nil
}

type summary struct {
	rate, cpu float64 // msgs/s over all rounds; µs of server CPU per message
	p50, p99  time.Duration
	msgs      int64
	io        ioCounts
}

// syscalls describes the server's reads and writes per message, when
// known. /proc/PID/io counts read(2) and write(2) and their kin, not
// recvfrom(2) and sendto(2), which the event loops use on sockets: for a
// server that made fewer reads than one per hundred messages, it says so.
func (s summary) syscalls() string {
	if s.io.reads <= 0 || s.msgs <= 0 {
		return ""
	}
	if s.io.reads*100 < s.msgs {
		return ", socket reads and writes not counted (recvfrom/sendto are not in /proc/PID/io)"
	}
	return fmt.Sprintf(", %.3f reads/msg of %.0f B, %.3f writes/msg", float64(s.io.reads)/float64(s.msgs),
		float64(s.io.readBytes)/float64(s.io.reads), float64(s.io.writes)/float64(s.msgs))
}

// summarize totals the rounds (messages over time, ticks over messages)
// and takes the median round's latencies.
func summarize(ss []sample) summary {
	var msgs, ticks int64
	var el time.Duration
	var p50s, p99s []time.Duration
	var io ioCounts
	for _, s := range ss {
		msgs += s.msgs
		io.reads, io.writes, io.readBytes = io.reads+s.io.reads, io.writes+s.io.writes, io.readBytes+s.io.readBytes
		ticks += s.ticks
		el += s.elapsed
		p50s, p99s = append(p50s, s.p50), append(p99s, s.p99)
	}
	slices.Sort(p50s)
	slices.Sort(p99s)
	out := summary{p50: p50s[len(p50s)/2], p99: p99s[len(p99s)/2], msgs: msgs, io: io}
	if msgs > 0 {
		out.rate = float64(msgs) / el.Seconds()
		out.cpu = float64(time.Duration(ticks)*tick) / float64(time.Microsecond) / float64(msgs)
	}
	return out
}

func sizeName(n int) string {
	if n%1024 == 0 {
		return fmt.Sprintf("%dKiB", n/1024)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkEcho is the TCP echo comparison of issue 11: microstack's echo
// service on the event-loop and on the portable transport, and evloop
// without actors, against the raw goroutine-per-connection Go echo; 64 B
// and 4 KiB messages with a window in flight, then 64 B one at a time for
// round-trip latency. It runs once whatever b.N is; use -benchtime 1x.
func BenchmarkEcho(b *testing.B) {
	p := echoPlan{
		sides: strings.Split(*sideList, ","), rounds: *rounds, duration: *duration,
		conns: *nconns, window: *window, latencyWindow1: *latency1,
	}
	for _, f := range strings.Split(*sizeList, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("-perf.sizes: %q is not a size", f)
		}
		p.sizes = append(p.sizes, n)
	}
	for range b.N {
		if err := runEcho(p, os.Stdout); err != nil {
			b.Fatal(err)
		}
	}
}
