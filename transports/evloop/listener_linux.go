package evloop

import (
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

// listener accepts on its loop; each accepted stream joins the next loop.
type listener struct {
	n     *impl
	l     *loop
	fd    int
	addr  netip.AddrPort
	sopts transports.StreamOptions

	mu         sync.Mutex
	h          transports.ListenerHandler
	slot       int32
	started    bool
	registered bool
	posted     bool
	accepting  bool
	ready      bool // the backlog may hold connections
	closing    bool
	shut       bool
	retry      *time.Timer // after an accept error (EMFILE and friends)
	backoff    time.Duration
}

var _ transports.Listener = (*listener)(nil)

func (ln *listener) Addr() netip.AddrPort { return ln.addr }

func (ln *listener) Start(h transports.ListenerHandler) error {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.closing {
		return transports.ErrClosed
	}
	if ln.started {
		return transports.ErrStarted
	}
	ln.started, ln.h = true, h
	ln.postLocked()
	return nil
}

func (ln *listener) postLocked() {
	if !ln.posted {
		ln.posted = true
		ln.l.post(ln, true)
	}
}

func (ln *listener) SetAccepting(on bool) {
	ln.mu.Lock()
	defer ln.mu.Unlock()
	ln.accepting = on
	if on && ln.started && !ln.closing {
		ln.postLocked()
	}
}

func (ln *listener) Close() error {
	ln.mu.Lock()
	if ln.closing {
		ln.mu.Unlock()
		return transports.ErrClosed
	}
	ln.closing = true
	if ln.retry != nil {
		ln.retry.Stop()
	}
	if !ln.started {
		ln.shut = true
		_ = unix.Close(ln.fd)
		ln.mu.Unlock()
		ln.l.p.release(ln.l)
		return nil
	}
	ln.postLocked()
	ln.mu.Unlock()
	return nil
}

func (ln *listener) event(uint32) {
	ln.mu.Lock()
	ln.ready = true
	ln.mu.Unlock()
	ln.run()
}

func (ln *listener) task() {
	ln.mu.Lock()
	ln.posted = false
	ln.mu.Unlock()
	ln.run()
}

// run closes the listener when asked, or accepts what the backlog holds,
// up to maxAccepts per turn.
func (ln *listener) run() {
	ln.mu.Lock()
	if ln.shut || !ln.started {
		ln.mu.Unlock()
		return
	}
	if ln.closing {
		ln.shut = true
		if ln.registered {
			ln.l.unregister(ln.slot)
		}
		_ = unix.Close(ln.fd)
		h := ln.h
		ln.mu.Unlock()
		h.OnClosed(nil)
		ln.l.p.release(ln.l)
		return
	}
	if !ln.registered {
		idx, _, err := ln.l.register(ln, ln.fd, unix.EPOLLIN|unix.EPOLLET)
		if err != nil {
			ln.shut = true
			_ = unix.Close(ln.fd)
			h := ln.h
			ln.mu.Unlock()
			h.OnClosed(fmt.Errorf("listener stopped: %w", err))
			ln.l.p.release(ln.l)
			return
		}
		ln.slot, ln.registered, ln.ready = idx, true, true
	}
	ln.mu.Unlock()
	for range maxAccepts {
		ln.mu.Lock()
		ok := ln.accepting && ln.ready && !ln.closing
		ln.mu.Unlock()
		if !ok {
			return
		}
		nfd, sa, err := unix.Accept4(ln.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		switch {
		case err == unix.EAGAIN:
			ln.mu.Lock()
			ln.ready, ln.backoff = false, 0
			ln.mu.Unlock()
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err != nil:
			ln.acceptFailed(err)
			return
		}
		s, err := ln.n.adopt(nfd, ln.localOf(nfd), sockaddrAddrPort(sa), ln.sopts, false)
		if err != nil {
			ln.h.OnAcceptError(fmt.Errorf("accept: %w", err))
			continue
		}
		ln.h.OnAccept(s)
	}
	ln.l.again = append(ln.l.again, ln) // more may wait: next turn
}

// localOf is an accepted socket's local address: the listener's, unless it
// listens on every address.
func (ln *listener) localOf(fd int) netip.AddrPort {
	if !ln.addr.Addr().IsUnspecified() {
		return ln.addr
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return ln.addr
	}
	return sockaddrAddrPort(sa)
}

// acceptFailed reports an accept error and tries again after a backoff
// that doubles up to a second, as net/http's server does.
func (ln *listener) acceptFailed(err error) {
	ln.h.OnAcceptError(fmt.Errorf("accept: %w", oserr.Wrap(err)))
	ln.mu.Lock()
	defer ln.mu.Unlock()
	if ln.closing {
		return
	}
	ln.backoff = min(max(2*ln.backoff, 5*time.Millisecond), time.Second)
	if ln.retry != nil {
		ln.retry.Stop()
	}
	ln.retry = time.AfterFunc(ln.backoff, func() {
		ln.mu.Lock()
		defer ln.mu.Unlock()
		if !ln.closing {
			ln.postLocked()
		}
	})
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if a.ZoneId != 0 {
			ip = ip.WithZone(fmt.Sprint(a.ZoneId))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}
