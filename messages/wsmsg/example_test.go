package wsmsg_test

import (
	"fmt"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/wsmsg"
)

// A WebSocket handler sees the socket open, its messages, and why it closed.
func Example() {
	for _, e := range []any{
		&wsmsg.Opened{Target: "/ws"},
		&wsmsg.Text{Data: []byte("hi")},
		&wsmsg.Closed{Reason: messages.PeerClosed, Code: wsmsg.CodeNormal},
	} {
		switch m := e.(type) {
		case *wsmsg.Opened:
			fmt.Println("open on", m.Target)
		case *wsmsg.Text:
			fmt.Printf("text %q\n", m.Data)
		case *wsmsg.Closed:
			fmt.Println("closed:", m.Reason, m.Code)
		}
	}
	// Output:
	// open on /ws
	// text "hi"
	// closed: peer-closed 1000
}
