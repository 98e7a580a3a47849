// Package wsmsg holds the messages of microstack's WebSocket actors (package
// actors/http/websocket): one actor per socket, on the server after an
// upgrade and on the client after a dial, exchanging Text and Binary
// messages with a handler actor.
//
// Flow control uses the shared messages of package messages, as a TCP
// connection does. Received messages are paced by read credits: the handler
// holds some (one per Text or Binary event), gets messages.Passive when they
// run out and grants more with messages.ResumeReading; meanwhile the socket
// is not read and the peer's writes stall in TCP. Sending is bounded by a
// high-water mark: a Text or Binary command past it is refused with
// messages.WriteRefused, and so is every later one, until the writer sends
// messages.ResumeWriting, answered with messages.WritingResumed once the
// queue has drained (at once if it has); the writer then resends the refused
// messages in order, and WritingResumed never comes unasked. A command with
// an Ack is acknowledged with messages.WriteAck once written.
//
// Byte slices follow the ownership rule of package messages.
package wsmsg

import (
	"errors"
	"net/http"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
)

// Errors a caller can test for with errors.Is on messages.CommandFailed.Err.
var (
	// ErrTooLarge answers a Send longer than the socket's message limit.
	ErrTooLarge = errors.New("websocket: message too large")
	// ErrBadCloseCode answers a Close with a code an application may not
	// send (RFC 6455 section 7.4: 1004 to 1006 and 1015 are reserved,
	// 1016 to 2999 unassigned).
	ErrBadCloseCode = errors.New("websocket: invalid close code")
)

// Close codes of RFC 6455 section 7.4.1 that applications meet most.
const (
	CodeNormal        = 1000
	CodeGoingAway     = 1001
	CodeProtocolError = 1002
	CodeUnsupported   = 1003
	CodeNoStatus      = 1005
	CodeAbnormal      = 1006
	CodeInvalidData   = 1007
	CodePolicy        = 1008
	CodeTooBig        = 1009
	CodeInternalError = 1011
)

// Opened tells the handler that a socket is open: after a server upgrade or
// a client dial (and after each reconnection of a client child spec).
type Opened struct {
	// Socket is the socket's actor; Send and Close go there.
	Socket *actor.PID
	// Remote and Local are the connection's endpoints.
	Remote, Local netip.AddrPort
	// Subprotocol is the negotiated subprotocol, empty when none.
	Subprotocol string
	// Target is the request target of the upgrade ("/ws?room=1"): on the
	// server as received, on the client as dialed.
	Target string
	// Header holds the upgrade request's header fields on the server and
	// the upgrade response's on the client.
	Header http.Header
}

// Text is a text message, received (event) or to send (command).
type Text struct {
	Data []byte
	// Ack, on a command, asks for messages.WriteAck{Ack} once written.
	Ack any
}

// Binary is a binary message, received (event) or to send (command).
type Binary struct {
	Data []byte
	// Ack, on a command, asks for messages.WriteAck{Ack} once written.
	Ack any
}

// Close starts the closing handshake with Code and Reason (at most 123
// bytes); Closed follows. Messages queued before Close are sent first.
type Close struct {
	Code   int
	Reason string
}

// Closed is a socket's last event.
type Closed struct {
	// Reason says who ended the socket (messages.ClosedByUs after Close,
	// messages.PeerClosed after the peer's close frame, messages.ErrorClosed
	// after a failure, messages.SupervisorStopped when the actor was
	// stopped).
	Reason messages.CloseReason
	// Code and Text are the close frame's status and reason (the peer's, or
	// ours), CodeAbnormal when the connection ended without one.
	Code int
	Text string
	// Err is the failure when Reason is messages.ErrorClosed.
	Err error
}
