package perf

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"
)

func parseAddr(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }

// A small run of every comparison proves the benchmarks work end to end;
// the figures come from the benchmarks (see the package comment).
func TestSmallSideBySideRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	var out bytes.Buffer
	p := echoPlan{sides: []string{"raw", "actor-evloop", "chain-evloop", "actor-osnet", "evloop-direct", "nbio", "gnet", "node"}, rounds: 1,
		duration: 100 * time.Millisecond, conns: 4, window: 4, sizes: []int{64}}
	if err := runEcho(p, &out); err != nil {
		t.Fatal(err)
	}
	if err := runIdle([]string{"actor-osnet", "actor-evloop"}, 50, &out); err != nil {
		t.Fatal(err)
	}
	if err := runChain(2, 10, 100, 1, &out); err != nil {
		t.Fatal(err)
	}
	// other: sides run from another build's binary (-perf.other); this
	// binary stands in for it.
	defer func(was string) { *otherBin = was }(*otherBin)
	*otherBin = os.Args[0]
	if err := runHTTP([]string{"nethttp", "actor-evloop", "other:actor-evloop", "nethttp-netconn", "node"}, 1, "-t1 -c4 -d1s", &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if nodePath == "" {
		t.Error("node is not installed: the Node.js comparison cannot run (tests/setup.sh installs it)")
	}
	for _, want := range []string{"echo-64B-w4 msgs/s actor-evloop/raw:", "echo-64B-w4 msgs/s node/raw:", "echo-64B-w4 cpu/msg chain-evloop/raw:", "echo-64B-w4 cpu/msg actor-osnet/raw:", "echo-64B-w4 cpu/msg gnet/raw:", "echo-64B-w4 cpu/msg nbio/raw:", "idle-rss/conn actor-evloop/actor-osnet:", "actor-rtt chain/protoactor:", "http-hello cpu/req actor-evloop/nethttp:", "http-hello req/s node/nethttp:",
		"http-hello cpu/req other:actor-evloop/nethttp:", "http-hello req/s nethttp-netconn/nethttp:", "µs wrk CPU/req, machine"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q line", want)
		}
	}
}

// The machine's idle share comes from /proc/stat's first line: idle and
// iowait over the eight fields of time (guest time is in user already).
func TestCPULineParsing(t *testing.T) {
	got, err := parseCPULine("cpu  100 5 50 800 20 3 2 10 40 0")
	if err != nil {
		t.Fatal(err)
	}
	if want := (cpuTimes{idle: 820, total: 990}); got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
	if share := (cpuTimes{idle: 820 + 90, total: 990 + 100}).share(got); share < 0.899 || share > 0.901 {
		t.Fatalf("idle share %v, want 0.9", share)
	}
	for _, bad := range []string{"", "intr 1 2 3 4 5 6", "cpu 1 2 x 4 5 6"} {
		if _, err := parseCPULine(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := machineIdle(); err != nil {
		t.Fatal(err)
	}
}
