package procmsg_test

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
)

// A handler of a process pipe sees its output, then how it exited, or why it
// did not start.
func Example() {
	events := []any{
		&procmsg.Started{PID: 4242},
		&procmsg.Stdout{Data: []byte("hello\n")},
		&procmsg.Exited{Code: 0, Duration: 3 * time.Millisecond},
		&messages.CommandFailed{Cmd: &procmsg.Signal{Sig: syscall.SIGHUP}, Err: fmt.Errorf("signal: %w", procmsg.ErrNotRunning)},
	}
	for _, e := range events {
		switch m := e.(type) {
		case *procmsg.Started:
			fmt.Println("started", m.PID)
		case *procmsg.Stdout:
			fmt.Printf("stdout %q\n", m.Data)
		case *procmsg.Exited:
			fmt.Println("exited", m.Code)
		case *messages.CommandFailed:
			fmt.Println("not running:", errors.Is(m, procmsg.ErrNotRunning))
		}
	}
	// Output:
	// started 4242
	// stdout "hello\n"
	// exited 0
	// not running: true
}
