package evloop

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

// stream is a TCP connection on a loop. Its descriptor is closed only by the
// loop goroutine (or by Close/Abort before Start, when the loop has never
// seen it), so the loop reads without holding mu; writes from any goroutine
// hold mu and check fd.
type stream struct {
	l        *loop
	fd       int // -1 once closed; written under mu
	slot     int32
	seq      uint32
	readSize int32
	local    netip.AddrPort
	remote   netip.AddrPort

	mu           sync.Mutex
	h            transports.StreamHandler
	queue        [][]byte // what the kernel has not taken yet, in order
	unreported   int      // bytes the kernel took, not yet told to OnWritten
	held         []byte   // one read made while suspended
	reason       error    // why the stream ended; first one wins
	started      bool
	registered   bool
	posted       bool // a task is queued on the loop
	reading      bool // the owner wants data
	readReady    bool // readable, and no EAGAIN seen since
	hup          bool // the peer hung up or failed: read until EOF or an error
	inputDone    bool // EOF or a read error was seen
	writeBlocked bool // the kernel's send buffer is full: wait for EPOLLOUT
	wantFin      bool // CloseWrite asked
	finDone      bool
	peerEOF      bool // the peer ended its side and the handler kept ours open
	closing      bool // flush, then close
	stopping     bool // close now: Abort or an I/O failure
	shut         bool // closed
	reasoned     bool
	inCall       bool // the loop is in a handler call and runs finish after it
	borrows      bool // the handler is a transports.Borrower: OnData gets the loop's buffer
}

var _ transports.Stream = (*stream)(nil)

func (s *stream) LocalAddr() netip.AddrPort  { return s.local }
func (s *stream) RemoteAddr() netip.AddrPort { return s.remote }

// TLS returns nil: TLS streams are served by the portable backend.
func (s *stream) TLS() *tls.ConnectionState { return nil }

func (s *stream) Start(h transports.StreamHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.stopping {
		return transports.ErrClosed
	}
	if s.started {
		return transports.ErrStarted
	}
	s.started, s.h = true, h
	_, s.borrows = h.(transports.Borrower)
	s.postLocked(true)
	return nil
}

// postLocked asks the loop to run the stream's task; called with mu held.
func (s *stream) postLocked(urgent bool) {
	if !s.posted {
		s.posted = true
		s.l.post(s, urgent)
	} else if urgent {
		s.l.wake(true)
	}
}

func (s *stream) Write(b []byte) error {
	_, err := s.write(b, false)
	return err
}

// Recycle implements transports.Recycler: b goes back to the read
// buffers' pool.
func (s *stream) Recycle(b []byte) { putBuf(b) }

// QueueWrite implements transports.QueueWriter: b is queued and the loop
// is asked to write it.
func (s *stream) QueueWrite(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.stopping || s.closing || s.wantFin {
		return fmt.Errorf("write to %v: %w", s.remote, transports.ErrClosed)
	}
	if len(b) == 0 {
		return nil
	}
	s.queue = append(s.queue, b)
	if !s.inCall {
		s.postLocked(true)
	}
	return nil
}

// WriteDirect implements transports.DirectWriter.
func (s *stream) WriteDirect(b []byte) (int, error) { return s.write(b, true) }

// write hands b to the kernel from the caller's goroutine when nothing is
// queued before it; with direct, the bytes the kernel took are returned
// instead of reported by OnWritten.
func (s *stream) write(b []byte, direct bool) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.stopping || s.closing || s.wantFin {
		return 0, fmt.Errorf("write to %v: %w", s.remote, transports.ErrClosed)
	}
	if len(b) == 0 {
		return 0, nil
	}
	if !s.started || !s.registered || s.writeBlocked || len(s.queue) > 0 {
		s.queue = append(s.queue, b)
		return 0, nil
	}
	// The common case: hand b to the kernel from the caller's goroutine.
	took := 0
	for len(b) > 0 {
		n, err := rawSend(s.fd, b)
		if n > 0 {
			took += n
			b = b[n:]
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			s.writeBlocked = true
			break
		}
		if err != nil {
			s.failLocked(fmt.Errorf("write: %w", oserr.Wrap(err)))
			s.postLocked(true)
			if direct {
				return took, nil
			}
			s.unreported += took
			return 0, nil
		}
	}
	if len(b) > 0 {
		s.queue = append(s.queue, b)
	}
	if direct {
		if len(b) > 0 && !s.inCall {
			s.postLocked(false) // the loop waits for the socket to drain
		}
		return took, nil
	}
	s.unreported += took
	if !s.inCall {
		// Within a handler call (an echo), the loop's finish reports it.
		s.postLocked(false)
	}
	return 0, nil
}

