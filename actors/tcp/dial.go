package tcp

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/proxy"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/netconn"
	"github.com/microstack-go/microstack/transports/osnet"
)

// dialer carries out one Connect on a goroutine the connection actor owns:
// name lookup, proxy, Happy Eyeballs, TLS. Nothing here touches the actor.
type dialer struct {
	network  transports.Network
	resolver Resolver
	clock    clock.Clock
	fallback time.Duration
	cmd      *tcpmsg.Connect
	tls      *tls.Config // nil for plain TCP
	proxy    *url.URL    // nil for direct
	route    *tcpmsg.ProxyRoute
}

// target returns the host (a name or an address) and port to connect to.
func (d *dialer) target() (host string, port uint16, err error) {
	if d.cmd.Host == "" {
		return d.cmd.Remote.Addr().String(), d.cmd.Remote.Port(), nil
	}
	h, p, err := net.SplitHostPort(d.cmd.Host)
	if err != nil {
		return "", 0, fmt.Errorf("%w: host %q: %w", messages.ErrBadCommand, d.cmd.Host, err)
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return "", 0, fmt.Errorf("%w: host %q: bad port", messages.ErrBadCommand, d.cmd.Host)
	}
	return h, uint16(n), nil
}

// run connects, bounded by the connect timeout on the actor's clock.
func (d *dialer) run(ctx context.Context, timeout time.Duration) (transports.Stream, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	t := d.clock.AfterFunc(timeout, func() {
		cancel(fmt.Errorf("%w: connect took longer than %v", transports.ErrTimeout, timeout))
	})
	defer t.Stop()
	s, err := d.connect(ctx)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, transports.ErrTimeout) {
			err = fmt.Errorf("%w (%w)", cause, err)
		}
		return nil, err
	}
	return s, nil
}

func (d *dialer) connect(ctx context.Context) (transports.Stream, error) {
	host, port, err := d.target()
	if err != nil {
		return nil, err
	}
	if d.proxy != nil {
		return d.viaProxy(ctx, net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	addrs, err := d.resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	return happyEyeballs(ctx, d.network, d.clock, d.fallback, addrs, transports.DialOptions{
		Local: d.cmd.Options.Local, TLS: d.tls, Stream: streamOptions(d.cmd.Options.Socket),
	})
}

// resolve returns host's addresses, or host itself when it is one.
func (d *dialer) resolve(ctx context.Context, host string, port uint16) ([]netip.AddrPort, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a.Unmap(), port)}, nil
	}
	ips, err := d.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("lookup %s: %w", host, cause)
		}
		return nil, fmt.Errorf("%w %s: %w", tcpmsg.ErrResolve, host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%w %s: no address", tcpmsg.ErrResolve, host)
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
	}
	return out, nil
}

