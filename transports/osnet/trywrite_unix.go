//go:build unix

package osnet

import (
	"net"
	"syscall"
)

// rawWriter writes to a TCP socket without waiting, on the caller's
// goroutine: Go's poller keeps the socket non-blocking, so a full send
// buffer gives EAGAIN, which is no error here. Go's net.Conn has no such
// call; the raw descriptor, held through RawConn.Write so that it cannot
// be closed and reused meanwhile, does. One write at a time (the stream's
// busy flag): the function RawConn.Write runs and its results are kept
// here, made once, so that a write allocates nothing.
type rawWriter struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool
	b   []byte
	n   int
	err error
}

// newRawWriter returns tc's rawWriter, or nil when its descriptor cannot
// be had.
func newRawWriter(tc *net.TCPConn) *rawWriter {
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &rawWriter{rc: rc}
	w.fn = w.write
	return w
}

// tryWrite writes what the kernel takes of b at once and returns how much
// that was.
func (w *rawWriter) tryWrite(b []byte) (int, error) {
	w.b, w.n, w.err = b, 0, nil
	werr := w.rc.Write(w.fn)
	n, err := w.n, w.err
	w.b, w.err = nil, nil
	if err == nil {
		err = werr
	}
	return n, err
}

func (w *rawWriter) write(fd uintptr) bool {
	for len(w.b) > 0 {
		k, e := syscall.Write(int(fd), w.b)
		if k > 0 {
			w.n += k
			w.b = w.b[k:]
		}
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			return true
		case e != nil:
			w.err = e
			return true
		case k <= 0:
			return true
		}
	}
	return true // done: do not wait for the socket
}
