package loadgen

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// control lets connect, not bind, choose the source port of a socket bound
// to a source address (IP_BIND_ADDRESS_NO_PORT): a port is then shared by
// connections to different servers, and bind does not run out of ports.
func control(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
	}); err != nil {
		return err
	}
	return serr
}
