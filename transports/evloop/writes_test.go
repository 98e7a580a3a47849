package evloop

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// The optional write interfaces: WriteDirect reports what the kernel took
// at once and OnWritten only the rest; QueueWrite from another goroutine
// is written by the loop and reported by OnWritten; Recycle takes back a
// read buffer. Every byte arrives, in order, and every byte is reported
// exactly once.
func TestDirectAndQueuedWrites(t *testing.T) {
	var reported, direct atomic.Int64
	s, c, closed := acceptOne(t, New(Options{}), func(s transports.Stream) transports.StreamFuncs {
		return transports.StreamFuncs{
			Data: func(b []byte) {
				// An echo from the loop: direct, then recycled.
				k, err := s.(transports.DirectWriter).WriteDirect(b)
				if err != nil {
					t.Error(err)
				}
				direct.Add(int64(k))
				if k == len(b) {
					s.(transports.Recycler).Recycle(b)
				}
			},
			Written: func(k int) { reported.Add(int64(k)) },
		}
	})
	// Queued writes from this goroutine, then an echo, then more queued.
	var want bytes.Buffer
	for i := 0; i < 50; i++ {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i)
		want.Write(b)
		if err := s.(transports.QueueWriter).QueueWrite(b); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, want.Len())
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatal("queued writes arrived changed or out of order")
	}
	echo := bytes.Repeat([]byte("echo"), 3000)
	if _, err := c.Write(echo); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(echo))
	if _, err := io.ReadFull(c, back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, echo) {
		t.Fatal("echo changed")
	}
	total := int64(want.Len() + len(echo))
	deadline := time.Now().Add(10 * time.Second)
	for reported.Load()+direct.Load() != total {
		if time.Now().After(deadline) {
			t.Fatalf("reported %d + direct %d, want %d in all", reported.Load(), direct.Load(), total)
		}
		time.Sleep(time.Millisecond)
	}
	if reported.Load() < int64(want.Len()) {
		t.Fatalf("queued writes reported %d of %d bytes", reported.Load(), want.Len())
	}
	_ = s.Close()
	<-closed
	if err := s.(transports.QueueWriter).QueueWrite([]byte("x")); err == nil {
		t.Fatal("QueueWrite after Close did not fail")
	}
}
