package osnet

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

// listener accepts on one goroutine it owns; each TLS handshake runs on a
// goroutine of its own so that a slow client does not hold up the others.
type listener struct {
	ln      *net.TCPListener
	addr    netip.AddrPort
	tls     *tls.Config
	hsLimit time.Duration
	sopts   transports.StreamOptions

	mu        sync.Mutex
	started   bool
	accepting bool
	closed    bool
	resume    chan struct{}
	ctx       context.Context // cancelled by Close; bounds handshakes
	cancel    context.CancelFunc
	handshake sync.WaitGroup

	hmu   sync.Mutex
	h     transports.ListenerHandler
	ended bool
}

var _ transports.Listener = (*listener)(nil)

func newListener(ln *net.TCPListener, o transports.ListenOptions) *listener {
	ctx, cancel := context.WithCancel(context.Background())
	l := &listener{
		ln:        ln,
		addr:      ln.Addr().(*net.TCPAddr).AddrPort(),
		tls:       o.TLS,
		hsLimit:   o.HandshakeTimeout,
		sopts:     o.Stream,
		accepting: true,
		resume:    make(chan struct{}, 1),
		ctx:       ctx,
		cancel:    cancel,
	}
	if l.hsLimit <= 0 {
		l.hsLimit = 10 * time.Second
	}
	return l
}

func (l *listener) Addr() netip.AddrPort { return l.addr }

func (l *listener) Start(h transports.ListenerHandler) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return transports.ErrClosed
	}
	if l.started {
		return transports.ErrStarted
	}
	l.started, l.h = true, h
	go l.acceptLoop()
	return nil
}

func (l *listener) SetAccepting(on bool) {
	l.mu.Lock()
	l.accepting = on
	l.mu.Unlock()
	if on {
		nudge(l.resume)
	}
}

func (l *listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return transports.ErrClosed
	}
	l.closed = true
	l.mu.Unlock()
	l.cancel()
	return l.ln.Close()
}

func (l *listener) emit(f func(transports.ListenerHandler)) {
	l.hmu.Lock()
	defer l.hmu.Unlock()
	if !l.ended {
		f(l.h)
	}
}

func (l *listener) acceptLoop() {
	var reason error
	backoff := time.Duration(0)
	for l.waitAccepting() {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if l.isClosed() || errors.Is(err, net.ErrClosed) {
				break
			}
			// EMFILE and friends: report, back off, try again, as
			// net/http's server does.
			l.emit(func(h transports.ListenerHandler) { h.OnAcceptError(fmt.Errorf("accept: %w", oserr.Wrap(err))) })
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
			}
			continue
		}
		backoff = 0
		if err := configure(c, l.sopts); err != nil {
			c.Close()
			l.emit(func(h transports.ListenerHandler) { h.OnAcceptError(fmt.Errorf("accept: %w", err)) })
			continue
		}
		if l.tls == nil {
			s := newTCPStream(c, nil, l.sopts)
			l.emit(func(h transports.ListenerHandler) { h.OnAccept(s) })
			continue
		}
		l.handshake.Add(1)
		go l.serverHandshake(c)
	}
	if !l.isClosed() {
		reason = errors.New("listener stopped")
		l.Close()
	}
	l.handshake.Wait()
	l.hmu.Lock()
	defer l.hmu.Unlock()
	l.ended = true
	l.h.OnClosed(reason)
}

func (l *listener) serverHandshake(c *net.TCPConn) {
	defer l.handshake.Done()
	ctx, cancel := context.WithTimeout(l.ctx, l.hsLimit)
	defer cancel()
	tlc := tls.Server(c, l.tls)
	if err := tlc.HandshakeContext(ctx); err != nil {
		c.Close()
		if l.isClosed() {
			return
		}
		err = fmt.Errorf("accept from %v: %w: %w", c.RemoteAddr(), transports.ErrTLS, err)
		l.emit(func(h transports.ListenerHandler) { h.OnAcceptError(err) })
		return
	}
	if l.isClosed() {
		c.Close()
		return
	}
	s := newTCPStream(c, tlc, l.sopts)
	l.emit(func(h transports.ListenerHandler) { h.OnAccept(s) })
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// waitAccepting blocks while accepting is paused; false means closed.
func (l *listener) waitAccepting() bool {
	for {
		l.mu.Lock()
		closed, on := l.closed, l.accepting
		l.mu.Unlock()
		if closed {
			return false
		}
		if on {
			return true
		}
		select {
		case <-l.resume:
		case <-l.ctx.Done():
		}
	}
}