// interleave orders addresses as RFC 8305 section 4 asks: IPv6 first, then
// alternating families, each family in the resolver's order.
func interleave(addrs []netip.AddrPort) []netip.AddrPort {
	var v6, v4 []netip.AddrPort
	for _, a := range addrs {
		if a.Addr().Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for i := 0; i < len(v6) || i < len(v4); i++ {
		if i < len(v6) {
			out = append(out, v6[i])
		}
		if i < len(v4) {
			out = append(out, v4[i])
		}
	}
	return out
}

// happyEyeballs dials addrs in interleaved order, starting the next attempt
// when the one before fails or after delay, whichever comes first, and
// returns the first stream to connect (RFC 8305). The losers are reset; it
// returns only once every attempt has ended.
func happyEyeballs(ctx context.Context, n transports.Network, clk clock.Clock, delay time.Duration, addrs []netip.AddrPort, o transports.DialOptions) (transports.Stream, error) {
	addrs = interleave(addrs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		s   transports.Stream
		err error
	}
	results := make(chan result, len(addrs))
	tick := make(chan struct{}, 1)
	var timer clock.Timer
	next, running := 0, 0
	start := func() {
		a := addrs[next]
		next++
		running++
		go func() {
			s, err := n.Dial(ctx, a, o)
			results <- result{s, err}
		}()
		if timer != nil {
			timer.Stop()
		}
		if next < len(addrs) {
			timer = clk.AfterFunc(delay, func() { nudge(tick) })
		}
	}
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	start()
	var errs []error
	for running > 0 {
		select {
		case r := <-results:
			running--
			if r.err == nil {
				cancel()
				for ; running > 0; running-- {
					if late := <-results; late.s != nil {
						_ = late.s.Abort()
					}
				}
				return r.s, nil
			}
			errs = append(errs, r.err)
			if next < len(addrs) {
				start()
			}
		case <-tick:
			if next < len(addrs) {
				start()
			}
		}
	}
	if len(errs) == 1 {
		return nil, errs[0]
	}
	return nil, errors.Join(errs...)
}

// viaProxy connects to target ("host:port") through d.proxy.
func (d *dialer) viaProxy(ctx context.Context, target string) (transports.Stream, error) {
	var (
		w   *watched
		nc  *netconn.Conn
		raw net.Conn
		err error
	)
	switch d.proxy.Scheme {
	case "http", "https":
		w, nc, err = d.dialProxy(ctx)
		if err == nil {
			raw, err = httpConnect(ctx, nc, d.proxy, target)
		}
	case "socks5", "socks5h":
		var auth *proxy.Auth
		if u := d.proxy.User; u != nil {
			pw, _ := u.Password()
			auth = &proxy.Auth{User: u.Username(), Password: pw}
		}
		forward := dialFunc(func(ctx context.Context, _, _ string) (net.Conn, error) {
			var derr error
			w, nc, derr = d.dialProxy(ctx)
			if derr != nil {
				return nil, derr
			}
			return nc, nil
		})
		var sd proxy.Dialer
		sd, err = proxy.SOCKS5("tcp", d.proxy.Host, auth, forward)
		if err == nil {
			raw, err = sd.(proxy.ContextDialer).DialContext(ctx, "tcp", target)
		}
	default:
		err = fmt.Errorf("%w: proxy scheme %q (want http, https or socks5)", messages.ErrBadCommand, d.proxy.Scheme)
	}
	if err != nil {
		if nc != nil {
			_ = w.Abort()
			_ = nc.Close()
			<-w.end
		}
		return nil, d.proxyErr(ctx, target, err)
	}
	r := io.Reader(raw)
	var tlc *tls.Conn
	if d.tls != nil {
		cfg := d.tls.Clone()
		tlc = tls.Client(raw, cfg)
		if herr := handshake(ctx, tlc, nc); herr != nil {
			_ = w.Abort()
			_ = nc.Close()
			<-w.end
			if cause := context.Cause(ctx); cause != nil {
				return nil, fmt.Errorf("tls to %s via proxy %s: %w", target, redact(d.proxy), cause)
			}
			return nil, fmt.Errorf("tls to %s via proxy %s: %w: %w", target, redact(d.proxy), transports.ErrTLS, herr)
		}
	}
	t := newTunnel(w, nc, r, tlc)
	return osnet.NewStream(t, transports.StreamOptions{ReadSize: d.cmd.Options.Socket.ReadSize}), nil
}

// proxyErr names the proxy and where its configuration came from.
func (d *dialer) proxyErr(ctx context.Context, target string, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, transports.ErrTimeout) {
		err = fmt.Errorf("%w (%w)", cause, err)
	}
	if !errors.Is(err, tcpmsg.ErrProxy) && !errors.Is(err, messages.ErrBadCommand) {
		err = fmt.Errorf("%w: %w", tcpmsg.ErrProxy, err)
	}
	return fmt.Errorf("connect %s via proxy %s (from %s): %w", target, redact(d.proxy), d.route.Source, err)
}

type dialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

func (f dialFunc) Dial(network, addr string) (net.Conn, error) {
	return f(context.Background(), network, addr)
}

func (f dialFunc) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f(ctx, network, addr)
}

