//go:build !unix && !windows

package osnet

import (
	"net"
	"syscall"
)

// setBroadcast leaves the platform's default.
func setBroadcast(*net.UDPConn, bool) error { return nil }

func reuseAddr(_, _ string, _ syscall.RawConn) error { return nil }
