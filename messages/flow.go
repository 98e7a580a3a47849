package messages

import "github.com/asynkron/protoactor-go/actor"

// CloseReason says why a connection-like actor (TCP, WebSocket, data
// channel, process pipe) closed.
type CloseReason int

const (
	// ClosedByUs means a Close command was carried out.
	ClosedByUs CloseReason = iota + 1
	// PeerClosed means the other side ended the stream in order.
	PeerClosed
	// Aborted means the stream was reset, by an Abort command or by the peer.
	Aborted
	// ErrorClosed means an I/O error ended the stream; Closed.Err holds it.
	ErrorClosed
	// SupervisorStopped means the actor's supervisor stopped it.
	SupervisorStopped
)

// String returns the reason in words, as shown in logs and the console.
func (r CloseReason) String() string {
	switch r {
	case ClosedByUs:
		return "closed-by-us"
	case PeerClosed:
		return "peer-closed"
	case Aborted:
		return "aborted"
	case ErrorClosed:
		return "error"
	case SupervisorStopped:
		return "supervisor-stopped"
	}
	return "unknown"
}

// Closed is the last event of a connection-like actor.
type Closed struct {
	Reason CloseReason
	// Err is the cause when Reason is ErrorClosed (and may be set for
	// Aborted); nil otherwise.
	Err error
}

// WriteAck acknowledges a write that asked for it (Ack non-nil): its bytes
// were handed to the kernel or the peer library. Ack is the value the write
// carried, so a handler can match acknowledgements to writes.
type WriteAck struct {
	Ack any
}

// WriteRefused answers a write that would push the send buffer past its
// high-water mark. Nothing of the refused write was queued. From then on
// every write is refused, so that writes a sender has in flight cannot
// overtake the refused one, until the sender asks ResumeWriting (Akka IO's
// NACK-with-suspend). Cmd is the refused command.
type WriteRefused struct {
	Cmd      any
	Buffered int // bytes queued when the write was refused
}

// ResumeWriting asks a connection that refused a write to accept writes
// again. It is answered with WritingResumed once the send buffer has drained
// below its low-water mark (at once if it already has); the sender then
// resends the refused writes, in order.
type ResumeWriting struct{}

// WritingResumed answers ResumeWriting: writes are accepted again.
type WritingResumed struct{}

// SuspendReading stops delivery of received data until ResumeReading. The
// source is not read meanwhile, so the kernel (or the child process) applies
// back-pressure to the sender. Close events are still delivered.
type SuspendReading struct{}

// ResumeReading restarts delivery of received data. Credits of zero or less
// means unlimited (push mode); a positive count delivers that many reads and
// then sends Passive (Erlang's {active, N}), which covers pull (1) and batch
// (N) reading with one message.
type ResumeReading struct {
	Credits int
}

// Passive tells a handler that the read credits it granted are used up.
type Passive struct{}

// Register names the actor that receives a connection's events from now on.
type Register struct {
	Handler *actor.PID
}
