// Package netconn adapts the event-pushed streams and listeners of package
// transports to net.Conn and net.Listener, for well-kept libraries that read
// and write with blocking calls: net/http's server and client, WebSocket
// libraries, crypto/tls. With it those libraries run unchanged on the
// operating system's network and on the simulated one.
//
// The adapter keeps the stream's back-pressure: received data is buffered up
// to a limit, past which the stream stops reading (so the kernel, or the
// simulated network, holds the peer back) until Read drains it; Write
// returns once its bytes are handed to the kernel. The cost is the one a
// blocking API always has: the library's goroutine per connection.
package netconn

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// DefaultReadBuffer is how many received bytes a Conn holds before it stops
// reading from its stream.
const DefaultReadBuffer = 256 << 10

// Conn is a net.Conn on a transports.Stream.
type Conn struct {
	s      transports.Stream
	maxBuf int

	mu        sync.Mutex
	cond      *sync.Cond
	chunks    [][]byte
	buffered  int
	suspended bool
	readErr   error // io.EOF after the peer's close; the stream's error after it ended
	ended     bool  // the stream reported OnClosed
	closed    bool  // Close was called
	queued    int64 // bytes passed to s.Write
	written   int64 // bytes OnWritten reported
	rdl, wdl  deadline
}

// deadline is a Read or Write deadline. Its timer is armed only while a
// call waits (a server sets deadlines several times per request, and most
// calls never wait: the bytes are there, or the socket takes them), and
// re-armed when the deadline moves while one waits.
type deadline struct {
	at      time.Time
	timer   *time.Timer
	armed   time.Time // what the timer is set for; zero when it is not
	waiting int       // calls waiting under this deadline
}

// New starts s and returns it as a net.Conn. readBuffer bounds the bytes
// held for Read (DefaultReadBuffer when zero or less).
func New(s transports.Stream, readBuffer int) (*Conn, error) {
	if readBuffer <= 0 {
		readBuffer = DefaultReadBuffer
	}
	c := &Conn{s: s, maxBuf: readBuffer}
	c.cond = sync.NewCond(&c.mu)
	if err := s.Start(c); err != nil {
		return nil, err
	}
	return c, nil
}

// OnData implements transports.StreamHandler.
func (c *Conn) OnData(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks = append(c.chunks, b)
	c.buffered += len(b)
	if c.buffered >= c.maxBuf && !c.suspended {
		c.suspended = true
		c.s.SetReading(false)
	}
	c.cond.Broadcast()
}

// OnWritten implements transports.StreamHandler.
func (c *Conn) OnWritten(n int) {
	c.mu.Lock()
	c.written += int64(n)
	c.mu.Unlock()
	c.cond.Broadcast()
}

