package evloop

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Supported reports whether this system has the event-loop backend. Where
// it does not, New's Network serves everything with transports/osnet.
const Supported = true

// New returns a Network with opts.Loops event loops. It starts nothing:
// each loop's goroutine and epoll descriptor come with its first socket
// and go with its last.
func New(opts Options) *Network {
	procs := runtime.GOMAXPROCS(0)
	k := opts.Loops
	if k <= 0 {
		k = max(procs/2, 1)
	}
	return newNetwork(opts, k, k < procs)
}

// newNetwork makes a Network of k loops that block their threads in
// epoll_wait (block) or park in Go's poller.
func newNetwork(opts Options, k int, block bool) *Network {
	p := portable(opts)
	n := &Network{portable: p}
	n.impl.portable = p
	n.impl.pollers = make([]*poller, k)
	wait := opts.Coalesce
	if wait == 0 {
		wait = defaultCoalesce
	}
	for j := range n.impl.pollers {
		n.impl.pollers[j] = &poller{block: block, coalesce: max(wait, 0)}
	}
	return n
}

type impl struct {
	portable *osnet.Network
	pollers  []*poller
	next     atomic.Uint32
}

// acquire picks the next loop, round robin.
func (i *impl) acquire() (*loop, error) {
	return i.pollers[int(i.next.Add(1))%len(i.pollers)].acquire()
}

// Dial connects a plain TCP stream (with Go's dialer, which honours ctx)
// and moves its socket onto a loop. With opts.TLS the stream is the
// portable backend's.
func (i *impl) Dial(ctx context.Context, remote netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
	if opts.TLS != nil {
		return i.portable.Dial(ctx, remote, opts)
	}
	if !remote.IsValid() || remote.Port() == 0 || remote.Addr().IsMulticast() || remote.Addr().IsUnspecified() {
		return nil, fmt.Errorf("dial %v: %w", remote, transports.ErrInvalidAddress)
	}
	d := net.Dialer{KeepAlive: opts.Stream.KeepAlive}
	if opts.Local.IsValid() {
		d.LocalAddr = net.TCPAddrFromAddrPort(opts.Local)
	}
	c, err := d.DialContext(ctx, "tcp", remote.String())
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", remote, oserr.Dial(ctx, err))
	}
	tc := c.(*net.TCPConn)
	local := tc.LocalAddr().(*net.TCPAddr).AddrPort()
	peer := tc.RemoteAddr().(*net.TCPAddr).AddrPort()
	fd, err := detach(tc)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", remote, err)
	}
	// Go's dialer has set TCP_NODELAY and the keep-alives already.
	s, err := i.adopt(fd, local, peer, opts.Stream, true)
	if err != nil {
		return nil, fmt.Errorf("dial %v: %w", remote, err)
	}
	return s, nil
}

// detach takes the socket out of c (a duplicate descriptor) and closes c,
// which takes it out of Go's poller. The duplicate shares the original's
// non-blocking mode, which is set again all the same: a loop's raw reads
// and writes (rawsys_linux.go) must never block.
func detach(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(f uintptr) { fd, derr = unix.FcntlInt(f, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		derr = err
	}
	_ = c.(interface{ Close() error }).Close()
	if derr == nil {
		if derr = unix.SetNonblock(fd, true); derr != nil {
			_ = unix.Close(fd)
		}
	}
	if derr != nil {
		return -1, derr
	}
	return fd, nil
}

// adopt makes a stream of a connected, non-blocking socket, configured by
// o, on the next loop. On error fd is closed.
func (i *impl) adopt(fd int, local, remote netip.AddrPort, o transports.StreamOptions, dialed bool) (*stream, error) {
	if err := configure(fd, o, dialed); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	l, err := i.acquire()
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	rs := o.ReadSize
	if rs <= 0 {
		rs = defaultRead
	}
	return &stream{l: l, fd: fd, readSize: int32(min(rs, 1<<30)), local: local, remote: remote, reading: true}, nil
}

// configure applies StreamOptions; an accepted socket also gets Go's
// defaults (TCP_NODELAY, keep-alives every 15 s) as net's listener gives.
func configure(fd int, o transports.StreamOptions, dialed bool) error {
	set := func(level, opt, v int) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("setsockopt: %w", err)
		}
		return nil
	}
	if o.KeepNagle {
		if err := set(unix.IPPROTO_TCP, unix.TCP_NODELAY, 0); err != nil {
			return err
		}
	} else if !dialed {
		if err := set(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return err
		}
	}
	if !dialed && o.KeepAlive >= 0 {
		secs := int(max(o.KeepAlive, 15*time.Second) / time.Second)
		if o.KeepAlive > 0 {
			secs = max(int(o.KeepAlive/time.Second), 1)
		}
		for _, kv := range [][3]int{
			{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
			{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, secs},
			{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, secs},
		} {
			if err := set(kv[0], kv[1], kv[2]); err != nil {
				return err
			}
		}
	}
	if o.SendBuffer > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_SNDBUF, o.SendBuffer); err != nil {
			return err
		}
	}
	if o.ReceiveBuffer > 0 {
		if err := set(unix.SOL_SOCKET, unix.SO_RCVBUF, o.ReceiveBuffer); err != nil {
			return err
		}
	}
	return nil
}

// Listen opens a TCP listener (with Go's net.Listen, for its address
// family rules) and accepts on a loop. With opts.TLS the listener is the
// portable backend's.
func (i *impl) Listen(local netip.AddrPort, opts transports.ListenOptions) (transports.Listener, error) {
	if opts.TLS != nil {
		return i.portable.Listen(local, opts)
	}
	network := "tcp"
	switch a := local.Addr(); {
	case !a.IsValid() || a == netip.IPv6Unspecified():
	case a.Is4():
		network = "tcp4"
	default:
		network = "tcp6"
	}
	addr := local.String()
	if !local.Addr().IsValid() {
		addr = fmt.Sprintf(":%d", local.Port())
	}
	gl, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("listen %v: %w", local, oserr.Wrap(err))
	}
	tl := gl.(*net.TCPListener)
	bound := tl.Addr().(*net.TCPAddr).AddrPort()
	fd, err := detach(tl)
	if err != nil {
		return nil, fmt.Errorf("listen %v: %w", local, err)
	}
	l, err := i.acquire()
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("listen %v: %w", local, err)
	}
	return &listener{n: i, l: l, fd: fd, addr: bound, sopts: opts.Stream, accepting: true}, nil
}
