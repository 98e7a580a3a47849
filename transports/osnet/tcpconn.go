package osnet

import (
	"crypto/tls"
	"net"
	"net/netip"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

// tcpConn is the Conn of a TCP stream this package opens, with or without
// TLS. Its errors carry the transports error matching the OS error.
type tcpConn struct {
	tcp    *net.TCPConn
	conn   net.Conn  // tcp, or the *tls.Conn over it
	tls    *tls.Conn // nil without TLS
	local  netip.AddrPort
	remote netip.AddrPort
}

func newTCPStream(tc *net.TCPConn, tlc *tls.Conn, o transports.StreamOptions) *stream {
	c := &tcpConn{
		tcp:    tc,
		conn:   tc,
		local:  tc.LocalAddr().(*net.TCPAddr).AddrPort(),
		remote: tc.RemoteAddr().(*net.TCPAddr).AddrPort(),
	}
	s := newStream(c, o)
	if tlc != nil {
		c.conn, c.tls = tlc, tlc
	} else {
		// A plain socket takes what fits in its send buffer from the
		// writer's goroutine (nil where the platform cannot).
		s.raw = newRawWriter(tc)
	}
	return s
}

func (c *tcpConn) Read(b []byte) (int, error) {
	n, err := c.conn.Read(b)
	return n, oserr.Wrap(err)
}

func (c *tcpConn) Write(b []byte) (int, error) {
	n, err := c.conn.Write(b)
	return n, oserr.Wrap(err)
}

func (c *tcpConn) CloseWrite() error {
	if c.tls != nil {
		// close_notify: the peer's TLS layer reads it as end of stream.
		return oserr.Wrap(c.tls.CloseWrite())
	}
	return oserr.Wrap(c.tcp.CloseWrite())
}

func (c *tcpConn) Close() error {
	if c.tls != nil {
		// Sends close_notify; tls bounds that write by 5s.
		return c.tls.Close()
	}
	return c.tcp.Close()
}

func (c *tcpConn) Kill() error { return c.tcp.Close() }

// Reset sets SO_LINGER 0: close then sends RST and drops unsent data.
func (c *tcpConn) Reset() { _ = c.tcp.SetLinger(0) }

func (c *tcpConn) Wait() {}

func (c *tcpConn) LocalAddr() netip.AddrPort  { return c.local }
func (c *tcpConn) RemoteAddr() netip.AddrPort { return c.remote }

func (c *tcpConn) TLS() *tls.ConnectionState {
	if c.tls == nil {
		return nil
	}
	st := c.tls.ConnectionState()
	return &st
}
