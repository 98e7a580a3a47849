package tcp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/netconn"
)

// tunnel is a transports.Stream over a blocking net.Conn: a connection
// through a proxy, whose HTTP CONNECT or SOCKS5 exchange (and TLS handshake
// to the target) needed a net.Conn. It costs a reader and a writer
// goroutine on top of the underlying stream's, as osnet's portable backend
// does; connections through a proxy are few (an agent's link to its
// server), so the event-pushed path stays the direct one.
type tunnel struct {
	under    transports.Stream // the stream to the proxy
	underEnd <-chan struct{}   // closed after under's OnClosed
	nc       *netconn.Conn
	tlc      *tls.Conn // nil without TLS to the target
	r        io.Reader // what to read: tlc, or nc behind any bytes the proxy exchange read ahead
	w        io.Writer
	readSize int

	mu       sync.Mutex
	started  bool
	queue    [][]byte
	wantFin  bool
	finDone  bool
	peerEOF  bool
	closing  bool
	reading  bool
	shut     bool
	reason   error
	reasoned bool
	live     int
	wake     chan struct{}
	resume   chan struct{}
	done     chan struct{}

	hmu   sync.Mutex
	h     transports.StreamHandler
	ended bool
}

var _ transports.Stream = (*tunnel)(nil)

// watched is a stream whose end can be waited for: netconn gets it instead
// of the stream itself, so that the tunnel reports OnClosed only once the
// stream to the proxy has ended too.
type watched struct {
	transports.Stream
	end chan struct{}
}

func (w *watched) Start(h transports.StreamHandler) error {
	if ph, ok := h.(transports.PeerClosedHandler); ok {
		return w.Stream.Start(&watchedPeer{watchedHandler{ph, w.end}, ph})
	}
	return w.Stream.Start(watchedHandler{h, w.end})
}

type watchedHandler struct {
	transports.StreamHandler
	end chan struct{}
}

func (h watchedHandler) OnClosed(err error) {
	h.StreamHandler.OnClosed(err)
	close(h.end)
}

type watchedPeer struct {
	watchedHandler
	ph transports.PeerClosedHandler
}

func (h *watchedPeer) OnPeerClosed() { h.ph.OnPeerClosed() }

func newTunnel(under *watched, nc *netconn.Conn, r io.Reader, tlc *tls.Conn, readSize int) *tunnel {
	t := &tunnel{
		under: under.Stream, underEnd: under.end, nc: nc, tlc: tlc, r: r, w: nc,
		readSize: readSize, reading: true,
		wake: make(chan struct{}, 1), resume: make(chan struct{}, 1), done: make(chan struct{}),
	}
	if tlc != nil {
		t.r, t.w = tlc, tlc
	}
	if t.readSize <= 0 {
		t.readSize = 32 << 10
	}
	return t
}

func (t *tunnel) LocalAddr() netip.AddrPort  { return t.under.LocalAddr() }
func (t *tunnel) RemoteAddr() netip.AddrPort { return t.under.RemoteAddr() }

func (t *tunnel) TLS() *tls.ConnectionState {
	if t.tlc == nil {
		return nil
	}
	st := t.tlc.ConnectionState()
	return &st
}

func (t *tunnel) Start(h transports.StreamHandler) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut {
		return transports.ErrClosed
	}
	if t.started {
		return transports.ErrStarted
	}
	t.started, t.h, t.live = true, h, 2
	go t.readLoop()
	go t.writeLoop()
	return nil
}

func (t *tunnel) Write(b []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut || t.closing || t.wantFin {
		return fmt.Errorf("write to %v: %w", t.RemoteAddr(), transports.ErrClosed)
	}
	if len(b) > 0 {
		t.queue = append(t.queue, b)
		nudge(t.wake)
	}
	return nil
}

func (t *tunnel) SetReading(on bool) {
	t.mu.Lock()
	t.reading = on
	t.mu.Unlock()
	if on {
		nudge(t.resume)
	}
}

func (t *tunnel) CloseWrite() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.shut || t.closing {
		return transports.ErrClosed
	}
	t.wantFin = true
	nudge(t.wake)
	return nil
}

func (t *tunnel) Close() error {
	t.mu.Lock()
	if t.shut || t.closing {
		t.mu.Unlock()
		return transports.ErrClosed
	}
	t.closing = true
	started := t.started
	t.mu.Unlock()
	if !started {
		t.shutdown(nil)
		<-t.underEnd
		return nil
	}
	nudge(t.wake)
	return nil
}

