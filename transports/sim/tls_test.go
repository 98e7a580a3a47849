package sim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
)

func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	leaf, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSimulatedTLS(t *testing.T) {
	cert, pool := selfSigned(t, "agent.example")
	var sni string
	srv := &tls.Config{NextProtos: []string{"microstack/1"}, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		sni = h.ServerName
		return &cert, nil
	}}
	for _, tc := range []struct {
		name string
		cli  *tls.Config
		want error
		as   any
	}{
		{"verified", &tls.Config{ServerName: "agent.example", RootCAs: pool, NextProtos: []string{"h2", "microstack/1"}}, nil, nil},
		{"unknown authority", &tls.Config{ServerName: "agent.example", RootCAs: x509.NewCertPool()}, transports.ErrTLS, new(x509.UnknownAuthorityError)},
		{"wrong name", &tls.Config{ServerName: "other.example", RootCAs: pool}, transports.ErrTLS, new(x509.HostnameError)},
		{"plain client", nil, transports.ErrTLS, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{Link: LinkConfig{Latency: time.Millisecond}})
			var acceptErrs []error
			l, err := w.b.Listen(netip.AddrPortFrom(addrB, 443), transports.ListenOptions{TLS: srv})
			must(t, err)
			var server transports.Stream
			l.Start(transports.ListenerFuncs{
				Accept:      func(s transports.Stream) { server = s; s.Start(newRec(t, nil)) },
				AcceptError: func(err error) { acceptErrs = append(acceptErrs, err) },
			})
			t.Cleanup(func() { l.Close(); w.clk.Advance(0) })
			s, err := w.dial(w.a, l.Addr(), transports.DialOptions{TLS: tc.cli})
			if tc.want != nil {
				if !errors.Is(err, tc.want) || tc.as != nil && !errors.As(err, tc.as) {
					t.Fatalf("Dial: %v, want %v (%T)", err, tc.want, tc.as)
				}
				if len(acceptErrs) != 1 {
					t.Errorf("listener saw %d handshake errors, want 1", len(acceptErrs))
				}
				return
			}
			must(t, err)
			s.Start(newRec(t, nil))
			if st := s.TLS(); st == nil || st.NegotiatedProtocol != "microstack/1" || len(st.PeerCertificates) != 1 {
				t.Errorf("client TLS state %+v", st)
			}
			if sni != "agent.example" || server.TLS().ServerName != "agent.example" {
				t.Errorf("server saw SNI %q, state %q", sni, server.TLS().ServerName)
			}
		})
	}
}

// The simulated network also runs on the wall clock, for tests that do not
// need replay.
func TestRealClockEcho(t *testing.T) {
	n := New(Config{Clock: clock.Real(), Link: LinkConfig{Latency: time.Millisecond, Jitter: time.Millisecond}})
	a, b := n.AddHost("a", addrA), n.AddHost("b", addrB)
	l, err := b.Listen(netip.AddrPortFrom(addrB, 7), transports.ListenOptions{})
	must(t, err)
	lclosed := make(chan struct{})
	l.Start(transports.ListenerFuncs{
		Accept: func(s transports.Stream) { s.Start(transports.StreamFuncs{Data: func(p []byte) { s.Write(p) }}) },
		Closed: func(error) { close(lclosed) },
	})
	s, err := a.Dial(t.Context(), l.Addr(), transports.DialOptions{})
	must(t, err)
	r := newRec(t, nil)
	must(t, s.Start(r))
	must(t, s.Write([]byte("ping")))
	wait(t, "echo", func() bool { d, _, _, _ := r.Snapshot(); return string(d) == "ping" })
	s.Close()
	wait(t, "close", func() bool { _, _, c, _ := r.Snapshot(); return c })
	l.Close()
	<-lclosed
	time.Sleep(20 * time.Millisecond) // let the last timers fire before goleak looks
}
