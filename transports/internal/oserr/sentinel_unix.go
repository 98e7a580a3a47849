//go:build unix

package oserr

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
