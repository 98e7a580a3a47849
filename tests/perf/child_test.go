package perf

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/tests/perf/loadgen"
)

// The test binary plays the child roles when PERF_ROLE is set.
func TestMain(m *testing.M) {
	if role := os.Getenv("PERF_ROLE"); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintln(os.Stderr, "perf child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// gnet starts a package-level worker pool when it is imported.
	testkit.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"))
}

func runChild(role string) error {
	switch role {
	case "server":
		return serveChild(os.Getenv("PERF_SIDE"))
	case "echo":
		var cfg loadgen.Config
		if err := json.Unmarshal([]byte(os.Getenv("PERF_CFG")), &cfg); err != nil {
			return err
		}
		res, err := loadgen.Echo(context.Background(), cfg, func() { fmt.Println("start") })
		if err != nil {
			return err
		}
		b, _ := json.Marshal(res)
		fmt.Printf("done %s\n", b)
		return nil
	case "hold":
		addr, err := netip.ParseAddrPort(os.Getenv("PERF_ADDR"))
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(os.Getenv("PERF_N"))
		conns, err := loadgen.Hold(context.Background(), addr, n, loadgen.Sources(n, 10000))
		if err != nil {
			return err
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		for _, c := range conns {
			// A reset leaves no TIME_WAIT holding the port for the next run.
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
		return nil
	}
	return fmt.Errorf("unknown role %q", role)
}

// serveChild runs one echo server and answers commands on stdin: "stat"
// (CPU ticks used so far), "rss" (resident memory after a GC, live
// connections, goroutines), "quit".
func serveChild(side string) error {
	mk, ok := serverSides[side]
	if !ok {
		return fmt.Errorf("unknown side %q", side)
	}
	s, err := mk()
	if err != nil {
		return err
	}
	defer s.stop()
	if path := os.Getenv("PERF_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("addr %v\n", s.addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "stat":
			fmt.Printf("stat %d\n", cpuTicks())
		case "rss":
			runtime.GC()
			debug.FreeOSMemory()
			if path := os.Getenv("PERF_HEAPPROFILE"); path != "" {
				if f, err := os.Create(path); err == nil {
					_ = pprof.WriteHeapProfile(f)
					_ = f.Close()
				}
			}
			fmt.Printf("rss %d %d %d\n", rssBytes(), s.conns(), runtime.NumGoroutine())
		case "quit":
			return writeAllocProfile()
		}
	}
	return writeAllocProfile()
}

// writeAllocProfile writes what the server allocated since it started
// (pprof's allocs profile: -sample_index=alloc_objects for counts) when
// PERF_ALLOCPROFILE names a file.
func writeAllocProfile() error {
	path := os.Getenv("PERF_ALLOCPROFILE")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

// cpuTicks is utime+stime of this process from /proc/self/stat, in clock
// ticks (1/100 s on Linux).
func cpuTicks() int64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	// The command name may hold spaces; fields start after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

const tick = 10 * time.Millisecond

// rssBytes is VmRSS from /proc/self/status.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return -1
}

// child is a running child process speaking lines on stdin and stdout.
type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func startChild(env ...string) (*child, error) {
	return startCommand(exec.Command(os.Args[0], "-test.run=^$"), env...)
}

// startNode starts a Node.js server, testdata/echo.js or (for the HTTP
// side, "node"+httpSuffix) testdata/hello.js, which speak the server
// child's protocol.
func startNode(side string) (*child, error) {
	script := "testdata/echo.js"
	if side == "node"+httpSuffix {
		script = "testdata/hello.js"
	}
	return startCommand(exec.Command(nodePath, "--expose-gc", script))
}

// nodePath is node's path, empty when it is not installed: the Node sides
// are then reported as skipped.
var nodePath, _ = exec.LookPath("node")

func startCommand(cmd *exec.Cmd, env ...string) (*child, error) {
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &child{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

// expect reads the next line, which must start with word, and returns the
// rest of it; it gives up after d, ending the child.
func (c *child) expect(word string, d time.Duration) (string, error) {
	type line struct {
		s   string
		err error
	}
	ch := make(chan line, 1)
	go func() { s, err := c.out.ReadString('\n'); ch <- line{s, err} }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case l := <-ch:
		if l.err != nil {
			return "", fmt.Errorf("child: %w", l.err)
		}
		rest, ok := strings.CutPrefix(strings.TrimSpace(l.s), word)
		if !ok {
			return "", fmt.Errorf("child said %q, want %s", l.s, word)
		}
		return strings.TrimSpace(rest), nil
	case <-t.C:
		c.kill()
		<-ch
		return "", fmt.Errorf("child said nothing in %v (want %s)", d, word)
	}
}

func (c *child) send(cmd string) { _, _ = fmt.Fprintln(c.in, cmd) }

// end closes stdin and waits for the child, killing it (by its PID) if it
// does not exit within 30 s.
func (c *child) end() {
	_ = c.in.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.kill()
		<-done
	}
}

func (c *child) kill() { _ = c.cmd.Process.Kill() }
