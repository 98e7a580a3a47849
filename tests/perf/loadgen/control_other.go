//go:build !linux

package loadgen

import "syscall"

// control has nothing to set where IP_BIND_ADDRESS_NO_PORT does not exist.
func control(_, _ string, _ syscall.RawConn) error { return nil }
