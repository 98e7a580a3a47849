package evloop

import (
	"testing"
	"time"
)

// run drives c for d of busy turns, one per millisecond, each with one
// read of the size perRead gives for the current mode, and returns the
// fraction of turns after which c paused.
func run(c *coalescer, from time.Time, d time.Duration, perRead func(on bool) int) (float64, time.Time) {
	paused, turns := 0, 0
	now := from
	for ; now.Sub(from) < d; now = now.Add(time.Millisecond) {
		c.read(perRead(c.on))
		if c.turn(now) {
			paused++
		}
		turns++
	}
	return float64(paused) / float64(turns), now
}

func TestCoalescerPausesOnlyWhileItPays(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newCoalescer(200 * time.Microsecond)
	// Pausing triples the reads (many messages in flight): it pauses
	// nearly all the time, apart from its probes without pausing.
	f, now := run(&c, now, 10*time.Second, func(on bool) int {
		if on {
			return 960
		}
		return 320
	})
	if f < 0.85 {
		t.Fatalf("paused after %.0f%% of turns when pausing triples the reads", 100*f)
	}
	// The traffic changes (one message in flight): pausing gains nothing;
	// within a second it stops, apart from its probes.
	_, now = run(&c, now, time.Second, func(bool) int { return 64 })
	f, now = run(&c, now, 10*time.Second, func(bool) int { return 64 })
	if f > 0.05 {
		t.Fatalf("paused after %.0f%% of turns when pausing gains nothing", 100*f)
	}
	// And back: pausing pays again, and it starts again.
	_, now = run(&c, now, 2*time.Second, func(on bool) int {
		if on {
			return 960
		}
		return 320
	})
	if f, _ = run(&c, now, 5*time.Second, func(on bool) int {
		if on {
			return 960
		}
		return 320
	}); f < 0.85 {
		t.Fatalf("paused after %.0f%% of turns once pausing paid again", 100*f)
	}
}

func TestCoalescerNeverPausesWhenOff(t *testing.T) {
	c := newCoalescer(0)
	if f, _ := run(&c, time.Unix(1000, 0), 10*time.Second, func(on bool) int {
		if on {
			return 1 << 15
		}
		return 1
	}); f != 0 {
		t.Fatalf("a coalescer without a pause paused after %.0f%% of turns", 100*f)
	}
}
