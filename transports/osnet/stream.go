package osnet

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

// Conn is the blocking connection a stream made by NewStream runs over: a
// TCP connection with or without TLS, or one through a proxy. Only the
// stream's goroutines and its Abort call it.
type Conn interface {
	// Read and Write are net.Conn's. Their errors reach OnClosed wrapped
	// ("read: …", "write: …") and are not classified again: they should
	// already carry the transports error a caller tests for (ErrReset,
	// ErrTimeout, …).
	io.Reader
	io.Writer
	// CloseWrite ends our side: TCP FIN, or TLS close_notify.
	CloseWrite() error
	// Close closes the connection after an orderly end (our Close, or the
	// peer's close): a TLS connection sends close_notify first.
	Close() error
	// Kill closes the connection at once, after a failure or Abort.
	Kill() error
	// Reset makes the connection end with a reset and drop unsent data.
	// Abort calls it before closing, and also once the stream is closed,
	// to cut short a close that is still flushing.
	Reset()
	// Wait returns once what the connection runs on has ended; the stream
	// reports OnClosed only after it returns.
	Wait()
	LocalAddr() netip.AddrPort
	RemoteAddr() netip.AddrPort
	// TLS returns the TLS connection state, or nil without TLS.
	TLS() *tls.ConnectionState
}

// NewStream returns a transports.Stream over c, driven the way this
// package's own TCP streams are: once started, a reader goroutine reads c
// and reports OnData, a writer goroutine sends the queue and reports
// OnWritten, and whichever ends last waits for c.Wait and reports
// OnClosed. Only opts.ReadSize applies (the buffer each Read fills; default
// 32 KiB); the other options are for sockets this package opens. The
// stream owns c from now on: Close or Abort closes it, and a Close before
// Start waits for c.Wait.
func NewStream(c Conn, opts transports.StreamOptions) transports.Stream {
	return newStream(c, opts)
}

// stream is a Conn driven by two goroutines it owns once started: the
// reader reads and reports OnData, the writer sends the queue and reports
// OnWritten. Whichever ends last reports OnClosed.
type stream struct {
	conn     Conn
	readSize int

	mu       sync.Mutex
	started  bool
	queue    [][]byte
	wantFin  bool // CloseWrite asked
	finDone  bool
	peerEOF  bool // the peer ended its side and the handler kept ours open
	closing  bool // Close asked, or the peer closed: flush, then shut
	reading  bool
	busy     bool  // a write is in progress: the writer's, or WriteDirect's
	shut     bool  // the socket is closed; goroutines are ending
	reason   error // why the stream ended; first one wins
	reasoned bool
	live     int           // running goroutines
	wake     chan struct{} // nudges the writer
	resume   chan struct{} // nudges a suspended reader
	done     chan struct{} // closed with shut

	hmu   sync.Mutex // serializes handler calls
	h     transports.StreamHandler
	ended bool // OnClosed was called

	raw *rawWriter // a plain TCP socket's: WriteDirect writes through it
}

// directHook, when set (by tests only), runs in WriteDirect between
// taking the stream for a direct write and making it.
var directHook atomic.Pointer[func(*stream)]

var (
	_ transports.Stream       = (*stream)(nil)
	_ transports.DirectWriter = (*stream)(nil)
)

func newStream(c Conn, o transports.StreamOptions) *stream {
	s := &stream{
		conn:     c,
		readSize: o.ReadSize,
		reading:  true,
		wake:     make(chan struct{}, 1),
		resume:   make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	if s.readSize <= 0 {
		s.readSize = defaultReadSize
	}
	return s
}

func (s *stream) LocalAddr() netip.AddrPort  { return s.conn.LocalAddr() }
func (s *stream) RemoteAddr() netip.AddrPort { return s.conn.RemoteAddr() }
func (s *stream) TLS() *tls.ConnectionState  { return s.conn.TLS() }

func (s *stream) Start(h transports.StreamHandler) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut {
		return transports.ErrClosed
	}
	if s.started {
		return transports.ErrStarted
	}
	s.started, s.h, s.live = true, h, 2
	go s.readLoop()
	go s.writeLoop()
	return nil
}

