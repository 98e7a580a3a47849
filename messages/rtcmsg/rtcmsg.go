// Package rtcmsg holds the messages of the WebRTC actors (actors/webrtc),
// microstack's counterpart of MicroStack's ILibWebRTC and
// ILibWrapperWebRTC: a peer connection actor that negotiates with SDP and
// trickled ICE candidates, and one data channel actor per channel.
//
// Signaling is not the peer's business: the peer emits its descriptions and
// candidates as events and takes the remote ones as commands, and whoever
// carries them (HTTP, WebSocket, a relay) sits outside.
//
// Commands are answered to their sender: with the reply named beside them, or
// with a *messages.CommandFailed whose Err wraps one of the errors below,
// messages.ErrBadCommand, messages.ErrNotConnected or messages.ErrClosed.
// Events that nobody asked for (LocalCandidate, ConnectionStateChanged,
// DataChannelOpened, Message, messages.Closed) go to the actor's handler,
// which messages.Register changes.
//
// Data channel back-pressure follows Akka IO's NACK-with-suspend: a Send
// that would push the channel's buffered amount past its high-water mark is
// answered with messages.WriteRefused, and so is every later Send, until the
// writer sends ResumeWriting; messages.WritingResumed answers it once the
// buffer has drained to the low-water mark. The writer then resends, in
// order, what was refused. A writer that pipelines Sends therefore never
// sees a later one accepted before an earlier refused one. Send.Data
// follows the ownership rule of package messages.
package rtcmsg

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
)

// Errors a caller can test for with errors.Is on CommandFailed.Err.
var (
	// ErrBadDescription answers a SetRemoteDescription whose SDP could not
	// be parsed or applied. The peer is unchanged and stays usable.
	ErrBadDescription = errors.New("webrtc: bad session description")
	// ErrBadCandidate answers an AddRemoteCandidate whose candidate could
	// not be parsed or applied. The peer stays usable.
	ErrBadCandidate = errors.New("webrtc: bad ICE candidate")
	// ErrWrongState answers a command the peer's signaling state does not
	// allow, such as an answer while no offer is pending.
	ErrWrongState = errors.New("webrtc: not allowed in this signaling state")
	// ErrMessageTooLarge answers a Send larger than the association's
	// maximum message size (the remote's a=max-message-size). Nothing is
	// sent: a message is never cut.
	ErrMessageTooLarge = errors.New("webrtc: message larger than the SCTP maximum message size")
	// ErrBadChannel answers an OpenDataChannel whose options pion refuses
	// (both MaxRetransmits and MaxPacketLifeTime, a label too long).
	ErrBadChannel = errors.New("webrtc: bad data channel options")
)

// SDPType is the type of a session description, as in the W3C
// RTCSdpType: "offer", "answer", "pranswer" or "rollback".
type SDPType string

// The session description types.
const (
	Offer    SDPType = "offer"
	Answer   SDPType = "answer"
	PrAnswer SDPType = "pranswer"
	Rollback SDPType = "rollback"
)

// CreateOffer asks the peer for an offer, which it sets as its local
// description. Open the data channels first (OpenDataChannel): an offer
// without any carries no data section. Answered with LocalDescription.
type CreateOffer struct {
	// WaitForCandidates holds the answer until ICE gathering has
	// completed, so that the description carries every local candidate
	// and no LocalCandidate event is needed (signaling without trickle,
	// such as one HTTP request). Otherwise LocalCandidate events follow
	// the description as candidates are found.
	WaitForCandidates bool
}

// SetRemoteDescription gives the peer the remote side's description. For an
// offer the peer creates its answer and sets it as its local description,
// and the command is answered with that LocalDescription; for an answer it
// is answered with RemoteDescriptionSet. Malformed SDP is answered with
// CommandFailed wrapping ErrBadDescription (ErrWrongState when the type does
// not fit the signaling state).
type SetRemoteDescription struct {
	Type SDPType
	SDP  string
	// WaitForCandidates, for an offer, holds the answer until ICE
	// gathering has completed (see CreateOffer).
	WaitForCandidates bool
}

// RemoteDescriptionSet answers SetRemoteDescription of an answer.
type RemoteDescriptionSet struct {
	Type SDPType
}

// LocalDescription carries the peer's own description: the answer to
// CreateOffer, or the answer to SetRemoteDescription of an offer.
type LocalDescription struct {
	Type SDPType
	SDP  string
}

