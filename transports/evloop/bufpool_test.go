package evloop

import "testing"

func TestBufferClasses(t *testing.T) {
	for _, c := range []struct{ n, class int }{
		{1, -1}, {256, -1}, {257, 0}, {512, 0}, {513, 1}, {4096, 3}, {4097, 4}, {32 << 10, 6}, {64 << 10, 7}, {64<<10 + 1, -1},
	} {
		if got := classOf(c.n); got != c.class {
			t.Errorf("classOf(%d) = %d, want %d", c.n, got, c.class)
		}
	}
	b := getBuf(3000)
	if len(b) != 3000 || cap(b) != 4096 {
		t.Fatalf("getBuf(3000): len %d cap %d", len(b), cap(b))
	}
	putBuf(b[:10])
	putBuf(make([]byte, 100, 3000)) // not a class: ignored
	c := getBuf(4000)
	if len(c) != 4000 || cap(c) != 4096 {
		t.Fatalf("getBuf(4000): len %d cap %d", len(c), cap(c))
	}
	if s := getBuf(100); len(s) != 100 {
		t.Fatalf("getBuf(100): len %d", len(s))
	}
}

// The pools exist to save an allocation per read: giving a buffer back and
// taking it again must not allocate (a slice header put into sync.Pool
// would, once per put).
func TestPooledBuffersCostNoAllocation(t *testing.T) {
	putBuf(getBuf(3000)) // the pool's per-P state is made once
	if n := testing.AllocsPerRun(1000, func() { putBuf(getBuf(3000)) }); n != 0 {
		t.Fatalf("a get and a put allocate %v times", n)
	}
}
