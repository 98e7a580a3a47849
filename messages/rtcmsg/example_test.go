package rtcmsg_test

import (
	"errors"
	"fmt"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
)

// Signaling carries what a peer actor answers: its description, or a clear
// error for a malformed one (the peer stays usable).
func Example() {
	replies := []any{
		&rtcmsg.LocalDescription{Type: rtcmsg.Answer, SDP: "v=0..."},
		&messages.CommandFailed{Cmd: &rtcmsg.SetRemoteDescription{Type: rtcmsg.Offer, SDP: "garbage"}, Err: fmt.Errorf("parse: %w", rtcmsg.ErrBadDescription)},
	}
	for _, r := range replies {
		switch m := r.(type) {
		case *rtcmsg.LocalDescription:
			fmt.Println("send the", m.Type, "to the remote peer")
		case *messages.CommandFailed:
			fmt.Println("tell the remote peer its offer was bad:", errors.Is(m, rtcmsg.ErrBadDescription))
		}
	}
	// Output:
	// send the answer to the remote peer
	// tell the remote peer its offer was bad: true
}
