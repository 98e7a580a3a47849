package reliability

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// long reports whether the long variants were asked for.
func long() bool { return os.Getenv("MICROSTACK_RELIABILITY_LONG") != "" }

// freePort returns a loopback address whose port was free a moment ago.
func freePort(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// usage is a process's goroutines, descriptors and resident memory.
type usage struct {
	goroutines, fds int
	rssKiB          int64
}

func measure(t *testing.T) usage {
	t.Helper()
	debug.FreeOSMemory() // a GC that also returns freed pages, so RSS compares
	u := usage{goroutines: goruntime.NumGoroutine()}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		u.fds = len(fds)
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				u.rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
			}
		}
	}
	return u
}

// rssBoundKiB is how much RSS a bounded workload may add: 64 MiB, four
// times that under the race detector, whose shadow memory follows every
// allocation and is not returned to the system.
func rssBoundKiB() int64 {
	if raceEnabled {
		return 4 * 64 << 10
	}
	return 64 << 10
}

// settle waits until goroutines and descriptors are back within slack of
// base, and returns the last measure.
func settle(t *testing.T, base usage, slack int) usage {
	t.Helper()
	var u usage
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		u = measure(t)
		if u.goroutines <= base.goroutines+slack && u.fds <= base.fds+slack {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return u
}

// dial opens a loopback TCP connection with a 10 s deadline.
func dial(t *testing.T, addr netip.AddrPort) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func bufioReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }
