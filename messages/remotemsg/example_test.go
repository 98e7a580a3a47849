package remotemsg_test

import (
	"errors"
	"fmt"

	"github.com/microstack-go/microstack/messages/remotemsg"
)

// A caller tells a refusal at the boundary from an actor's own failure
// with errors.Is.
func Example() {
	err := fmt.Errorf("request: %w: %q", remotemsg.ErrNoActor, "agent/nothing")
	fmt.Println(errors.Is(err, remotemsg.ErrNoActor), errors.Is(err, remotemsg.ErrNotRemotable))
	// Output: true false
}
