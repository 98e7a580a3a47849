//go:build unix

package osnet

import (
	"net"
	"syscall"
)

// rawTCP returns what writes to tc without waiting: its descriptor, or nil
// when it cannot be had.
func rawTCP(tc *net.TCPConn) syscall.RawConn {
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// tryWrite writes what the kernel takes of b at once, on the caller's
// goroutine: Go's poller keeps the socket non-blocking, so a full send
// buffer gives EAGAIN, which is no error here (n is then what was taken).
// Go's net.Conn has no such call; the raw descriptor, held through
// RawConn.Write so that it cannot be closed and reused meanwhile, does.
func tryWrite(rc syscall.RawConn, b []byte) (n int, err error) {
	werr := rc.Write(func(fd uintptr) bool {
		for len(b) > 0 {
			k, e := syscall.Write(int(fd), b)
			if k > 0 {
				n += k
				b = b[k:]
			}
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				return true
			case e != nil:
				err = e
				return true
			case k <= 0:
				return true
			}
		}
		return true // done: do not wait for the socket
	})
	if err == nil {
		err = werr
	}
	return n, err
}
