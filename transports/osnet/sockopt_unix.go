//go:build unix

package osnet

import (
	"net"
	"syscall"
)

// setBroadcast sets SO_BROADCAST; Go turns it on for every datagram socket,
// and the options say whether it should be.
func setBroadcast(c *net.UDPConn, on bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	v := 0
	if on {
		v = 1
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_BROADCAST, v)
	}); err != nil {
		return err
	}
	return serr
}

// reuseAddr sets SO_REUSEADDR, and SO_REUSEPORT on the BSDs, where UDP
// sockets sharing a port need both (as Go's own ListenMulticastUDP does).
func reuseAddr(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		if serr == nil && soReusePort != 0 {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
