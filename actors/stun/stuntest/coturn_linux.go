//go:build linux

package stuntest

import "syscall"

// sysProcAttr runs turnserver in a process group of its own, killed by the
// kernel if the test process dies before its cleanup runs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
