package messages

import (
	"errors"
	"fmt"
)

// CommandFailed answers a command that could not be carried out. Cmd is the
// command as it was received; Err says why and can be tested with errors.Is
// and errors.As.
type CommandFailed struct {
	Cmd any
	Err error
}

// Error makes a CommandFailed usable as an error, naming the command's type.
func (f *CommandFailed) Error() string {
	return fmt.Sprintf("%T failed: %v", f.Cmd, f.Err)
}

// Unwrap returns the cause.
func (f *CommandFailed) Unwrap() error { return f.Err }

// Errors shared by several modules. Actors wrap them with context; callers
// compare with errors.Is.
var (
	// ErrBadCommand marks a command whose fields are invalid (a missing
	// address, a negative size, an empty key).
	ErrBadCommand = errors.New("invalid command")
	// ErrNotConnected marks a command sent to a connection that is not open.
	ErrNotConnected = errors.New("not connected")
	// ErrClosed marks a command sent to an actor that is closing or closed.
	ErrClosed = errors.New("closed")
	// ErrTimeout marks an operation that did not finish in time.
	ErrTimeout = errors.New("timed out")
	// ErrUnknownCommand marks a message the actor does not accept.
	ErrUnknownCommand = errors.New("unknown command")
)
