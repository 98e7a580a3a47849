//go:build windows

package osnet

import (
	"errors"
	"syscall"

	"golang.org/x/sys/windows"
)

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