func (s *stream) Write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.closing || s.wantFin {
		return fmt.Errorf("write to %v: %w", s.conn.RemoteAddr(), transports.ErrClosed)
	}
	if len(b) == 0 {
		return nil
	}
	s.queue = append(s.queue, b)
	nudge(s.wake)
	return nil
}

// WriteDirect implements transports.DirectWriter: when nothing is queued
// or being written, b goes to the kernel from the caller's goroutine, as
// much of it as the socket's send buffer takes at once (it never waits),
// and the rest is queued for the writer, ahead of anything queued
// meanwhile; OnWritten reports only that rest. A stream over TLS (or a
// Conn of NewStream's) queues all of b, as Write does. A write that fails
// ends the stream, as the writer's do: OnClosed reports the error.
func (s *stream) WriteDirect(b []byte) (int, error) {
	s.mu.Lock()
	if s.shut || s.closing || s.wantFin {
		s.mu.Unlock()
		return 0, fmt.Errorf("write to %v: %w", s.conn.RemoteAddr(), transports.ErrClosed)
	}
	if len(b) == 0 {
		s.mu.Unlock()
		return 0, nil
	}
	if s.raw == nil || !s.started || s.busy || len(s.queue) > 0 {
		s.queue = append(s.queue, b)
		nudge(s.wake)
		s.mu.Unlock()
		return 0, nil
	}
	s.busy = true
	s.mu.Unlock()
	if h := directHook.Load(); h != nil {
		(*h)(s)
	}
	n, err := s.raw.tryWrite(b)
	err = oserr.Wrap(err)
	s.mu.Lock()
	s.busy = false
	if err != nil || s.shut {
		s.mu.Unlock()
		if err != nil {
			s.shutdown(fmt.Errorf("write: %w", err))
		}
		// The stream has ended, by this failure or an Abort meanwhile: the
		// rest is dropped, and OnClosed says why, as for a queued write.
		return n, nil
	}
	if n < len(b) {
		s.queue = append(s.queue, nil)
		copy(s.queue[1:], s.queue)
		s.queue[0] = b[n:]
	}
	nudge(s.wake) // the writer waits while a direct write is in progress
	s.mu.Unlock()
	return n, nil
}

func (s *stream) SetReading(on bool) {
	s.mu.Lock()
	s.reading = on
	s.mu.Unlock()
	if on {
		nudge(s.resume)
	}
}

func (s *stream) CloseWrite() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut || s.closing {
		return transports.ErrClosed
	}
	s.wantFin = true
	nudge(s.wake)
	return nil
}

func (s *stream) Close() error {
	s.mu.Lock()
	if s.shut || s.closing {
		s.mu.Unlock()
		return transports.ErrClosed
	}
	s.closing = true
	started := s.started
	s.mu.Unlock()
	if !started {
		// Nobody will flush: there is no writer before Start.
		s.shutdown(nil)
		s.conn.Wait()
		return nil
	}
	nudge(s.wake)
	return nil
}

func (s *stream) Abort() error {
	s.mu.Lock()
	shut := s.shut
	s.queue = nil
	s.mu.Unlock()
	s.conn.Reset()
	if shut {
		return transports.ErrClosed
	}
	s.shutdown(transports.ErrAborted)
	return nil
}

// shutdown records why the stream ended (unless something did first) and
// closes the socket, which ends both goroutines.
func (s *stream) shutdown(reason error) {
	s.mu.Lock()
	if !s.reasoned {
		s.reason, s.reasoned = reason, true
	}
	if s.shut {
		s.mu.Unlock()
		return
	}
	s.shut = true
	s.queue = nil
	graceful := s.reason == nil || errors.Is(s.reason, transports.ErrPeerClosed)
	close(s.done)
	s.mu.Unlock()
	if graceful {
		_ = s.conn.Close()
		return
	}
	_ = s.conn.Kill()
}

