package storemsg_test

import (
	"errors"
	"fmt"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
)

// Every store command is answered once: with its reply, or with a
// CommandFailed whose error a caller tests with errors.Is.
func Example() {
	for _, reply := range []any{
		&storemsg.Got{Key: []byte("agent/id"), Value: []byte("2416415c")},
		&messages.CommandFailed{Cmd: &storemsg.Get{Key: []byte("missing")}, Err: fmt.Errorf("get: %w", storemsg.ErrNotFound)},
	} {
		switch r := reply.(type) {
		case *storemsg.Got:
			fmt.Printf("%s = %s\n", r.Key, r.Value)
		case *messages.CommandFailed:
			fmt.Println("not found:", errors.Is(r, storemsg.ErrNotFound))
		}
	}
	// Output:
	// agent/id = 2416415c
	// not found: true
}