// OnPeerClosed implements transports.PeerClosedHandler: after the peer's
// half close, Read returns io.EOF and Write still works, as on a TCP socket.
func (c *Conn) OnPeerClosed() {
	c.mu.Lock()
	if c.readErr == nil {
		c.readErr = io.EOF
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

// OnClosed implements transports.StreamHandler.
func (c *Conn) OnClosed(err error) {
	c.mu.Lock()
	c.ended = true
	if c.readErr == nil {
		switch {
		case err == nil, errors.Is(err, transports.ErrPeerClosed):
			c.readErr = io.EOF
		default:
			c.readErr = err
		}
	}
	c.mu.Unlock()
	c.cond.Broadcast()
}

// Read reads received bytes, waiting for some when none are buffered.
func (c *Conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if c.closed {
			return 0, net.ErrClosed
		}
		if c.buffered > 0 {
			n := 0
			for n < len(p) && len(c.chunks) > 0 {
				k := copy(p[n:], c.chunks[0])
				n += k
				if k == len(c.chunks[0]) {
					c.chunks[0] = nil
					c.chunks = c.chunks[1:]
				} else {
					c.chunks[0] = c.chunks[0][k:]
				}
			}
			c.buffered -= n
			if c.suspended && c.buffered <= c.maxBuf/2 {
				c.suspended = false
				c.s.SetReading(true)
			}
			return n, nil
		}
		if c.readErr != nil {
			return 0, c.readErr
		}
		if c.rdl.expired() {
			return 0, os.ErrDeadlineExceeded
		}
		c.rdl.wait(c.cond)
	}
}

// Write queues p on the stream and returns once the stream reports it
// handed to the kernel, or the write deadline passes, or the stream ends.
func (c *Conn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if c.ended {
		return 0, c.writeErr()
	}
	if c.wdl.expired() {
		return 0, os.ErrDeadlineExceeded
	}
	// The stream owns what it is given until OnWritten; the caller may reuse
	// p as soon as Write returns, even early on a deadline, so hand over a
	// copy.
	b := append([]byte(nil), p...)
	took := 0
	if dw, ok := c.s.(transports.DirectWriter); ok {
		// The usual case on the operating system's network: the socket
		// takes it all from this goroutine, without the stream's writer
		// goroutine and the wake-ups to and from it.
		n, err := dw.WriteDirect(b)
		if err != nil {
			return 0, err
		}
		if n == len(b) {
			return len(p), nil
		}
		took = n
	} else if err := c.s.Write(b); err != nil {
		return 0, err
	}
	start := c.queued - int64(took)
	c.queued += int64(len(b) - took)
	target := c.queued
	for c.written < target {
		switch {
		case c.closed:
			return c.progress(start), net.ErrClosed
		case c.ended:
			return c.progress(start), c.writeErr()
		case c.wdl.expired():
			return c.progress(start), os.ErrDeadlineExceeded
		}
		c.wdl.wait(c.cond)
	}
	return len(p), nil
}

func (c *Conn) progress(start int64) int {
	return int(max(c.written-start, 0))
}

func (c *Conn) writeErr() error {
	if c.readErr != nil && c.readErr != io.EOF {
		return c.readErr
	}
	return net.ErrClosed
}

// Close flushes what was written and closes the stream; blocked Reads and
// Writes return net.ErrClosed.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return net.ErrClosed
	}
	c.closed = true
	c.rdl.stop()
	c.wdl.stop()
	c.mu.Unlock()
	c.cond.Broadcast()
	err := c.s.Close()
	if errors.Is(err, transports.ErrClosed) {
		return nil
	}
	return err
}

// CloseWrite ends our side of the stream once written bytes are sent.
func (c *Conn) CloseWrite() error { return c.s.CloseWrite() }

// LocalAddr returns the stream's local address as a *net.TCPAddr.
func (c *Conn) LocalAddr() net.Addr { return net.TCPAddrFromAddrPort(c.s.LocalAddr()) }

// RemoteAddr returns the stream's remote address as a *net.TCPAddr.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.s.RemoteAddr()) }

// Stream returns the underlying stream.
func (c *Conn) Stream() transports.Stream { return c.s }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline makes a blocked or future Read fail with
// os.ErrDeadlineExceeded once t has passed; a zero t removes the deadline.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl.set(t, c.cond)
	return nil
}

// SetWriteDeadline is SetReadDeadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wdl.set(t, c.cond)
	return nil
}

// set sets the deadline (with the Conn's lock held); calls waiting under
// it are woken at the new time, or at once if it has passed.
func (d *deadline) set(t time.Time, cond *sync.Cond) {
	d.at = t
	if d.waiting > 0 {
		d.arm(cond)
	}
}

// wait waits on cond (with its lock held) under the deadline, its timer
// armed for it.
func (d *deadline) wait(cond *sync.Cond) {
	d.waiting++
	d.arm(cond)
	cond.Wait()
	d.waiting--
}

// arm makes the timer fire at the deadline, once; a waiter woken by a
// stale firing finds the deadline not expired and waits on.
func (d *deadline) arm(cond *sync.Cond) {
	if d.at.Equal(d.armed) {
		return
	}
	d.stop()
	if d.at.IsZero() {
		return
	}
	wait := time.Until(d.at)
	if wait <= 0 {
		cond.Broadcast()
		return
	}
	d.armed = d.at
	if d.timer == nil {
		d.timer = time.AfterFunc(wait, cond.Broadcast)
	} else {
		d.timer.Reset(wait)
	}
}