// dialProxy opens a stream to the proxy and wraps it as a net.Conn whose
// blocking calls end when ctx does.
func (d *dialer) dialProxy(ctx context.Context) (*watched, *netconn.Conn, error) {
	host := d.proxy.Hostname()
	port := d.proxy.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[d.proxy.Scheme]
		if port == "" {
			port = "1080"
		}
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return nil, nil, fmt.Errorf("%w: proxy port %q", messages.ErrBadCommand, port)
	}
	addrs, err := d.resolve(ctx, host, uint16(p))
	if err != nil {
		return nil, nil, err
	}
	o := transports.DialOptions{Local: d.cmd.Options.Local, Stream: streamOptions(d.cmd.Options.Socket)}
	if d.proxy.Scheme == "https" {
		o.TLS = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	s, err := happyEyeballs(ctx, d.network, d.clock, d.fallback, addrs, o)
	if err != nil {
		return nil, nil, err
	}
	w := &watched{Stream: s, end: make(chan struct{})}
	nc, err := netconn.New(w, 0)
	if err != nil {
		_ = s.Abort()
		return nil, nil, err
	}
	return w, nc, nil
}

// httpConnect asks an HTTP proxy for a tunnel to target with CONNECT
// (Basic credentials from the proxy URL), using net/http's request writer
// and response reader. Bytes the reader took past the response belong to
// the tunnel and are kept in the returned conn.
func httpConnect(ctx context.Context, nc *netconn.Conn, pu *url.URL, target string) (net.Conn, error) {
	stop := interruptOnDone(ctx, nc)
	defer stop()
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: target},
		Host:   target,
		Header: make(http.Header),
	}
	if u := pu.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	if err := req.Write(nc); err != nil {
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return nil, fmt.Errorf("%w: reading the CONNECT response: %w", tcpmsg.ErrProxy, err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		return nil, fmt.Errorf("%w: CONNECT %s: %s", tcpmsg.ErrProxy, target, resp.Status)
	}
	if br.Buffered() == 0 {
		return nc, nil
	}
	return &prefixConn{Conn: nc, r: br}, nil
}

// handshake runs a TLS client handshake whose blocking reads end when ctx
// does.
func handshake(ctx context.Context, tlc *tls.Conn, nc *netconn.Conn) error {
	stop := interruptOnDone(ctx, nc)
	defer stop()
	return tlc.HandshakeContext(ctx)
}

// interruptOnDone makes nc's blocked calls return when ctx ends; the
// returned function undoes the arrangement.
func interruptOnDone(ctx context.Context, nc *netconn.Conn) func() {
	var mu sync.Mutex
	fired := false
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		fired = true
		_ = nc.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		stop()
		mu.Lock()
		defer mu.Unlock()
		if fired {
			_ = nc.SetDeadline(time.Time{})
		}
	}
}

// prefixConn reads what a bufio.Reader holds before the conn itself.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (c *prefixConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// redact returns the proxy URL without its password.
func redact(u *url.URL) string {
	if u == nil {
		return "direct"
	}
	return u.Redacted()
}

// clientTLS builds the TLS client configuration of a Connect.
func clientTLS(cmd *tcpmsg.Connect, host string) (*tls.Config, error) {
	o := cmd.Options.TLS
	if o == nil {
		return nil, nil
	}
	var cfg *tls.Config
	if o.Config != nil {
		cfg = o.Config.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch {
	case o.ServerName != "":
		cfg.ServerName = o.ServerName
	case cfg.ServerName == "":
		cfg.ServerName = host
	}
	if len(o.ALPN) > 0 {
		cfg.NextProtos = append([]string(nil), o.ALPN...)
	}
	if len(o.Pins) > 0 {
		pinned, err := certs.PinnedConfig(cfg, o.Pins)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", messages.ErrBadCommand, err)
		}
		cfg = pinned
	}
	return cfg, nil
}

// nudge wakes a goroutine waiting on c without blocking.
func nudge(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
