// Package transports is the only place in microstack that touches the network.
// It defines the small set of interfaces the socket actors are written
// against (Network, Stream, Listener, PacketConn and their handlers), and two
// implementations live below it:
//
//   - transports/osnet: the operating system's network (net, crypto/tls),
//     one reader and one writer goroutine per socket;
//   - transports/sim: an in-memory network of hosts with per-link latency,
//     loss, duplication, reordering and partitions, all drawn from one seed
//     and timed by a clock.Clock, so that a run replays exactly.
//
// Actors never call net.Dial or net.Listen: they are given a Network.
//
// # Events, not blocking reads
//
// A Stream, Listener or PacketConn does not hand out a Read to park a
// goroutine on. Its owner calls Start with a handler and the transport pushes
// events to it: data arrived (OnData), bytes handed to the kernel (OnWritten),
// closed (OnClosed). This is the shape an event-loop backend (epoll, kqueue)
// can implement with a few goroutines for all sockets, and the shape an actor
// wants: each handler call becomes a message in the actor's mailbox.
//
// The rules every implementation keeps, and every handler may rely on:
//
//   - Calls to one handler are serialized: never two at once.
//   - OnClosed is the last call; nothing follows it. Every goroutine the
//     transport started for the socket has ended, or is about to end without
//     touching the handler, when OnClosed is called.
//   - A []byte passed to a handler belongs to the handler. A []byte passed
//     to Stream.Write belongs to the transport until the write is reported
//     by OnWritten. PacketConn.SendTo does not keep its slice.
//   - Handlers must not block for long: the portable backend calls them from
//     the socket's own goroutines, so a slow handler slows that socket, and
//     the simulated network calls them from its event loop, so a slow
//     handler stalls the whole simulation. Handlers may call any method of
//     the socket, including Close and Abort.
//   - Methods of a socket never block on the network and are safe for
//     concurrent use. The exceptions are Network.Dial, which blocks until the
//     connection (and TLS handshake) is made, the context ends, or it fails;
//     and PacketConn.SendTo, which may wait briefly for room in the kernel's
//     send buffer.
//
// # Errors
//
// Failures a caller must tell apart are the exported Err variables of this
// package, wrapped with context: test them with errors.Is. OnClosed's
// argument says why a stream ended: nil after our own Close, ErrAborted after
// our own Abort, ErrPeerClosed (which also matches io.EOF) when the peer
// ended the stream in order, ErrReset when the peer reset it, ErrTimeout when
// the connection timed out, and any other error for other I/O failures.
package transports
