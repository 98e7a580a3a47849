package evloop

import "time"

// A loop under load can pause a moment after a busy turn before it looks
// for more events, so that each socket has gathered more bytes by the time
// it is read: fewer, fuller reads and writes for the same traffic (what a
// network card's interrupt coalescing does). Whether that pays depends on
// the traffic. With many messages in flight per connection the reads grow
// and the CPU per message falls: tests/perf, 50 connections, 64 B x16 in
// flight, against raw Go's echo in the same run: 0.68x the CPU per message
// instead of 1.01x, 1.16x the throughput instead of 0.99x, median round
// trip 0.80x instead of 0.98x (4 KiB: 0.90x instead of 1.01x). With one
// message in flight per connection nothing more arrives during a pause,
// which only lengthens every round trip (a fixed 50 µs pause: 0.4x the
// throughput).
//
// So a coalescer measures: the loop runs epochs of busy turns in one mode,
// and from time to time one epoch in the other; it pauses while pausing
// gives reads at least coalesceGain times as large as not pausing. Its
// probes cost the one-at-a-time load about 5% of its throughput. No library
// offers this for a hand-written loop, hence the few lines here.
type coalescer struct {
	wait    time.Duration // the pause; 0: never
	on      bool          // waiting after busy turns
	probing bool          // this epoch runs the other mode, for comparison
	start   time.Time     // of this epoch
	reads   int64         // reads that returned data, this epoch
	bytes   int64         // their bytes
	base    float64       // bytes per read in the current mode, smoothed; 0: none yet
	left    int           // epochs before the next probe
}

// defaultCoalesce is Options.Coalesce's default.
const defaultCoalesce = 200 * time.Microsecond

const (
	epoch         = 20 * time.Millisecond
	coalesceGain  = 1.5
	probeWhenOff  = 32 // epochs between probes while not coalescing
	probeWhenOn   = 8  // and while coalescing
	coalesceFirst = 4  // epochs before the first probe
)

func newCoalescer(wait time.Duration) coalescer { return coalescer{wait: wait, left: coalesceFirst} }

// read counts a read that returned n > 0 bytes.
func (c *coalescer) read(n int) {
	c.reads++
	c.bytes += int64(n)
}

// turn ends a busy turn at now and reports whether the loop should pause
// before its next look.
func (c *coalescer) turn(now time.Time) bool {
	if c.wait <= 0 {
		return false
	}
	if c.start.IsZero() {
		c.start = now
	}
	if now.Sub(c.start) < epoch {
		return c.on
	}
	c.start = now
	per := 0.0
	if c.reads > 0 {
		per = float64(c.bytes) / float64(c.reads)
	}
	c.reads, c.bytes = 0, 0
	if c.probing {
		c.probing = false
		// c.on is the probe's mode; base was measured in the other one.
		var with, without float64
		if c.on {
			with, without = per, c.base
		} else {
			with, without = c.base, per
		}
		before := !c.on // the probe ran the other mode
		c.on = without > 0 && with >= coalesceGain*without
		if c.on != before {
			c.base = 0 // a new mode: its smoothing starts again
		}
		c.left = probeWhenOff
		if c.on {
			c.left = probeWhenOn
		}
		return c.on
	}
	// The mode's bytes per read, smoothed over its epochs since it began.
	if c.base == 0 {
		c.base = per
	} else {
		c.base = 0.75*c.base + 0.25*per
	}
	if c.left--; c.left <= 0 {
		c.probing, c.on = true, !c.on
	}
	return c.on
}
