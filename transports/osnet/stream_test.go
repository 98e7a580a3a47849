package osnet

import (
	"errors"
	"io"
	"net/netip"
	"testing"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/streamtest"
)

var loopbacks = []struct {
	name string
	addr netip.Addr
}{
	{"ipv4", netip.MustParseAddr("127.0.0.1")},
	{"ipv6", netip.IPv6Loopback()},
}

// TestConformance holds osnet to the stream contract every backend meets
// (package transports/streamtest: echo, close and abort, half close,
// suspended reading, dial failures, paused accepting, TLS with SNI and ALPN,
// TLS verification failures).
func TestConformance(t *testing.T) {
	streamtest.Run(t, func() transports.Network { return New(Options{}) })
}

func TestPeerClosedIsEOF(t *testing.T) {
	if !errors.Is(transports.ErrPeerClosed, io.EOF) {
		t.Fatal("ErrPeerClosed does not match io.EOF")
	}
}
