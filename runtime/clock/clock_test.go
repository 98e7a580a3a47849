package clock

import (
	"fmt"
	"testing"
	"time"
)

func TestManualRunsDueFunctionsInDeadlineOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	var got []string
	var seen []time.Duration
	add := func(name string, d time.Duration) Timer {
		return c.AfterFunc(d, func() {
			got = append(got, name)
			seen = append(seen, c.Now().Sub(start))
		})
	}
	add("c", 30*time.Millisecond)
	add("a", 10*time.Millisecond)
	stopped := add("x", 20*time.Millisecond)
	add("b", 10*time.Millisecond)
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer reported false")
	}
	c.Advance(25 * time.Millisecond)
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("after 25ms ran %v, want [a b]", got)
	}
	if c.Pending() != 1 {
		t.Fatalf("pending = %d, want 1", c.Pending())
	}
	c.Advance(time.Second)
	if len(got) != 3 || got[2] != "c" || seen[2] != 30*time.Millisecond {
		t.Fatalf("ran %v at %v, want c at 30ms", got, seen)
	}
	if c.Now().Sub(start) != 1025*time.Millisecond {
		t.Fatalf("now = %v after advancing", c.Now().Sub(start))
	}
}

func TestManualTimerScheduledFromCallbackRunsInSameAdvance(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	n := 0
	var tick func()
	tick = func() {
		n++
		c.AfterFunc(time.Second, tick)
	}
	c.AfterFunc(time.Second, tick)
	c.Advance(5 * time.Second)
	if n != 5 {
		t.Fatalf("ticks = %d, want 5", n)
	}
}

func ExampleManual() {
	c := NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c.AfterFunc(time.Minute, func() { fmt.Println("fired at", c.Now().Format(time.TimeOnly)) })
	c.Advance(time.Hour) // runs the function synchronously, with the clock at its deadline
	fmt.Println("now", c.Now().Format(time.TimeOnly))
	// Output:
	// fired at 00:01:00
	// now 01:00:00
}
