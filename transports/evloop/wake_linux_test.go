package evloop

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// An event that arrives after the loop found nothing to do and before it
// sleeps must still wake it. A parked loop is the delicate one: Go's poller
// forgets a readiness recorded before the park begins, so the loop must
// look once more after that. The hook makes the event arrive in exactly
// that window, while the loop is about to sleep without a deadline.
func TestEventJustBeforeSleepWakesTheLoop(t *testing.T) {
	for _, block := range []bool{false, true} {
		t.Run(fmt.Sprintf("block=%v", block), func(t *testing.T) { eventJustBeforeSleep(t, block) })
	}
}

func eventJustBeforeSleep(t *testing.T, block bool) {
	got := make(chan []byte, 4)
	s, c, closed := acceptOne(t, newNetwork(Options{}, 1, block), func(transports.Stream) transports.StreamFuncs {
		return transports.StreamFuncs{Data: func(b []byte) { got <- b }}
	})

	var armed atomic.Bool
	hook := func(timeout int) {
		if timeout < 0 && armed.CompareAndSwap(true, false) {
			// On loopback the bytes are in the server's socket when
			// Write returns: the epoll set is ready before the park.
			if _, err := c.Write([]byte("x")); err != nil {
				t.Error(err)
			}
		}
	}
	idleHook.Store(&hook)
	defer idleHook.Store(nil)
	for i := 0; i < 20; i++ {
		// Wake the loop with a byte; once it has nothing left to do it
		// goes to sleep, and the hook sends "x" on its way there.
		armed.Store(true)
		if _, err := c.Write([]byte("w")); err != nil {
			t.Fatal(err)
		}
		var all []byte
		deadline := time.After(3 * time.Second)
		for string(all) != "wx" {
			select {
			case b := <-got:
				all = append(all, b...)
			case <-deadline:
				t.Fatalf("round %d: got %q: data that arrived just before the loop slept was not delivered (hook fired: %v)", i, all, !armed.Load())
			}
		}
	}
	idleHook.Store(nil)
	_ = s.Close()
	<-closed
}
