// Package dial opens the client connections of the HTTP and WebSocket actors
// on a transports.Network, as net.Conns that net/http's Transport can use:
// a host name is resolved, each address tried in turn, and for HTTPS the TLS
// handshake is the transport's (verification on unless the config says
// otherwise).
package dial

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/netconn"
)

// Resolver looks up a host name.
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// DefaultResolve is net.DefaultResolver's LookupNetIP.
func DefaultResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// Dialer dials streams for HTTP clients.
type Dialer struct {
	Network transports.Network
	Resolve Resolver
	// TLS is the base client config for DialTLS; ServerName defaults to
	// the dialed host.
	TLS *tls.Config
	// ReadBuffer bounds the bytes a connection holds for its reader.
	ReadBuffer int
}

// Dial opens a plain connection to addr ("host:port").
func (d *Dialer) Dial(ctx context.Context, _, addr string) (net.Conn, error) {
	return d.dial(ctx, addr, nil)
}

// DialTLS opens a TLS connection to addr ("host:port"), handshake done.
func (d *Dialer) DialTLS(ctx context.Context, _, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	cfg := d.TLS.Clone()
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	// The connection is handed to an HTTP/1.1 client: never offer h2.
	cfg.NextProtos = []string{"http/1.1"}
	return d.dial(ctx, addr, cfg)
}

func (d *Dialer) dial(ctx context.Context, addr string, cfg *tls.Config) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("dial %s: bad port: %w", addr, err)
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else if addrs, err = d.Resolve(ctx, host); err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	var errs []error
	for _, ip := range addrs {
		s, err := d.Network.Dial(ctx, netip.AddrPortFrom(ip.Unmap(), uint16(port)), transports.DialOptions{TLS: cfg})
		if err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		c, err := netconn.New(s, d.ReadBuffer)
		if err != nil {
			_ = s.Abort()
			return nil, err
		}
		return c, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("dial %s: no address", addr)
	}
	return nil, fmt.Errorf("dial %s: %w", addr, errors.Join(errs...))
}