func (t *tunnel) Abort() error {
	t.mu.Lock()
	shut := t.shut
	t.queue = nil
	t.mu.Unlock()
	if shut {
		// A close may still be flushing to the proxy: cut it short.
		_ = t.under.Abort()
		return nil
	}
	t.shutdown(transports.ErrAborted)
	return nil
}

func (t *tunnel) shutdown(reason error) {
	t.mu.Lock()
	if !t.reasoned {
		t.reason, t.reasoned = reason, true
	}
	if t.shut {
		t.mu.Unlock()
		return
	}
	t.shut = true
	t.queue = nil
	graceful := t.reason == nil || errors.Is(t.reason, transports.ErrPeerClosed)
	close(t.done)
	t.mu.Unlock()
	if !graceful {
		_ = t.under.Abort()
		_ = t.nc.Close()
		return
	}
	if t.tlc != nil {
		_ = t.tlc.Close() // close_notify, then the netconn
		return
	}
	_ = t.nc.Close()
}

func (t *tunnel) exit() {
	t.mu.Lock()
	t.live--
	last := t.live == 0
	t.mu.Unlock()
	if !last {
		return
	}
	t.shutdown(nil)
	<-t.underEnd // the proxy stream's goroutines have ended
	t.mu.Lock()
	reason := t.reason
	t.mu.Unlock()
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if !t.ended {
		t.ended = true
		t.h.OnClosed(reason)
	}
}

func (t *tunnel) emit(f func(transports.StreamHandler)) {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	if !t.ended {
		f(t.h)
	}
}

func (t *tunnel) readLoop() {
	defer t.exit()
	buf := make([]byte, t.readSize)
	for {
		n, err := t.r.Read(buf)
		if n > 0 {
			data := append([]byte(nil), buf[:n]...)
			if !t.waitReading() {
				return
			}
			t.emit(func(h transports.StreamHandler) { h.OnData(data) })
		}
		if err != nil {
			t.readEnded(err)
			return
		}
	}
}

func (t *tunnel) waitReading() bool {
	for {
		t.mu.Lock()
		shut, reading := t.shut, t.reading
		t.mu.Unlock()
		if shut {
			return false
		}
		if reading {
			return true
		}
		select {
		case <-t.resume:
		case <-t.done:
		}
	}
}

func (t *tunnel) readEnded(err error) {
	t.mu.Lock()
	if t.shut {
		t.mu.Unlock()
		return
	}
	if !errors.Is(err, io.EOF) {
		t.mu.Unlock()
		if errors.Is(err, net.ErrClosed) {
			err = transports.ErrClosed
		}
		t.shutdown(fmt.Errorf("read: %w", err))
		return
	}
	ph, keepOpen := t.h.(transports.PeerClosedHandler)
	if keepOpen && !t.wantFin {
		t.peerEOF = true
		t.mu.Unlock()
		t.emit(func(transports.StreamHandler) { ph.OnPeerClosed() })
		return
	}
	if !t.reasoned {
		t.reason, t.reasoned = transports.ErrPeerClosed, true
	}
	t.closing = true
	t.mu.Unlock()
	nudge(t.wake)
}

func (t *tunnel) writeLoop() {
	defer t.exit()
	for {
		t.mu.Lock()
		switch {
		case t.shut:
			t.mu.Unlock()
			return
		case len(t.queue) > 0:
			b := t.queue[0]
			t.queue[0] = nil
			t.queue = t.queue[1:]
			t.mu.Unlock()
			if _, err := t.w.Write(b); err != nil {
				t.shutdown(fmt.Errorf("write: %w", err))
				return
			}
			t.emit(func(h transports.StreamHandler) { h.OnWritten(len(b)) })
		case t.closing:
			t.mu.Unlock()
			t.shutdown(nil)
			return
		case t.wantFin && !t.finDone:
			t.finDone = true
			t.mu.Unlock()
			var err error
			if t.tlc != nil {
				err = t.tlc.CloseWrite()
			} else {
				err = t.nc.CloseWrite()
			}
			if err != nil {
				t.shutdown(fmt.Errorf("close write: %w", err))
				return
			}
			t.mu.Lock()
			if t.peerEOF {
				if !t.reasoned {
					t.reason, t.reasoned = transports.ErrPeerClosed, true
				}
				t.closing = true
			}
			t.mu.Unlock()
		default:
			t.mu.Unlock()
			select {
			case <-t.wake:
			case <-t.done:
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