func (s *stream) SetReading(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reading == on {
		return
	}
	s.reading = on
	if on && s.started && !s.shut && (s.held != nil || s.readReady) {
		s.postLocked(true)
	}
}

func (s *stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.stopping || s.closing {
		return transports.ErrClosed
	}
	s.wantFin = true
	if s.started {
		s.postLocked(true)
	}
	return nil
}

func (s *stream) Close() error {
	s.mu.Lock()
	if s.shut || s.stopping || s.closing {
		s.mu.Unlock()
		return transports.ErrClosed
	}
	s.closing = true
	if !s.started {
		// No handler, no loop registration: close here.
		s.closeLocked()
		s.mu.Unlock()
		s.l.p.release(s.l)
		return nil
	}
	s.postLocked(true)
	s.mu.Unlock()
	return nil
}

func (s *stream) Abort() error {
	s.mu.Lock()
	if s.shut || s.stopping {
		s.mu.Unlock()
		return transports.ErrClosed
	}
	// SO_LINGER 0 makes close send RST and drop unsent data.
	_ = unix.SetsockoptLinger(s.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	s.failLocked(transports.ErrAborted)
	if !s.started {
		s.closeLocked()
		s.mu.Unlock()
		s.l.p.release(s.l)
		return nil
	}
	s.postLocked(true)
	s.mu.Unlock()
	return nil
}

// failLocked ends the stream at the loop's next look, dropping queued
// writes.
func (s *stream) failLocked(err error) {
	if !s.reasoned {
		s.reason, s.reasoned = err, true
	}
	s.stopping = true
	s.queue = nil
	s.held = nil
}

// closeLocked closes the descriptor.
func (s *stream) closeLocked() {
	s.shut = true
	s.queue, s.held = nil, nil
	if s.registered {
		s.l.unregister(s.slot)
	}
	_ = unix.Close(s.fd)
	s.fd = -1
}

// event records what epoll reported and does what it allows.
func (s *stream) event(ev uint32) {
	s.mu.Lock()
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		s.readReady = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		s.hup = true
	}
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		s.writeBlocked = false
	}
	s.mu.Unlock()
	s.run()
}

func (s *stream) task() {
	s.mu.Lock()
	s.posted = false
	s.mu.Unlock()
	s.run()
}

// run is the stream's turn on the loop: register, flush, read once, report
// and close as the state asks. Handlers are called without mu held.
func (s *stream) run() {
	s.mu.Lock()
	if s.shut || !s.started {
		s.mu.Unlock()
		return
	}
	if !s.registered && !s.stopping {
		idx, seq, err := s.l.register(s, s.fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET)
		if err != nil {
			s.failLocked(err)
		} else {
			s.slot, s.seq, s.registered = idx, seq, true
		}
	}
	s.flushLocked()
	var data []byte
	read := false
	switch {
	case s.stopping || s.inputDone || s.peerEOF:
	case s.reading && s.held != nil:
		data, s.held = s.held, nil
		s.l.again = append(s.l.again, s) // what follows it, next turn
	case s.readReady && (s.reading || (s.hup && s.held == nil)):
		// While suspended, a hang-up earns one read, so that a close with
		// nothing unread before it is reported now.
		read = true
	}
	s.inCall = true
	s.mu.Unlock()

	if read {
		data = s.read()
	}
	if data != nil {
		s.h.OnData(data)
	}
	s.finish()
}

