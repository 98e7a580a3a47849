// Package messages holds the typed messages that microstack's actors exchange:
// commands, events and failures. Messages are plain data: no behaviour, no I/O,
// no locks. Module-specific messages live in sub-packages named after the
// module with a "msg" suffix (tcpmsg, udpmsg, storemsg, procmsg, ...), so that
// they read well beside the actor packages of the same name; this package holds
// what every module shares.
//
// # Conventions
//
// Commands are imperative (Connect, Bind, Write, SendTo, Close, Put, Spawn).
// Events are past tense (Connected, Bound, Received, Closed, Exited).
//
// Every command that can fail is answered, on failure, with a CommandFailed
// that carries the command and the cause. Nothing fails silently and nothing
// panics on bad input: an actor that receives a malformed command answers
// CommandFailed and keeps running.
//
// The actor that sent a command is told the outcome. An owner may Register
// another actor as the handler of a connection's events, as in Akka IO.
//
// Back-pressure is part of the protocol. A write can ask for an
// acknowledgement (WriteAck) once its bytes are handed to the kernel. A send
// buffer has a high-water mark past which writes are refused with
// WriteRefused; every later write is refused too until the sender asks
// ResumeWriting, answered with WritingResumed once the buffer has drained
// below its low-water mark (Akka IO's NACK-with-suspend, which keeps writes
// in order when a sender has several in flight). Reading can be suspended
// and resumed. No queue in the runtime grows without bound.
//
// # Ownership of byte slices
//
// A []byte inside a message is owned by the receiver once the message is
// sent: the sender must not read or write it again. Actors that keep a buffer
// for reuse copy before sending. This rule lets a socket actor hand the bytes
// it read to a handler without a copy, and a handler hand bytes to a socket
// for writing without a copy.
//
// # Close reasons
//
// Every connection-like actor reports why it closed with a CloseReason:
// closed by us, by the peer, aborted, by an error (with the error), or by its
// supervisor.
package messages
