//go:build windows

package oserr

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"

	"github.com/microstack-go/microstack/transports"
)

// sentinel maps an OS error to the transports error a caller tests for.
func sentinel(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return nil
	}
	switch errno {
	case windows.WSAECONNREFUSED:
		return transports.ErrRefused
	case windows.WSAECONNRESET, windows.WSAECONNABORTED, windows.WSAENETRESET, windows.ERROR_BROKEN_PIPE:
		return transports.ErrReset
	case windows.WSAETIMEDOUT:
		return transports.ErrTimeout
	case windows.WSAEHOSTUNREACH, windows.WSAENETUNREACH:
		return transports.ErrUnreachable
	case windows.WSAEADDRINUSE:
		return transports.ErrAddrInUse
	case windows.WSAEADDRNOTAVAIL:
		return transports.ErrAddrNotAvailable
	case windows.WSAEMSGSIZE:
		return transports.ErrTooLarge
	case windows.WSAEAFNOSUPPORT, windows.WSAEINVAL, windows.WSAEDESTADDRREQ:
		return transports.ErrInvalidAddress
	}
	return nil
}
