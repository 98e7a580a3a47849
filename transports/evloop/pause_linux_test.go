package evloop

import (
	"fmt"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// The load pause must not hold up an urgent post: a write queued from
// another goroutine during a pause (an actor answering a request) ends the
// pause and is written at once. The pause here is 10 s, so a write that
// waited for its end could not arrive within the 5 s allowed.
func TestUrgentPostEndsThePause(t *testing.T) {
	for _, block := range []bool{true, false} {
		t.Run(fmt.Sprintf("block=%v", block), func(t *testing.T) { urgentPostEndsThePause(t, block) })
	}
}

func urgentPostEndsThePause(t *testing.T, block bool) {
	const pause = 10 * time.Second
	s, c, _ := acceptOne(t, newNetwork(Options{Coalesce: pause}, 1, block), func(transports.Stream) transports.StreamFuncs {
		return transports.StreamFuncs{}
	})
	var pausing atomic.Bool
	hook := func(begin bool) { pausing.Store(begin) }
	pauseHook.Store(&hook)
	forcePause.Store(true)
	defer func() {
		forcePause.Store(false)
		pauseHook.Store(nil)
	}()
	q := s.(transports.QueueWriter)
	b := make([]byte, 6)
	read := func(want string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(pause / 2))
		if _, err := c.Read(b[:len(want)]); err != nil {
			t.Fatalf("%q was not written while the loop paused: %v", want, err)
		}
		if string(b[:len(want)]) != want {
			t.Fatalf("read %q, want %q", b[:len(want)], want)
		}
	}
	// An urgent post wakes the loop (ending any pause in progress); the
	// busy turn that writes it is followed by a pause.
	if err := q.QueueWrite([]byte("first")); err != nil {
		t.Fatal(err)
	}
	read("first")
	waitPause := func() {
		t.Helper()
		deadline := time.Now().Add(pause / 2)
		for !pausing.Load() {
			if time.Now().After(deadline) {
				t.Fatal("the loop did not pause after a busy turn")
			}
			time.Sleep(time.Millisecond)
		}
		forcePause.Store(false) // this pause, not the next
	}
	waitPause()
	if err := q.QueueWrite([]byte("answer")); err != nil {
		t.Fatal(err)
	}
	read("answer")

	// A Close from another goroutine ends a pause too: the peer sees the
	// end at once.
	forcePause.Store(true)
	if err := q.QueueWrite([]byte("last")); err != nil {
		t.Fatal(err)
	}
	read("last")
	waitPause()
	_ = s.Close()
	_ = c.SetReadDeadline(time.Now().Add(pause / 2))
	if n, err := c.Read(b); err != io.EOF {
		t.Fatalf("after a Close during a pause the peer read %d bytes, %v; want EOF at once", n, err)
	}
}
