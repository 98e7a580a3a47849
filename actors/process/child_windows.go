//go:build windows

package process

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/microstack-go/microstack/messages/procmsg"
)

// checkOptions refuses the options Windows cannot honour, rather than
// running the child without them.
func checkOptions(o Options) error {
	switch {
	case o.PTY:
		return fmt.Errorf("process: PTY: %w", procmsg.ErrUnsupported)
	case o.Credential != nil:
		return fmt.Errorf("process: Credential: %w", procmsg.ErrUnsupported)
	}
	return nil
}

// pipeAttrs starts a child on pipes in a process group of its own, so that
// a Ctrl+C at the actor's console does not reach it: as on Unix, the actor
// decides when the child ends.
func pipeAttrs(Options) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
}

// startPTY is never reached: checkOptions refuses PTY.
func startPTY(*exec.Cmd, Options) (*os.File, error) {
	return nil, fmt.Errorf("process: PTY: %w", procmsg.ErrUnsupported)
}

// signal kills the child when sig is SIGKILL and refuses any other signal.
// Windows has no process groups the actor could reach: group kills the
// child alone.
func (c *child) signal(sig syscall.Signal, group bool) error {
	if sig != syscall.SIGKILL {
		return procmsg.ErrUnsupported
	}
	return c.kill()
}

// terminateGroup kills the child: Windows has no SIGTERM to ask it first.
func (c *child) terminateGroup() error { return c.kill() }

// killGroup kills the child.
func (c *child) killGroup() error { return c.kill() }

// kill terminates the child (TerminateProcess) and records it, for Exited
// to report SIGKILL. Only the child ends: the processes it started survive
// it. Killing them too would take a Job object (CreateJobObject,
// AssignProcessToJobObject with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE), which
// this actor does not use yet.
func (c *child) kill() error {
	err := c.cmd.Process.Kill()
	if err == nil {
		c.killed.Store(int32(syscall.SIGKILL))
	}
	return err
}

// groupAlive reports whether the child is still running: without a Job
// object the actor knows of no other process of its "group".
func (c *child) groupAlive() bool { return !reapedYet(c) }
