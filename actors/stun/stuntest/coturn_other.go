//go:build !unix

package stuntest

import (
	"os"
	"syscall"
)

// sysProcAttr needs nothing special where there is no Unix process group;
// turnserver is a Debian program, so StartCoturn is expected to fail at
// LookPath here anyway.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// terminate kills turnserver: there is no SIGTERM to send.
func terminate(p *os.Process) error { return p.Kill() }
