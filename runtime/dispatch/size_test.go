package dispatch

import (
	"testing"
	"unsafe"
)

// The README says a Mailbox is 120 bytes and holds nothing while empty.
func TestMailboxStaysSmallAndReleasesItsQueue(t *testing.T) {
	if n := unsafe.Sizeof(Mailbox{}); n > 120 {
		t.Fatalf("Mailbox is %d bytes, the README says 120", n)
	}
	var f fifo
	for i := 0; i < 100; i++ {
		f.push(i)
	}
	for i := 0; i < 100; i++ {
		if v, ok := f.pop(); !ok || v.(int) != i {
			t.Fatalf("pop %d: %v %v", i, v, ok)
		}
	}
	if f.q != nil {
		t.Fatalf("a drained queue keeps an array of %d", cap(f.q))
	}
	if _, ok := f.pop(); ok {
		t.Fatal("pop from an empty queue")
	}
}
