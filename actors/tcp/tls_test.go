package tcp_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
)

// tlsEcho runs a TLS echo listener whose certificate is made and kept in a
// temporary folder, and returns its address and certificate.
func tlsEcho(t *testing.T, e *env, cfg *tls.Config) (netip.AddrPort, tls.Certificate) {
	t.Helper()
	dir := t.TempDir()
	_, addr := e.listen("tls", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{
		Handler: tcp.EchoHandlerProps,
		TLS:     &tcp.ServerTLS{Config: cfg, CertDir: dir},
	})
	cert, err := certs.LoadOrCreate(dir, certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return addr, cert
}

func rootsOf(t *testing.T, cert tls.Certificate) *x509.CertPool {
	t.Helper()
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return pool
}

func TestTLSWithASelfSignedCertificateKeptOnDisk(t *testing.T) {
	e := newEnv(t, nil)
	addr, cert := tlsEcho(t, e, nil)
	conn, p, c := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Host: "localhost:" + itoa(addr.Port()),
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Config: &tls.Config{RootCAs: rootsOf(t, cert)}}}})
	if c.TLS == nil || !c.TLS.HandshakeComplete || c.Host != "localhost:"+itoa(addr.Port()) {
		t.Fatalf("connected %+v", c)
	}
	echoRoundTrip(t, p, conn, []byte("secret"))
}

func TestTLSVerificationIsOnByDefault(t *testing.T) {
	e := newEnv(t, nil)
	addr, _ := tlsEcho(t, e, nil)
	_, p := e.dialAsync("c", tcp.Options{}, &tcpmsg.Connect{Remote: addr, Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{}}})
	f := expectFailed(t, p, transports.ErrTLS)
	var unknown x509.UnknownAuthorityError
	if !errors.As(f.Err, &unknown) {
		t.Fatalf("want an unknown authority, got %v", f.Err)
	}
}

func TestPinningAcceptsTheRightCertificateAndRejectsOthers(t *testing.T) {
	e := newEnv(t, nil)
	addr, cert := tlsEcho(t, e, nil)
	for _, pin := range [][]byte{certs.SHA256(cert.Certificate[0]), certs.SHA384(cert.Certificate[0])} {
		conn, p, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr,
			Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{ServerName: "anything.example", Pins: [][]byte{pin}}}})
		echoRoundTrip(t, p, conn, []byte("pinned"))
	}
	other, err := certs.SelfSigned(certs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, p := e.dialAsync("", tcp.Options{}, &tcpmsg.Connect{Remote: addr,
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Pins: [][]byte{certs.SHA384(other.Certificate[0])}}}})
	expectFailed(t, p, transports.ErrTLS, certs.ErrPinMismatch)
}

func TestServerSeesSNIAndALPNIsNegotiated(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	var seen []string
	cert, err := certs.SelfSigned(certs.Options{Hosts: []string{"agent.example"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"microstack/1"},
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			mu.Lock()
			seen = append(seen, h.ServerName)
			mu.Unlock()
			return nil, nil
		},
	}
	_, addr := e.listen("sni", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps, TLS: &tcp.ServerTLS{Config: cfg}})
	// SNI from the host name.
	_, _, c := e.dial("", tcp.Options{Resolver: staticResolver{"agent.example": {lo4}}}, &tcpmsg.Connect{Host: "agent.example:" + itoa(addr.Port()),
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Config: &tls.Config{RootCAs: rootsOf(t, cert)}, ALPN: []string{"h2", "microstack/1"}}}})
	if c.TLS.NegotiatedProtocol != "microstack/1" {
		t.Fatalf("ALPN %q", c.TLS.NegotiatedProtocol)
	}
	// SNI from the option, to an address.
	e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr,
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{ServerName: "agent.example", Config: &tls.Config{RootCAs: rootsOf(t, cert)}}}})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "agent.example" || seen[1] != "agent.example" {
		t.Fatalf("server saw SNI %q", seen)
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func certsSHA(cert tls.Certificate) []byte { return certs.SHA256(cert.Certificate[0]) }

// Garbage sent to a TLS listener is an accept error, counted; the listener
// goes on serving.
func TestGarbageToATLSListenerIsCountedNotFatal(t *testing.T) {
	e := newEnv(t, nil)
	addr, cert := tlsEcho(t, e, nil)
	for range 3 {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n\x00\xff\x16\x03"))
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
	}
	p := testkit.NewProbe(t, e.system)
	testkit.Eventually(t, 0, func() bool {
		p.Send(actor.NewPID(e.system.Address(), "tls"), &tcpmsg.GetStats{})
		return testkit.Expect[*tcpmsg.ListenerStats](p, 0).AcceptErrors == 3
	}, "three accept errors counted")
	conn, cp, _ := e.dial("", tcp.Options{}, &tcpmsg.Connect{Remote: addr,
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Pins: [][]byte{certsSHA(cert)}}}})
	echoRoundTrip(t, cp, conn, []byte("still serving"))
}
