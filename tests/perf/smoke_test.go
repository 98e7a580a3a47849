package perf

import (
	"bytes"
	"net/netip"
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
	if err := runHTTP([]string{"nethttp", "actor-evloop", "node"}, 1, "-t1 -c4 -d1s", &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if nodePath == "" {
		t.Error("node is not installed: the Node.js comparison cannot run (tests/setup.sh installs it)")
	}
	for _, want := range []string{"echo-64B-w4 msgs/s actor-evloop/raw:", "echo-64B-w4 msgs/s node/raw:", "echo-64B-w4 cpu/msg chain-evloop/raw:", "echo-64B-w4 cpu/msg actor-osnet/raw:", "echo-64B-w4 cpu/msg gnet/raw:", "echo-64B-w4 cpu/msg nbio/raw:", "idle-rss/conn actor-evloop/actor-osnet:", "actor-rtt chain/protoactor:", "http-hello cpu/req actor-evloop/nethttp:", "http-hello req/s node/nethttp:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q line", want)
		}
	}
}
