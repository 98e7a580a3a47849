//go:build !unix

package osnet

import (
	"net"
	"syscall"
)

// rawTCP returns nil: streams write from their writer goroutine only on
// this platform.
func rawTCP(*net.TCPConn) syscall.RawConn { return nil }

// tryWrite is not called where rawTCP returns nil.
func tryWrite(syscall.RawConn, []byte) (int, error) { return 0, syscall.EINVAL }
