package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// A small run proves the benchmark works end to end; the figures come from
// `go run ./tests/tcpbench`.
func TestSmallSideBySideRun(t *testing.T) {
	var out bytes.Buffer
	cfg := Config{Conns: 4, Window: 4, Duration: 100 * time.Millisecond, Idle: 50, IdleInProcess: true}
	if err := Run(cfg, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"echo-64B msgs/s actor/raw:", "echo-4KiB msgs/s actor/raw:", "rtt-64B p99 actor/raw:", "idle-conn bytes actor/raw:"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("no %q line", want)
		}
	}
}