// Candidate is an ICE candidate as the W3C RTCIceCandidateInit carries it.
type Candidate struct {
	// Candidate is the candidate attribute ("candidate:1 1 udp ..."); the
	// empty string marks the end of candidates.
	Candidate string
	// SDPMid is the media section's identification tag, when known.
	SDPMid string
	// SDPMLineIndex is the media section's index; nil when unknown.
	SDPMLineIndex *uint16
	// UsernameFragment is the ICE ufrag the candidate belongs to, when known.
	UsernameFragment string
}

// AddRemoteCandidate gives the peer one trickled remote candidate. It is not
// answered on success; a malformed candidate is answered with CommandFailed
// wrapping ErrBadCandidate, and one sent before the remote description with
// ErrWrongState.
type AddRemoteCandidate struct {
	Candidate Candidate
}

// LocalCandidate is sent to the handler for each local candidate found
// while gathering (trickle ICE). GatheringComplete follows the last.
type LocalCandidate struct {
	Candidate Candidate
}

// GatheringComplete is sent to the handler when ICE gathering has ended:
// no LocalCandidate follows until the next offer or answer.
type GatheringComplete struct{}

// ConnectionState is the W3C RTCPeerConnectionState: "new", "connecting",
// "connected", "disconnected", "failed" or "closed".
type ConnectionState string

// The connection states.
const (
	StateNew          ConnectionState = "new"
	StateConnecting   ConnectionState = "connecting"
	StateConnected    ConnectionState = "connected"
	StateDisconnected ConnectionState = "disconnected"
	StateFailed       ConnectionState = "failed"
	StateClosed       ConnectionState = "closed"
)

// ConnectionStateChanged is sent to the handler when the peer connection's
// state changes.
type ConnectionStateChanged struct {
	State ConnectionState
}

// OpenDataChannel asks the peer to open a data channel (W3C
// createDataChannel). The channel opens once the connection is up;
// DataChannelOpened then goes to Handler. A failure is answered to the
// sender with CommandFailed wrapping ErrBadChannel or messages.ErrClosed.
type OpenDataChannel struct {
	Label    string
	Protocol string
	// Unordered lets messages arrive out of order.
	Unordered bool
	// MaxRetransmits, when set, makes the channel partially reliable: a
	// message is retransmitted at most that many times, then dropped.
	MaxRetransmits *uint16
	// MaxPacketLifeTime, when set, makes the channel partially reliable: a
	// message is retransmitted for at most that many milliseconds.
	// Exclusive with MaxRetransmits.
	MaxPacketLifeTime *uint16
	// Handler receives the channel's DataChannelOpened, Message and Closed
	// events. Default: the sender of OpenDataChannel.
	Handler *actor.PID
}

// DataChannelOpened is sent when a data channel is open, the local side's
// (to OpenDataChannel's handler) or the remote side's (to the peer's
// handler). Channel is the data channel actor, a child of the peer: send it
// Send and Close; its events go to the same handler until a
// messages.Register.
type DataChannelOpened struct {
	Label    string
	Protocol string
	Channel  *actor.PID
	// ID is the SCTP stream identifier.
	ID      uint16
	Ordered bool
	// MaxRetransmits and MaxPacketLifeTime are the channel's partial
	// reliability, nil when not set.
	MaxRetransmits    *uint16
	MaxPacketLifeTime *uint16
	// Remote is true when the remote side opened the channel.
	Remote bool
	// MaxMessageSize is the largest Send the association carries.
	MaxMessageSize int
}

// Send sends one message on a data channel. Answered with messages.WriteAck
// when Ack is not nil and the message is handed to SCTP; with
// messages.WriteRefused past the high-water mark or while writing is
// suspended (see ResumeWriting); with CommandFailed
// wrapping ErrMessageTooLarge or messages.ErrNotConnected.
type Send struct {
	Data []byte
	// Text sends the message as a string (PPID 51) rather than binary.
	Text bool
	// Ack, when not nil, is returned in a messages.WriteAck.
	Ack any
}

// ResumeWriting is the shared messages.ResumeWriting: it asks a data
// channel that refused a Send to accept Sends again.
type ResumeWriting = messages.ResumeWriting

// Message is one message received on a data channel, sent to the channel's
// handler. Channel is the data channel actor it came from.
type Message struct {
	Channel *actor.PID
	Data    []byte
	// Text is true for a string message.
	Text bool
}

// Close closes a data channel (sent to the channel) or the whole peer
// connection (sent to the peer). The actor sends messages.Closed with
// messages.ClosedByUs to its handler and stops.
type Close struct{}
