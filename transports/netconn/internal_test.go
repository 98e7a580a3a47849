package netconn

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// directStream is a stream that takes the first take bytes of each write
// directly (all of them when take < 0) and keeps the rest, which the test
// reports written with OnWritten.
type directStream struct {
	transports.Stream // the methods a test does not use panic

	h    transports.StreamHandler
	take int

	mu     sync.Mutex
	direct []byte // taken directly
	rest   []byte // queued
	writes int    // calls of the queueing Write
}

func (s *directStream) Start(h transports.StreamHandler) error { s.h = h; return nil }

func (s *directStream) WriteDirect(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(b)
	if s.take >= 0 {
		n = min(n, s.take)
	}
	s.direct = append(s.direct, b[:n]...)
	s.rest = append(s.rest, b[n:]...)
	return n, nil
}

func (s *directStream) Write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.rest = append(s.rest, b...)
	return nil
}

// On a stream that is a transports.DirectWriter, a Write the stream takes
// whole returns at once, without waiting for OnWritten and without the
// stream's queue; one it takes in part returns once OnWritten covers the
// rest.
func TestWriteGoesThroughADirectWriter(t *testing.T) {
	all := &directStream{take: -1}
	c, err := New(all, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Bounded: a write that waited for OnWritten would wait for ever.
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("write taken whole: %d %v", n, err)
	}
	if string(all.direct) != "hello" || all.writes != 0 || len(all.rest) != 0 {
		t.Fatalf("direct %q, queued %q in %d writes: want it all direct", all.direct, all.rest, all.writes)
	}

	part := &directStream{take: 2}
	c, err = New(part, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		n, _ := c.Write([]byte("hello"))
		done <- n
	}()
	select {
	case n := <-done:
		t.Fatalf("a write taken in part returned (%d) before the rest was written", n)
	case <-time.After(50 * time.Millisecond):
	}
	part.h.OnWritten(3)
	select {
	case n := <-done:
		if n != 5 || string(part.direct) != "he" || string(part.rest) != "llo" {
			t.Fatalf("returned %d; direct %q, queued %q", n, part.direct, part.rest)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the write did not return once its rest was written")
	}
}

// A deadline arms no timer until a call waits under it (a server sets
// several per request, and most calls never wait); a waiting call arms
// it, and the call ends at the deadline.
func TestDeadlineTimersAreArmedOnlyForAWaitingCall(t *testing.T) {
	c, err := New(&directStream{take: -1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.SetReadDeadline(time.Now().Add(time.Hour))
		c.SetWriteDeadline(time.Now().Add(time.Hour))
	}
	c.mu.Lock()
	idle := c.rdl.timer == nil && c.wdl.timer == nil && c.rdl.armed.IsZero()
	c.mu.Unlock()
	if !idle {
		t.Fatal("setting deadlines armed a timer while no call waited")
	}
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read under a deadline: %v", err)
	}
	c.mu.Lock()
	armed := c.rdl.timer != nil
	c.mu.Unlock()
	if !armed {
		t.Fatal("the waiting read armed no timer")
	}
}
