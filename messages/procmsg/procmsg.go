// Package procmsg holds the messages of the process pipe actor
// (actors/process), microstack's counterpart of MicroStack's
// ILibProcessPipe: Spawn a child, read its Stdout and Stderr as events,
// write its stdin with back-pressure, signal it, and learn how it Exited.
//
// Output flow control uses the shared messages of package messages: the
// handler holds read credits (one credit per Stdout or Stderr event); when
// they run out it gets messages.Passive and the actor stops reading from the
// child, whose writes then block in the kernel, until the handler sends
// messages.ResumeReading with more credits (credits add up, as in Erlang's
// {active, N}; ResumeReading{Credits: 0} switches to unlimited push).
// messages.SuspendReading stops delivery at once. Stdin writes use
// messages.WriteAck, and the write back-pressure of package messages:
// messages.WriteRefused, then messages.ResumeWriting answered with
// messages.WritingResumed.
//
// Byte slices follow the ownership rule of package messages: the data of a
// Stdout event belongs to the handler; the data of a WriteStdin belongs to
// the actor once sent.
package procmsg

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Errors a caller can test for with errors.Is on CommandFailed.Err.
var (
	// ErrRunning answers a Spawn sent while a child is still running.
	ErrRunning = errors.New("process: a child is already running")
	// ErrNotRunning answers WriteStdin, CloseStdin and Signal when no child
	// runs.
	ErrNotRunning = errors.New("process: no child running")
	// ErrStdinClosed answers WriteStdin after CloseStdin, or after the child
	// closed its end of the pipe.
	ErrStdinClosed = errors.New("process: stdin closed")
	// ErrUnsupported answers a Spawn whose options the operating system
	// cannot honour (a pseudo-terminal or a Credential on Windows), and a
	// Signal it cannot send (on Windows, any signal but SIGKILL). It wraps
	// errors.ErrUnsupported, so errors.Is matches either.
	ErrUnsupported = fmt.Errorf("process: not supported on this operating system: %w", errors.ErrUnsupported)
)

// Spawn starts a child process. Answered with Started, or CommandFailed
// (the path does not exist, the user may not run it, a child already
// runs). The actor that sends Spawn receives the child's events, unless the
// actor's options name a handler or a messages.Register changed it.
type Spawn struct {
	// Path is the program to run; a name without a slash is looked up in
	// PATH.
	Path string
	// Args are the arguments after the program name.
	Args []string
	// Env, when not nil, replaces the environment ("KEY=value" entries);
	// nil inherits the actor's process environment.
	Env []string
	// Dir is the working directory; empty inherits the current one.
	Dir string
}

// Started answers Spawn once the child runs.
type Started struct {
	PID int
}

// Stdout carries bytes the child wrote to its standard output (with a
// pseudo-terminal, everything the terminal shows). Events of one stream
// arrive in the order the child wrote them.
type Stdout struct {
	Data []byte
}

// Stderr carries bytes the child wrote to its standard error. There is no
// Stderr under a pseudo-terminal, where standard error is the terminal.
type Stderr struct {
	Data []byte
}

// WriteStdin writes Data to the child's standard input. When Ack is not nil,
// messages.WriteAck{Ack} follows once the bytes are in the pipe. A write
// that would push the queued bytes past the actor's limit is answered with
// messages.WriteRefused, and so is every later write, until the writer
// sends messages.ResumeWriting; that is answered with
// messages.WritingResumed once the queue has drained (at once if it has),
// and the writer then resends the refused writes in order. The actor never
// sends WritingResumed unasked.
type WriteStdin struct {
	Data []byte
	Ack  any
}

// CloseStdin closes the child's standard input once the writes queued
// before it are written, so that a program reading to end of file (cat, wc)
// can finish. Under a pseudo-terminal it sends the terminal's end-of-file
// character instead.
type CloseStdin struct{}

// Signal sends Sig to the child, or to its whole process group when Group is
// true. Answered with CommandFailed only. On Windows only syscall.SIGKILL can
// be sent (it terminates the child; there is no process group, so Group
// reaches the child alone); any other signal fails with ErrUnsupported.
type Signal struct {
	Sig   syscall.Signal
	Group bool
}

// Exited is the child's last event, sent after all its output. Code is the
// exit status, or -1 when a signal ended the child; Signal is that signal,
// zero otherwise. TimedOut is true when the actor's timeout ended the child.
// Windows has no signals: a child the actor terminated (Signal SIGKILL, a
// timeout, the actor's stop) is reported with Code -1 and Signal SIGKILL.
type Exited struct {
	Code     int
	Signal   syscall.Signal
	Duration time.Duration
	TimedOut bool
}
