package tcp

import (
	"crypto/tls"
	"io"
	"net/netip"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/netconn"
	"github.com/microstack-go/microstack/transports/osnet"
)

// tunnel is the osnet.Conn of a connection through a proxy, whose HTTP
// CONNECT or SOCKS5 exchange (and TLS handshake to the target) needed a
// net.Conn; osnet.NewStream makes it a transports.Stream. That costs a
// reader and a writer goroutine on top of the underlying stream's, as
// osnet's portable backend does; connections through a proxy are few (an
// agent's link to its server), so the event-pushed path stays the direct
// one.
type tunnel struct {
	under    transports.Stream // the stream to the proxy
	underEnd <-chan struct{}   // closed after under's OnClosed
	nc       *netconn.Conn
	tlc      *tls.Conn // nil without TLS to the target
	r        io.Reader // what to read: tlc, or nc behind any bytes the proxy exchange read ahead
	w        io.Writer
}

var _ osnet.Conn = (*tunnel)(nil)

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

func newTunnel(under *watched, nc *netconn.Conn, r io.Reader, tlc *tls.Conn) *tunnel {
	t := &tunnel{under: under.Stream, underEnd: under.end, nc: nc, tlc: tlc, r: r, w: nc}
	if tlc != nil {
		t.r, t.w = tlc, tlc
	}
	return t
}

func (t *tunnel) Read(b []byte) (int, error)  { return t.r.Read(b) }
func (t *tunnel) Write(b []byte) (int, error) { return t.w.Write(b) }

func (t *tunnel) CloseWrite() error {
	if t.tlc != nil {
		return t.tlc.CloseWrite()
	}
	return t.nc.CloseWrite()
}

func (t *tunnel) Close() error {
	if t.tlc != nil {
		return t.tlc.Close() // close_notify, then the netconn
	}
	return t.nc.Close()
}

func (t *tunnel) Kill() error {
	_ = t.under.Abort()
	return t.nc.Close()
}

// Reset aborts the stream to the proxy: after our Close, that stream may
// still be flushing to the proxy.
func (t *tunnel) Reset() { _ = t.under.Abort() }

// Wait returns once the proxy stream's goroutines have ended.
func (t *tunnel) Wait() { <-t.underEnd }

func (t *tunnel) LocalAddr() netip.AddrPort  { return t.under.LocalAddr() }
func (t *tunnel) RemoteAddr() netip.AddrPort { return t.under.RemoteAddr() }

func (t *tunnel) TLS() *tls.ConnectionState {
	if t.tlc == nil {
		return nil
	}
	st := t.tlc.ConnectionState()
	return &st
}
