package messages_test

import (
	"errors"
	"fmt"

	"github.com/microstack-go/microstack/messages"
)

type write struct{ data []byte }

// A failed command comes back as CommandFailed, which is also an error that
// wraps its cause.
func ExampleCommandFailed() {
	var reply any = &messages.CommandFailed{
		Cmd: &write{data: []byte("x")},
		Err: fmt.Errorf("socket gone: %w", messages.ErrNotConnected),
	}
	if f, ok := reply.(*messages.CommandFailed); ok {
		fmt.Println(errors.Is(f, messages.ErrNotConnected))
		fmt.Println(f.Error())
	}
	fmt.Println(messages.PeerClosed, messages.SupervisorStopped)
	// Output:
	// true
	// *messages_test.write failed: socket gone: not connected
	// peer-closed supervisor-stopped
}