// read reads once into the loop's buffer and returns a copy for the
// handler, or nil (holding the copy while suspended, or having recorded
// EOF or an error).
func (s *stream) read() []byte {
	buf := s.l.readBuf(int(s.readSize))
	var n int
	var err error
	for {
		n, err = rawRecv(s.fd, buf)
		if err != unix.EINTR {
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case n > 0:
		s.l.co.read(n)
		if n < len(buf) && !s.hup {
			// A short read drained the socket; epoll reports new data.
			s.readReady = false
		}
		if !s.reading {
			s.held = s.l.keep(n)
			return nil
		}
		var data []byte
		if s.borrows {
			// The loop's buffer, lent: the handler is done with it when
			// OnData returns, before the loop reads again.
			data = buf[:n:n]
		} else {
			data = s.l.keep(n)
		}
		if s.readReady {
			s.l.again = append(s.l.again, s)
		}
		return data
	case err == nil: // EOF
		s.inputDone, s.readReady = true, false
		s.peerClosedLocked()
	case err == unix.EAGAIN:
		s.readReady = false
	default:
		s.inputDone, s.readReady = true, false
		s.failLocked(fmt.Errorf("read: %w", oserr.Wrap(err)))
	}
	return nil
}

// peerClosedLocked handles the peer's FIN: keep our side open for a
// PeerClosedHandler, else flush and close.
func (s *stream) peerClosedLocked() {
	if ph, ok := s.h.(transports.PeerClosedHandler); ok && !s.wantFin {
		s.peerEOF = true
		s.l.again = append(s.l.again, peerClosedTask{s, ph})
		return
	}
	if !s.reasoned {
		s.reason, s.reasoned = transports.ErrPeerClosed, true
	}
	s.closing = true
}

// peerClosedTask calls OnPeerClosed on the loop's next turn, after the
// current call's handler calls.
type peerClosedTask struct {
	s  *stream
	ph transports.PeerClosedHandler
}

func (t peerClosedTask) event(uint32) {}

func (t peerClosedTask) task() {
	t.s.mu.Lock()
	shut := t.s.shut
	t.s.mu.Unlock()
	if !shut {
		t.ph.OnPeerClosed()
	}
	t.s.finish()
}

// flushLocked writes the queue until it is empty or the kernel is full.
func (s *stream) flushLocked() {
	for len(s.queue) > 0 && !s.writeBlocked && !s.stopping && s.registered {
		var n int
		var err error
		if len(s.queue) == 1 {
			n, err = rawSend(s.fd, s.queue[0]) // no vector to copy in
		} else {
			n, err = unix.Writev(s.fd, s.queue[:min(len(s.queue), maxIovecs)])
		}
		if n > 0 {
			s.unreported += n
			s.consume(n)
		}
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN:
			s.writeBlocked = true
		case err != nil:
			s.failLocked(fmt.Errorf("write: %w", oserr.Wrap(err)))
		}
	}
}

// keptQueue is the largest queue array kept once the queue empties: a
// connection that writes a message at a time reuses it instead of
// allocating one per write, and an idle one holds at most this many slots.
const keptQueue = 4

// consume drops n written bytes from the front of the queue.
func (s *stream) consume(n int) {
	i := 0
	for ; i < len(s.queue) && n >= len(s.queue[i]); i++ {
		n -= len(s.queue[i])
		s.queue[i] = nil
	}
	if i == len(s.queue) {
		if cap(s.queue) <= keptQueue {
			s.queue = s.queue[:0]
		} else {
			s.queue = nil
		}
		return
	}
	s.queue = s.queue[i:]
	if n > 0 {
		s.queue[0] = s.queue[0][n:]
	}
}

// finish flushes, sends a FIN when asked, reports what was written and
// closes the stream when it is done.
func (s *stream) finish() {
	s.mu.Lock()
	s.inCall = false
	if s.shut {
		s.mu.Unlock()
		return
	}
	s.flushLocked()
	if s.wantFin && !s.finDone && len(s.queue) == 0 && s.registered && !s.stopping {
		s.finDone = true
		if err := unix.Shutdown(s.fd, unix.SHUT_WR); err != nil {
			s.failLocked(fmt.Errorf("close write: %w", oserr.Wrap(err)))
		} else if s.peerEOF {
			// Both sides have ended in order: nothing more can happen.
			if !s.reasoned {
				s.reason, s.reasoned = transports.ErrPeerClosed, true
			}
			s.closing = true
		}
	}
	written := s.unreported
	s.unreported = 0
	end := s.stopping || (s.closing && len(s.queue) == 0)
	if end {
		s.closeLocked()
	}
	h, reason := s.h, s.reason
	s.mu.Unlock()
	if written > 0 {
		h.OnWritten(written)
	}
	if end {
		h.OnClosed(reason)
		s.l.p.release(s.l)
	}
}
