// Package osnet is the operating system's network behind the
// transports.Network interface: TCP and TLS streams, UDP and multicast
// sockets, the interface list and a watch of interface changes.
//
// This is the portable backend: every started socket owns one reader
// goroutine and (for streams) one writer goroutine, both ended by Close or
// Abort before OnClosed is reported; transports/evloop is the event-loop
// backend with a few goroutines for all sockets. A plain TCP stream is also
// a transports.DirectWriter on Unix: with nothing queued, WriteDirect hands
// the bytes to the kernel from the caller's goroutine (what the send buffer
// takes at once; the writer goroutine sends the rest), which spares a
// blocking caller such as transports/netconn two thread wake-ups per write.
//
// NewStream drives any blocking connection (a Conn, such as one through a
// proxy) with the same two goroutines and the same stream contract.
//
// Interface changes are found by polling the interface list every
// Options.PollInterval and reporting the differences; a netlink (Linux) or
// routing-socket (BSD) source can replace the polling later without
// changing what a watcher sees.
package osnet

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

// Options configures a Network. The zero value is ready to use.
type Options struct {
	// Clock times the interface polling. Default clock.Real().
	Clock clock.Clock
	// PollInterval is how often WatchInterfaces reads the interface list.
	// Default 5s.
	PollInterval time.Duration
}

// Network is the operating system's network. It holds no resources of its
// own: every socket it opens is closed by its owner.
type Network struct {
	clock    clock.Clock
	interval time.Duration
	// list reads the interfaces; tests replace it to drive the watcher.
	list func() ([]transports.Interface, error)
}

var _ transports.Network = (*Network)(nil)

// New returns the operating system's network.
func New(opts Options) *Network {
	n := &Network{clock: opts.Clock, interval: opts.PollInterval, list: systemInterfaces}
	if n.clock == nil {
		n.clock = clock.Real()
	}
	if n.interval <= 0 {
		n.interval = 5 * time.Second
	}
	return n
}

const defaultReadSize = 32 << 10

// Dial opens a TCP stream to remote, with a TLS client handshake when
// opts.TLS is set. When opts.TLS.ServerName is empty, the remote address is
// verified against the certificate's IP addresses (no SNI is sent).
func (n *Network) Dial(ctx context.Context, remote netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
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
	if err := configure(tc, opts.Stream); err != nil {
		tc.Close()
		return nil, fmt.Errorf("dial %v: %w", remote, err)
	}
	if opts.TLS == nil {
		return newTCPStream(tc, nil, opts.Stream), nil
	}
	cfg := opts.TLS.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = remote.Addr().String()
	}
	tlc := tls.Client(tc, cfg)
	if err := tlc.HandshakeContext(ctx); err != nil {
		tc.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("dial %v: tls: %w: %w", remote, transports.ErrTimeout, ctxErr)
		}
		return nil, fmt.Errorf("dial %v: %w: %w", remote, transports.ErrTLS, err)
	}
	return newTCPStream(tc, tlc, opts.Stream), nil
}

// configure applies StreamOptions to a fresh connection.
func configure(c *net.TCPConn, o transports.StreamOptions) error {
	if o.KeepNagle {
		if err := c.SetNoDelay(false); err != nil {
			return err
		}
	}
	if o.SendBuffer > 0 {
		if err := c.SetWriteBuffer(o.SendBuffer); err != nil {
			return err
		}
	}
	if o.ReceiveBuffer > 0 {
		if err := c.SetReadBuffer(o.ReceiveBuffer); err != nil {
			return err
		}
	}
	return nil
}

// network picks the Go network name so that the socket's family follows the
// address: an IPv4 address gets an IPv4 socket, a specific IPv6 address an
// IPv6-only one, and the unspecified IPv6 address (or no address) a
// dual-stack socket where the system has one.
func network(base string, a netip.Addr) string {
	switch {
	case !a.IsValid() || a == netip.IPv6Unspecified():
		return base
	case a.Is4():
		return base + "4"
	default:
		return base + "6"
	}
}

func addrOrNil(ap netip.AddrPort) string {
	if !ap.Addr().IsValid() {
		return fmt.Sprintf(":%d", ap.Port())
	}
	return ap.String()
}

// Listen opens a TCP listener on local, with a TLS server handshake on every
// accepted stream when opts.TLS is set.
func (n *Network) Listen(local netip.AddrPort, opts transports.ListenOptions) (transports.Listener, error) {
	ln, err := net.Listen(network("tcp", local.Addr()), addrOrNil(local))
	if err != nil {
		return nil, fmt.Errorf("listen %v: %w", local, oserr.Wrap(err))
	}
	return newListener(ln.(*net.TCPListener), opts), nil
}

// WatchInterfaces polls the interface list every Options.PollInterval and
// reports the differences. Close must not be called from inside h.
func (n *Network) WatchInterfaces(h func(transports.InterfaceEvent)) (io.Closer, error) {
	return newWatch(n, h)
}
