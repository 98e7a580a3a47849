//go:build unix

package osnet

import (
	"errors"
	"syscall"

	"github.com/microstack-go/microstack/transports"
)

// sentinel maps an OS error to the transports error a caller tests for.
func sentinel(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case syscall.ECONNREFUSED:
		return transports.ErrRefused
	case syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNABORTED:
		return transports.ErrReset
	case syscall.ETIMEDOUT:
		return transports.ErrTimeout
	case syscall.EHOSTUNREACH, syscall.ENETUNREACH:
		return transports.ErrUnreachable
	case syscall.EADDRINUSE:
		return transports.ErrAddrInUse
	case syscall.EADDRNOTAVAIL:
		return transports.ErrAddrNotAvailable
	case syscall.EMSGSIZE:
		return transports.ErrTooLarge
	case syscall.EAFNOSUPPORT, syscall.EINVAL, syscall.EDESTADDRREQ:
		return transports.ErrInvalidAddress
	}
	return nil
}

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
