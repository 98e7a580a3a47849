package evloop

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// The defaults the package documentation and the README state: one loop
// per two Ps (at least one), blocking in epoll_wait when there are fewer
// loops than Ps and parked in Go's poller otherwise; a 200 µs load pause
// unless Coalesce is negative.
func TestDefaultLoopsWaitModeAndPause(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, c := range []struct {
		procs, loops, want int
		block              bool
	}{
		{procs: 1, want: 1, block: false},
		{procs: 2, want: 1, block: true},
		{procs: 8, want: 4, block: true},
		{procs: 2, loops: 2, want: 2, block: false},
		{procs: 8, loops: 3, want: 3, block: true},
	} {
		runtime.GOMAXPROCS(c.procs)
		n := New(Options{Loops: c.loops})
		if got := len(n.pollers); got != c.want {
			t.Errorf("GOMAXPROCS %d, Loops %d: %d loops, want %d", c.procs, c.loops, got, c.want)
		}
		if b := n.pollers[0].block; b != c.block {
			t.Errorf("GOMAXPROCS %d, Loops %d: blocking %v, want %v", c.procs, c.loops, b, c.block)
		}
	}
	for _, c := range []struct{ opt, want time.Duration }{{0, 200 * time.Microsecond}, {-1, 0}, {50 * time.Microsecond, 50 * time.Microsecond}} {
		if got := New(Options{Coalesce: c.opt}).pollers[0].coalesce; got != c.want {
			t.Errorf("Coalesce %v: pause %v, want %v", c.opt, got, c.want)
		}
	}
}

// A read carries up to 64 KiB by default: bytes held back while reading is
// suspended come in 64 KiB pieces once it resumes, never more.
func TestReadsCarryUpTo64KiBByDefault(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	var got bytes.Buffer
	s, c, _ := acceptOne(t, New(Options{Loops: 1}), func(s transports.Stream) transports.StreamFuncs {
		s.SetReading(false)
		return transports.StreamFuncs{Data: func(b []byte) {
			mu.Lock()
			sizes = append(sizes, len(b))
			got.Write(b)
			mu.Unlock()
		}}
	})
	const total = 160 << 10
	if _, err := c.Write(bytes.Repeat([]byte("x"), total)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // all of it in the server's socket
	s.SetReading(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := got.Len()
		mu.Unlock()
		if n == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes", n, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	largest := 0
	for _, n := range sizes {
		largest = max(largest, n)
	}
	if largest != 64<<10 {
		t.Fatalf("largest read %d bytes (reads %v), want 64 KiB", largest, sizes)
	}
	_ = s.Close()
}
