//go:build !unix && !windows

package osnet

import "net"

// setBroadcast leaves the platform's default.
func setBroadcast(*net.UDPConn, bool) error { return nil }
