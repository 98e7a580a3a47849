package evloop

import (
	"math/bits"
	"sync"
	"unsafe"
)

// Read buffers handed to OnData come from size-classed pools, so that a
// handler that gives them back (transports.Recycler), as an echo does
// once its write is done, does not make the garbage collector run at the
// rate bytes arrive. A buffer is taken when a read delivers data and is
// only in the pool when nobody holds it: an idle connection holds none.
// sync.Pool is the pool; what is written here is only the size classes.
//
// The pools hold a pointer to a buffer's first byte, not a slice: a
// pointer goes into sync.Pool's interface without an allocation, where a
// slice header would be moved to the heap on every put (one allocation per
// read, the cost the pool is there to save). The class gives the length
// back on the way out.

const (
	minClassShift = 9  // 512 B: smaller reads are cheaper to allocate
	maxClassShift = 16 // 64 KiB
)

var bufPools [maxClassShift - minClassShift + 1]sync.Pool

// classOf returns the pool index of the smallest class holding n bytes,
// or -1 when n is outside the classes.
func classOf(n int) int {
	if n <= 1<<(minClassShift-1) || n > 1<<maxClassShift {
		return -1
	}
	shift := bits.Len(uint(n - 1))
	if shift < minClassShift {
		shift = minClassShift
	}
	return shift - minClassShift
}

// getBuf returns a buffer of length n, pooled when n has a class.
func getBuf(n int) []byte {
	i := classOf(n)
	if i < 0 {
		return make([]byte, n)
	}
	if p, ok := bufPools[i].Get().(*byte); ok {
		return unsafe.Slice(p, 1<<(i+minClassShift))[:n]
	}
	return make([]byte, n, 1<<(i+minClassShift))
}

// putBuf gives back a buffer getBuf made; others are left to the garbage
// collector.
func putBuf(b []byte) {
	c := cap(b)
	if c < 1<<minClassShift || c > 1<<maxClassShift || c&(c-1) != 0 {
		return
	}
	bufPools[bits.Len(uint(c))-1-minClassShift].Put(unsafe.SliceData(b[:c]))
}
