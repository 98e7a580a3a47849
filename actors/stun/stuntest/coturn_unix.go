//go:build unix

package stuntest

import (
	"os"
	"syscall"
)

// terminate asks turnserver to stop: SIGTERM. The cleanup kills it if it
// is still there after 5 seconds.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
