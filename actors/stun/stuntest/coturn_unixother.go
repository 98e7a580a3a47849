//go:build unix && !linux

package stuntest

import "syscall"

// sysProcAttr runs turnserver in a process group of its own. Pdeathsig is
// Linux only: a turnserver whose test process dies before its cleanup runs
// is left running.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
