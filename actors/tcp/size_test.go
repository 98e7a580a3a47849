package tcp

import (
	"testing"
	"unsafe"
)

// The README's memory figures count on these sizes: an idle connection is
// mostly its connection struct and its transport handler.
func TestConnectionStaysSmall(t *testing.T) {
	if n := unsafe.Sizeof(connection{}); n > 288 {
		t.Fatalf("connection is %d bytes; the idle-memory budget counts 288", n)
	}
	if n := unsafe.Sizeof(events{}); n > 80 {
		t.Fatalf("events is %d bytes; was 80", n)
	}
}
