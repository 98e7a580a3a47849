//go:build windows

package osnet

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

// transientRecv reports a receive error on a datagram socket that refers to
// an earlier send (an ICMP error) and must not close the socket. Go turns
// off SIO_UDP_CONNRESET, but a port-unreachable can still surface.
func transientRecv(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	switch errno {
	case windows.WSAECONNRESET, windows.WSAENETRESET, windows.WSAEHOSTUNREACH, windows.WSAENETUNREACH:
		return true
	}
	return false
}

// msgTrunc: Windows reports truncation as WSAEMSGSIZE, not as a flag.
const msgTrunc = 0

// truncatedErr reports the error Windows returns for a datagram cut to the
// buffer; the bytes that fit were read.
func truncatedErr(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && errno == windows.WSAEMSGSIZE
}
