// Package clock is the time source of the runtime and of every actor that
// waits: restart backoff, restart intensity windows, timers, timeouts and the
// simulated network all read time through a Clock, never through the time
// package directly, so that a test can replace wall-clock time with a Manual
// clock that only moves when the test says so.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and runs functions later.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed and returns a
	// Timer that cancels the call.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call; it reports whether the call was still pending.
	Stop() bool
}

// Real returns the wall clock, backed by the time package.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Manual is a Clock whose time moves only when Advance or Set is called. Due
// functions run synchronously inside Advance, in deadline order (ties in the
// order they were scheduled), so a test that drives a Manual clock sees the
// same sequence every run. The zero value is not usable; call NewManual.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	seq     uint64
	pending []*manualTimer
}

// NewManual returns a Manual clock that reads start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc schedules f for d after the clock's current time. A d of zero or
// less makes f due at the next Advance (including Advance(0)).
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	t := &manualTimer{clock: m, at: m.now.Add(d), seq: m.seq, f: f}
	m.pending = append(m.pending, t)
	return t
}

// Pending returns how many calls are scheduled and not yet run or stopped.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pending)
}

// Advance moves the clock forward by d, running every function that falls due
// on the way, each with the clock reading its deadline.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	end := m.now.Add(d)
	m.mu.Unlock()
	m.advanceTo(end)
}

func (m *Manual) advanceTo(end time.Time) {
	for {
		m.mu.Lock()
		sort.Slice(m.pending, func(i, j int) bool {
			a, b := m.pending[i], m.pending[j]
			if a.at.Equal(b.at) {
				return a.seq < b.seq
			}
			return a.at.Before(b.at)
		})
		if len(m.pending) == 0 || m.pending[0].at.After(end) {
			if end.After(m.now) {
				m.now = end
			}
			m.mu.Unlock()
			return
		}
		t := m.pending[0]
		m.pending = m.pending[1:]
		if t.at.After(m.now) {
			m.now = t.at
		}
		m.mu.Unlock()
		t.f()
	}
}

type manualTimer struct {
	clock *Manual
	at    time.Time
	seq   uint64
	f     func()
}

func (t *manualTimer) Stop() bool {
	m := t.clock
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, p := range m.pending {
		if p == t {
			m.pending = append(m.pending[:i], m.pending[i+1:]...)
			return true
		}
	}
	return false
}
