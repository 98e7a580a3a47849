package evloop

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/microstack-go/microstack/transports"
)

// borrower is a transports.Borrower made of funcs.
type borrower struct{ transports.StreamFuncs }

func (borrower) BorrowsData() {}

// A Borrower is lent the loop's read buffer (the same memory every read),
// except for a read made while it does not read (a hang-up's), which is
// held as a copy: the loop's buffer is overwritten by other streams' reads
// meanwhile.
func TestBorrowerIsLentTheLoopsBufferAndHeldReadsAreCopied(t *testing.T) {
	n := New(Options{Loops: 1})
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type read struct {
		who  int
		data []byte // a copy
		at   *byte  // where the handler's b was
	}
	reads := make(chan read, 64)
	streams := make(chan transports.Stream, 2)
	accepted := 0
	lclosed := make(chan struct{})
	l.Start(transports.ListenerFuncs{Closed: func(error) { close(lclosed) }, Accept: func(s transports.Stream) {
		who := accepted
		accepted++
		_ = s.Start(borrower{transports.StreamFuncs{Data: func(b []byte) {
			reads <- read{who, bytes.Clone(b), unsafe.SliceData(b)}
		}}})
		streams <- s
	}})
	t.Cleanup(func() { _ = l.Close(); <-lclosed })
	dial := func() (net.Conn, transports.Stream) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, <-streams
	}
	next := func() read {
		select {
		case r := <-reads:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no read")
			return read{}
		}
	}
	ca, sa := dial()
	cb, _ := dial()

	if _, err := ca.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	r1 := next()
	if _, err := cb.Write([]byte("second")); err != nil {
		t.Fatal(err)
	}
	r2 := next()
	if string(r1.data) != "first" || string(r2.data) != "second" {
		t.Fatalf("reads %q, %q", r1.data, r2.data)
	}
	if r1.at != r2.at {
		t.Fatalf("two reads on one loop were at %p and %p: not the loop's buffer", r1.at, r2.at)
	}

	// a stops reading. Its client sends and hangs up, which earns a
	// suspended stream one read (so that the close is seen): those bytes
	// are held until a reads again, and b's read comes after them.
	sa.SetReading(false)
	if _, err := ca.Write([]byte("held-AAAAAAAAAAAAAAAA")); err != nil {
		t.Fatal(err)
	}
	if err := ca.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the loop's read of a, before b's
	if _, err := cb.Write([]byte("overwrites-BBBBBBBBBB")); err != nil {
		t.Fatal(err)
	}
	if r := next(); r.who != 1 || string(r.data) != "overwrites-BBBBBBBBBB" {
		t.Fatalf("read %d %q, want b's", r.who, r.data)
	}
	sa.SetReading(true)
	if r := next(); r.who != 0 || string(r.data) != "held-AAAAAAAAAAAAAAAA" {
		t.Fatalf("read %d %q after resuming a, want a's held bytes", r.who, r.data)
	}
}

// A read that fills most of the loop's buffer is handed over whole rather
// than copied; the loop must then read the next bytes, another stream's,
// into a fresh buffer, not into the one the first handler keeps.
func TestKeptReadsSurviveTheLoopsNextReads(t *testing.T) {
	n := New(Options{Loops: 1})
	got := [2]chan []byte{make(chan []byte, 64), make(chan []byte, 64)}
	accepted := 0
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lclosed := make(chan struct{})
	l.Start(transports.ListenerFuncs{Closed: func(error) { close(lclosed) }, Accept: func(s transports.Stream) {
		ch := got[accepted]
		accepted++
		_ = s.Start(transports.StreamFuncs{Data: func(b []byte) { ch <- b }})
	}})
	t.Cleanup(func() { _ = l.Close(); <-lclosed })
	const size = 60 << 10
	var kept [2][][]byte
	for i, fill := range []byte{'a', 'b'} {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := c.Write(bytes.Repeat([]byte{fill}, size)); err != nil {
			t.Fatal(err)
		}
		for total := 0; total < size; {
			select {
			case b := <-got[i]:
				kept[i] = append(kept[i], b)
				total += len(b)
			case <-time.After(10 * time.Second):
				t.Fatalf("stream %d: %d of %d bytes", i, total, size)
			}
		}
	}
	for i, fill := range []byte{'a', 'b'} {
		for _, b := range kept[i] {
			if j := bytes.IndexFunc(b, func(r rune) bool { return r != rune(fill) }); j >= 0 {
				t.Fatalf("stream %d's kept read of %d bytes holds %q at %d: overwritten", i, len(b), b[j], j)
			}
		}
	}
}

// A write queue that empties keeps its array when it is small (a
// connection writing a message at a time reuses it instead of allocating
// one per write) and drops a large one (an idle connection holds at most
// keptQueue slots).
func TestEmptiedWriteQueueKeepsOnlyASmallArray(t *testing.T) {
	var s stream
	s.queue = append(make([][]byte, 0, 1), []byte("abc"))
	s.consume(2)
	if len(s.queue) != 1 || string(s.queue[0]) != "c" {
		t.Fatalf("after a partial write the queue is %q", s.queue)
	}
	s.consume(1)
	if s.queue == nil || len(s.queue) != 0 || cap(s.queue) != 1 {
		t.Fatalf("emptied small queue: len %d cap %d nil %v, want its array kept", len(s.queue), cap(s.queue), s.queue == nil)
	}
	s.queue = append(s.queue, []byte("x")) // reuses the array
	if cap(s.queue) != 1 {
		t.Fatalf("the next write took a new array (cap %d)", cap(s.queue))
	}
	s.consume(1)

	big := make([][]byte, keptQueue+1)
	for i := range big {
		big[i] = []byte("y")
	}
	s.queue = big
	s.consume(len(big))
	if s.queue != nil {
		t.Fatalf("emptied queue of %d slots kept its array (cap %d)", len(big), cap(s.queue))
	}
	for i, b := range big {
		if b != nil {
			t.Fatalf("slot %d still holds a written buffer", i)
		}
	}
}