// exit is the last thing each goroutine does; the last one out reports
// OnClosed.
func (s *stream) exit() {
	s.mu.Lock()
	s.live--
	last := s.live == 0
	reason := s.reason
	s.mu.Unlock()
	if !last {
		return
	}
	s.shutdown(reason) // no-op unless the reader and writer both ended softly
	s.conn.Wait()
	s.mu.Lock()
	reason = s.reason
	s.mu.Unlock()
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if !s.ended {
		s.ended = true
		s.h.OnClosed(reason)
	}
}

// emit calls the handler unless the stream has been shut by Abort or an
// error.
func (s *stream) emit(f func(transports.StreamHandler)) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.ended {
		return
	}
	f(s.h)
}

func (s *stream) readLoop() {
	defer s.exit()
	buf := make([]byte, s.readSize)
	for {
		n, err := s.conn.Read(buf)
		if n > 0 {
			data := make([]byte, n)
			copy(data, buf[:n])
			// A read made while suspended is held here until resumed:
			// at most one buffer is read ahead of the handler.
			if !s.waitReading() {
				return
			}
			s.emit(func(h transports.StreamHandler) { h.OnData(data) })
		}
		if err != nil {
			s.readEnded(err)
			return
		}
	}
}

// waitReading blocks while reading is suspended; false means the stream was
// shut meanwhile.
func (s *stream) waitReading() bool {
	for {
		s.mu.Lock()
		shut, reading := s.shut, s.reading
		s.mu.Unlock()
		if shut {
			return false
		}
		if reading {
			return true
		}
		select {
		case <-s.resume:
		case <-s.done:
		}
	}
}

func (s *stream) readEnded(err error) {
	s.mu.Lock()
	if s.shut {
		s.mu.Unlock()
		return // our own Close or Abort ended the read
	}
	if !errors.Is(err, io.EOF) {
		s.mu.Unlock()
		s.shutdown(readErr(err))
		return
	}
	ph, keepOpen := s.h.(transports.PeerClosedHandler)
	if keepOpen && !s.wantFin {
		s.peerEOF = true
		s.mu.Unlock()
		s.emit(func(transports.StreamHandler) { ph.OnPeerClosed() })
		return
	}
	// Both sides are done (or the handler does not want half-open
	// streams): send what is queued, then close.
	if !s.reasoned {
		s.reason, s.reasoned = transports.ErrPeerClosed, true
	}
	s.closing = true
	s.mu.Unlock()
	nudge(s.wake)
}

// readErr wraps a read failure: a reset, a timeout or another I/O error.
func readErr(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return transports.ErrClosed
	}
	return fmt.Errorf("read: %w", err)
}

func (s *stream) writeLoop() {
	defer s.exit()
	for {
		s.mu.Lock()
		switch {
		case s.shut:
			s.mu.Unlock()
			return
		case s.busy:
			// WriteDirect is writing; it nudges once it is done.
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-s.done:
			}
		case len(s.queue) > 0:
			b := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			s.busy = true
			s.mu.Unlock()
			if _, err := s.conn.Write(b); err != nil {
				s.shutdown(fmt.Errorf("write: %w", err))
				return
			}
			s.mu.Lock()
			s.busy = false
			s.mu.Unlock()
			s.emit(func(h transports.StreamHandler) { h.OnWritten(len(b)) })
		case s.closing:
			s.mu.Unlock()
			s.shutdown(nil)
			return
		case s.wantFin && !s.finDone:
			s.finDone = true
			s.mu.Unlock()
			if err := s.conn.CloseWrite(); err != nil {
				s.shutdown(fmt.Errorf("close write: %w", err))
				return
			}
			s.mu.Lock()
			if s.peerEOF {
				// Both sides have ended in order: nothing more can happen.
				if !s.reasoned {
					s.reason, s.reasoned = transports.ErrPeerClosed, true
				}
				s.closing = true
			}
			s.mu.Unlock()
		default:
			s.mu.Unlock()
			select {
			case <-s.wake:
			case <-s.done:
			}
		}
	}
}

// nudge wakes a goroutine waiting on c without blocking.
func nudge(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
