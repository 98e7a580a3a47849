package osnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"testing"
	"time"

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

// listenLoop listens on addr:0 or skips when the family is unavailable.
func listenLoop(t *testing.T, n *Network, addr netip.Addr, opts transports.ListenOptions) transports.Listener {
	t.Helper()
	l, err := n.Listen(netip.AddrPortFrom(addr, 0), opts)
	if err != nil {
		if addr.Is6() {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	return l
}

// TestConformance holds osnet to the stream contract every backend meets
// (package transports/streamtest: echo, close and abort, half close,
// suspended reading, dial failures, paused accepting, TLS with SNI and ALPN).
func TestConformance(t *testing.T) {
	streamtest.Run(t, func() transports.Network { return New(Options{}) })
}

func TestPeerClosedIsEOF(t *testing.T) {
	if !errors.Is(transports.ErrPeerClosed, io.EOF) {
		t.Fatal("ErrPeerClosed does not match io.EOF")
	}
}

// selfSigned makes a certificate for name and 127.0.0.1, valid now.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		DNSNames:              []string{name},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func TestTLSVerificationFailures(t *testing.T) {
	cert, pool := selfSigned(t, "agent.example")
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		as   any
	}{
		{"unknown authority", &tls.Config{ServerName: "agent.example", RootCAs: x509.NewCertPool()}, new(x509.UnknownAuthorityError)},
		{"wrong name", &tls.Config{ServerName: "other.example", RootCAs: pool}, new(x509.HostnameError)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := New(Options{})
			l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
			a := &acceptor{}
			startListener(t, l, a)
			s, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{TLS: tc.cfg})
			if err == nil {
				s.Abort()
				t.Fatal("dial succeeded against an unverifiable certificate")
			}
			if !errors.Is(err, transports.ErrTLS) {
				t.Errorf("error %v does not wrap ErrTLS", err)
			}
			if !errors.As(err, tc.as) {
				t.Errorf("error %v is not %T", err, tc.as)
			}
			waitFor(t, "server-side handshake error", func() bool { _, e := a.count(); return e == 1 })
		})
	}
}
