//go:build unix

package process

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/creack/pty"
)

// checkOptions reports an option this system cannot honour: none on Unix.
func checkOptions(Options) error { return nil }

// sysCredential converts the portable Credential for syscall.
func sysCredential(c *Credential) *syscall.Credential {
	if c == nil {
		return nil
	}
	return &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: slices.Clone(c.Groups)}
}

// pipeAttrs puts a child on pipes in a process group of its own, which is
// what stop signals, as o.Credential's user.
func pipeAttrs(o Options) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: sysCredential(o.Credential)}
}

// startPTY starts cmd on a new pseudo-terminal and returns the terminal.
func startPTY(cmd *exec.Cmd, o Options) (*os.File, error) {
	env := cmd.Env
	if env == nil {
		// The actor's own TERM describes its terminal, if any, not
		// this one.
		env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "TERM=") })
	}
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "TERM=") }) {
		env = append(slices.Clip(env), "TERM=xterm-256color")
	}
	cmd.Env = env
	// A new session makes the child leader of its own process group,
	// which is what stop signals.
	attrs := &syscall.SysProcAttr{Setsid: true, Setctty: true, Credential: sysCredential(o.Credential)}
	return pty.StartWithAttrs(cmd, &pty.Winsize{Rows: o.Rows, Cols: o.Cols}, attrs)
}

// signal sends sig to the child, or to its process group when group is set.
func (c *child) signal(sig syscall.Signal, group bool) error {
	if group {
		return syscall.Kill(-c.pid, sig)
	}
	return c.cmd.Process.Signal(sig)
}

// terminateGroup asks the child's process group to end: SIGTERM.
func (c *child) terminateGroup() error { return syscall.Kill(-c.pid, syscall.SIGTERM) }

// killGroup ends the child's process group: SIGKILL.
func (c *child) killGroup() error { return syscall.Kill(-c.pid, syscall.SIGKILL) }

// groupAlive reports whether any process of the child's group is left.
// Zombies do not count: they are dead, and the orphans among them are
// init's to reap, which may take a while (or, in a container whose init
// does not reap, for ever).
func (c *child) groupAlive() bool {
	if syscall.Kill(-c.pid, 0) != nil {
		return false
	}
	live, ok := liveMembers(c.pid)
	return !ok || live
}

// liveMembers reports whether /proc lists a process of group pgid that is
// not a zombie; ok is false when /proc cannot be read.
func liveMembers(pgid int) (live, ok bool) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil || len(stats) == 0 {
		return false, false
	}
	want := strconv.Itoa(pgid)
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:])) // state, ppid, pgrp, ...
		if len(f) >= 3 && f[2] == want && f[0] != "Z" {
			return true, true
		}
	}
	return false, true
}
