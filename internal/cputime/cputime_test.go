package cputime_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/microstack-go/microstack/internal/cputime"
)

func TestProcessCountsWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" || runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("no getrusage here: Process reads zero")
	}
	before := cputime.Process()
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		x++
	}
	if after := cputime.Process(); after <= before {
		t.Fatalf("50 ms of spinning (%d turns) moved the CPU time from %v to %v", x, before, after)
	}
}

// The CPU time one piece of work took: the difference of two readings.
func ExampleProcess() {
	start := cputime.Process()
	sum := 0
	for i := range 1_000_000 {
		sum += i
	}
	used := cputime.Process() - start
	fmt.Println(sum, used >= 0)
	// Output: 499999500000 true
}