func (d *deadline) stop() {
	if d.timer != nil && !d.armed.IsZero() {
		d.timer.Stop()
	}
	d.armed = time.Time{}
}

func (d *deadline) expired() bool { return !d.at.IsZero() && !time.Now().Before(d.at) }

// Listener is a net.Listener on a transports.Listener.
type Listener struct {
	l       transports.Listener
	readBuf int
	backlog chan transports.Stream

	mu     sync.Mutex
	paused bool
	err    error
	done   chan struct{}
	once   sync.Once
}

// DefaultBacklog is how many accepted streams wait for Accept before the
// listener pauses accepting (new connections then wait in the kernel).
const DefaultBacklog = 128

// Listen starts l and returns it as a net.Listener whose connections hold
// up to readBuffer received bytes (DefaultReadBuffer when zero).
func Listen(l transports.Listener, readBuffer int) (*Listener, error) {
	nl := &Listener{l: l, readBuf: readBuffer, backlog: make(chan transports.Stream, DefaultBacklog), done: make(chan struct{})}
	if err := l.Start(nl); err != nil {
		return nil, err
	}
	return nl, nil
}

// OnAccept implements transports.ListenerHandler.
func (nl *Listener) OnAccept(s transports.Stream) {
	select {
	case nl.backlog <- s:
	case <-nl.done:
		_ = s.Abort()
		return
	}
	if len(nl.backlog) == cap(nl.backlog) {
		nl.mu.Lock()
		if !nl.paused {
			nl.paused = true
			nl.l.SetAccepting(false)
		}
		nl.mu.Unlock()
	}
}

// OnAcceptError implements transports.ListenerHandler; a failed TLS
// handshake or a temporary error does not concern Accept's callers.
func (nl *Listener) OnAcceptError(error) {}

// OnClosed implements transports.ListenerHandler.
func (nl *Listener) OnClosed(err error) {
	nl.mu.Lock()
	if err == nil {
		err = net.ErrClosed
	}
	if nl.err == nil {
		nl.err = err
	}
	nl.mu.Unlock()
	nl.once.Do(func() { close(nl.done) })
}

// Accept waits for the next connection. A stream that cannot start (it
// ended while it waited) is dropped and the next one taken: an error from
// Accept stops a net/http server, so it is kept for the listener's end.
func (nl *Listener) Accept() (net.Conn, error) {
	for {
		select {
		case s := <-nl.backlog:
			nl.resume()
			c, err := New(s, nl.readBuf)
			if err != nil {
				_ = s.Abort()
				continue
			}
			return c, nil
		case <-nl.done:
			nl.mu.Lock()
			defer nl.mu.Unlock()
			return nil, nl.err
		}
	}
}

func (nl *Listener) resume() {
	nl.mu.Lock()
	defer nl.mu.Unlock()
	if nl.paused && len(nl.backlog) < cap(nl.backlog)/2 {
		nl.paused = false
		nl.l.SetAccepting(true)
	}
}

// Close stops accepting; connections waiting for Accept are reset.
func (nl *Listener) Close() error {
	err := nl.l.Close()
	// The error is set before done closes: Accept reads it once done is
	// closed, and must never see (nil, nil).
	nl.mu.Lock()
	if nl.err == nil {
		nl.err = net.ErrClosed
	}
	nl.mu.Unlock()
	nl.once.Do(func() { close(nl.done) })
	for {
		select {
		case s := <-nl.backlog:
			_ = s.Abort()
		default:
			if errors.Is(err, transports.ErrClosed) {
				return nil
			}
			return err
		}
	}
}

// Addr returns the bound address as a *net.TCPAddr.
func (nl *Listener) Addr() net.Addr { return net.TCPAddrFromAddrPort(nl.l.Addr()) }
