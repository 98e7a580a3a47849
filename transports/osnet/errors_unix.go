//go:build unix

package osnet

import (
	"errors"
	"syscall"
)

// transientRecv reports a receive error on a datagram socket that refers to
// an earlier send (an ICMP error) and must not close the socket.
func transientRecv(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case syscall.ECONNREFUSED, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EINTR, syscall.ENOBUFS:
		return true
	}
	return false
}

// msgTrunc is the recvmsg flag that marks a datagram cut to the buffer.
const msgTrunc = syscall.MSG_TRUNC

// truncatedErr reports a receive error that only says the datagram was cut
// to the buffer; unix systems report that in the flags instead.
func truncatedErr(error) bool { return false }
