package transports

import (
	"crypto/tls"
	"net/netip"
)

// Stream is a connected, ordered, reliable byte stream: a TCP connection,
// possibly with TLS on top. Its owner calls Start once with a handler; the
// stream then pushes events to the handler. All methods are safe for
// concurrent use and none blocks on the network.
type Stream interface {
	// Start begins reading and writing, delivering events to h. Writes made
	// before Start are queued and sent after it. A second call returns
	// ErrStarted; a call after Close or Abort returns ErrClosed.
	Start(h StreamHandler) error
	// Write queues b to be sent and returns at once; b belongs to the
	// stream until OnWritten covers it. Bytes are sent in Write order.
	// The queue is not bounded here: the owner bounds it by counting bytes
	// written minus bytes reported by OnWritten. Write after CloseWrite,
	// Close or Abort returns ErrClosed.
	Write(b []byte) error
	// SetReading suspends (false) or resumes (true) reading. A new stream
	// reads. While suspended no OnData is delivered and the socket is read
	// at most once more (one buffer of ReadSize bytes held back), so the
	// kernel's window fills and the peer's writes stall: back-pressure. A
	// peer close or reset with no unread data before it is still reported
	// while suspended; one that follows unread data is reported after that
	// data, once reading resumes.
	SetReading(on bool)
	// CloseWrite ends our side of the stream once queued writes are sent
	// (TCP FIN, or TLS close_notify): the peer sees end of stream, and we
	// keep reading until the peer closes too.
	CloseWrite() error
	// Close sends every queued write, then closes the stream. OnClosed(nil)
	// follows unless something else ended the stream first. Close does not
	// wait; call Abort to give up on a flush that does not finish.
	Close() error
	// Abort resets the stream now: queued writes are dropped and the peer
	// sees a reset (TCP RST via SO_LINGER 0). OnClosed(ErrAborted) follows
	// unless the stream had already ended.
	Abort() error
	// LocalAddr and RemoteAddr are the stream's endpoints.
	LocalAddr() netip.AddrPort
	RemoteAddr() netip.AddrPort
	// TLS returns the TLS connection state, or nil for a plain stream.
	TLS() *tls.ConnectionState
}

// DirectWriter is implemented by a Stream that can hand bytes to the
// kernel from the caller of Write: WriteDirect is Write, and it returns how
// many bytes of b the kernel took before it returned. Those bytes are done
// (b's prefix of that length no longer belongs to the stream) and OnWritten
// does not report them again; it reports only the rest. A stream owner
// that counts bytes in flight saves a round of OnWritten per message.
type DirectWriter interface {
	WriteDirect(b []byte) (int, error)
}

// QueueWriter is implemented by a Stream that runs on an event loop:
// QueueWrite is Write, except that the bytes are handed to the kernel by
// the loop's own goroutine in its next turn, with the stream's other
// writes, rather than by the caller. A goroutine that writes for many
// streams (one actor answering every connection's requests) spreads the
// system calls over the loops this way instead of making them all itself.
type QueueWriter interface {
	QueueWrite(b []byte) error
}

// Recycler is implemented by a Stream whose OnData buffers come from a
// pool. Recycle gives back b, a buffer the stream's OnData delivered (or a
// prefix of one) that nobody uses any more, not even a Write in progress;
// nothing may touch b afterwards. An echo recycles what it has written.
type Recycler interface {
	Recycle(b []byte)
}

// Borrower is implemented by a StreamHandler that uses OnData's b only
// during the call: it copies what it keeps, and it neither Recycles b nor
// hands it to a Write. A stream may then lend it the buffer it read into
// instead of a copy, which saves a copy and an allocation per read; b must
// not be touched once OnData returns. A parser that consumes its input at
// once (the HTTP event-loop engine's) is one.
type Borrower interface {
	StreamHandler
	// BorrowsData marks the handler; it is never called.
	BorrowsData()
}

// StreamHandler receives a stream's events. Calls are serialized and none
// follows OnClosed.
type StreamHandler interface {
	// OnData delivers bytes read from the stream, in order. b belongs to
	// the handler (a Borrower's only for the call).
	OnData(b []byte)
	// OnWritten reports that n more bytes, in Write order, were handed to
	// the kernel (the simulated network: put on the wire). One call may
	// cover part of a Write or several Writes.
	OnWritten(n int)
	// OnClosed is the last event: err is nil after our Close, ErrAborted
	// after our Abort, ErrPeerClosed after an orderly close by the peer,
	// or an error wrapping ErrReset, ErrTimeout or an I/O failure.
	OnClosed(err error)
}

// PeerClosedHandler is a StreamHandler that keeps the stream open for
// writing after the peer ends its side (TCP half close). Without it, a
// stream whose peer closes flushes its queued writes and closes itself,
// reporting OnClosed(ErrPeerClosed).
type PeerClosedHandler interface {
	StreamHandler
	// OnPeerClosed reports that the peer ended its side: no more OnData
	// follows. The stream stays open for writing until Close or Abort;
	// if we had already called CloseWrite, OnClosed(ErrPeerClosed)
	// follows at once.
	OnPeerClosed()
}

// Listener accepts streams. Its owner calls Start once with a handler.
type Listener interface {
	// Start begins accepting, delivering events to h.
	Start(h ListenerHandler) error
	// SetAccepting pauses (false) or resumes (true) accepting. While
	// paused, new connections wait in the kernel's backlog.
	SetAccepting(on bool)
	// Addr is the address the listener is bound to, with the actual port.
	Addr() netip.AddrPort
	// Close stops accepting and releases the port. Streams already
	// accepted are not affected. OnClosed(nil) follows.
	Close() error
}

// ListenerHandler receives a listener's events. Calls are serialized and
// none follows OnClosed.
type ListenerHandler interface {
	// OnAccept delivers a new stream, TLS handshake done when the listener
	// has TLS. The handler owns s and must Start or Close it.
	OnAccept(s Stream)
	// OnAcceptError reports a failure that did not stop the listener: a
	// TLS handshake that failed, a temporary accept error.
	OnAcceptError(err error)
	// OnClosed is the last event: nil after Close, otherwise the error that
	// stopped the listener.
	OnClosed(err error)
}
