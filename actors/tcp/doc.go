// Package tcp holds microstack's TCP actors, the counterparts of
// MicroStack's ILibAsyncSocket (a connection) and ILibAsyncServerSocket (a
// listener), speaking the messages of messages/tcpmsg (Akka IO's TCP
// protocol with Erlang's {active, N} reading).
//
// A connection actor (ConnectionProps) owns one connection. As a client it
// takes a tcpmsg.Connect, to an address or to a "name:port" resolved with
// the Resolver of its Options (IPv6 and IPv4 raced as RFC 8305 asks),
// directly or through an HTTP CONNECT or SOCKS5 proxy (explicit, or from
// HTTPS_PROXY and NO_PROXY), with TLS when asked (verification on, SNI,
// ALPN, pinning to a certificate hash), and answers tcpmsg.Connected or a
// messages.CommandFailed with the cause. Reads go to the handler as
// tcpmsg.Received under the shared flow control (messages.SuspendReading,
// messages.ResumeReading{Credits}, messages.Passive): while the handler
// holds no credit the socket is not read, so the kernel holds the peer
// back, yet a close is still reported. Writes are queued in order up to a
// high-water mark (1 MiB by default); past it a write is refused with
// messages.WriteRefused, and writing resumes after messages.ResumeWriting
// once the queue has drained (messages.WritingResumed). The connection ends
// with messages.Closed and its reason, and the actor stops. A handler
// spawned with dispatch.HereProps (an actor that never blocks), a client's
// or an accepted connection's, is run in place: each read is handled on
// the transport's goroutine, the handler's Write straight after, without
// a hand-off between goroutines (a client's CPU per round trip within
// 1.0-1.25x a raw Go client's on the event-loop transport:
// BenchmarkClientRoundTrip).
//
// A listener actor (ListenerProps) takes a tcpmsg.Bind and runs each
// accepted socket as a connection actor, its child, either with a handler
// built by the factory of its options (MicroStack's OnConnection) or by
// offering tcpmsg.Accepted to a handler that answers messages.Register. It
// can serve TLS with a given certificate or one generated and kept on disk,
// bounds its connections (closing the extra ones at once and counting
// them), and survives the crash of any connection.
//
// ClientSpec, ListenerSpec and EchoSpec give supervisor child specs:
// a client kept connected by its supervisor's backoff, a listener that
// binds the same address again after a crash, and an echo service.
// Stopping any of them drains what each connection had accepted for
// sending before its socket closes.
//
// Sockets come from a transports.Network: the operating system's, or a
// simulated one in tests. Every blocking step (connect, proxy exchange,
// TLS handshake) runs on a goroutine the actor owns and comes back as a
// message; no goroutine or descriptor outlives the actor. Counters
// (bytes_in, bytes_out, buffered, connections, accepted, rejected) are
// published on each actor's inspect entry.
package tcp
