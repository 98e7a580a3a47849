package osnet

import (
	"bytes"
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
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
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

// echoPair returns a started client stream connected to an echo server.
func echoPair(t *testing.T, addr netip.Addr, lo transports.ListenOptions, do transports.DialOptions) (transports.Stream, *rec, *acceptor) {
	t.Helper()
	n := New(Options{})
	l := listenLoop(t, n, addr, lo)
	var servers []*rec
	var mu sync.Mutex
	a := &acceptor{onAccept: func(s transports.Stream) {
		r := &rec{t: t, echo: s}
		mu.Lock()
		servers = append(servers, r)
		mu.Unlock()
		if err := s.Start(r); err != nil {
			t.Error(err)
		}
	}}
	startListener(t, l, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := n.Dial(ctx, l.Addr(), do)
	if err != nil {
		t.Fatalf("dial %v: %v", l.Addr(), err)
	}
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	return c, cr, a
}

func TestStreamEchoesOverLoopback(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			c, cr, _ := echoPair(t, lb.addr, transports.ListenOptions{}, transports.DialOptions{})
			if c.RemoteAddr().Addr() != lb.addr || c.LocalAddr().Addr() != lb.addr {
				t.Errorf("addresses %v -> %v, want %v both", c.LocalAddr(), c.RemoteAddr(), lb.addr)
			}
			var want []byte
			for i := range 64 {
				chunk := bytes.Repeat([]byte{byte(i)}, 16<<10)
				want = append(want, chunk...)
				if err := c.Write(chunk); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "echo", func() bool { d, _, _, _ := cr.snapshot(); return len(d) == len(want) })
			got, written, _, _ := cr.snapshot()
			if !bytes.Equal(got, want) {
				t.Fatal("echoed bytes differ")
			}
			if written != len(want) {
				t.Errorf("OnWritten total %d, want %d", written, len(want))
			}
			if c.TLS() != nil {
				t.Error("plain stream reports TLS state")
			}
		})
	}
}

func TestCloseAndAbortAreTellApartByThePeer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		end       func(transports.Stream) error
		wantLocal error
		wantPeer  error
	}{
		{"close", transports.Stream.Close, nil, transports.ErrPeerClosed},
		{"abort", transports.Stream.Abort, transports.ErrAborted, transports.ErrReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := New(Options{})
			l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
			sr := &rec{t: t}
			a := &acceptor{onAccept: func(s transports.Stream) {
				if err := s.Start(sr); err != nil {
					t.Error(err)
				}
			}}
			startListener(t, l, a)
			c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cr := &rec{t: t}
			startStream(t, c, cr, cr)
			c.Write([]byte("hello"))
			waitFor(t, "data at server", func() bool { d, _, _, _ := sr.snapshot(); return len(d) == 5 })
			if err := tc.end(c); err != nil {
				t.Fatal(err)
			}
			if err := cr.waitClosed(t); !errors.Is(err, tc.wantLocal) && err != tc.wantLocal {
				t.Errorf("local OnClosed(%v), want %v", err, tc.wantLocal)
			}
			if err := sr.waitClosed(t); !errors.Is(err, tc.wantPeer) {
				t.Errorf("peer OnClosed(%v), want %v", err, tc.wantPeer)
			}
			if err := c.Write([]byte("x")); !errors.Is(err, transports.ErrClosed) {
				t.Errorf("Write after end: %v, want ErrClosed", err)
			}
		})
	}
}

func TestPeerClosedIsEOF(t *testing.T) {
	if !errors.Is(transports.ErrPeerClosed, io.EOF) {
		t.Fatal("ErrPeerClosed does not match io.EOF")
	}
}

func TestHalfCloseKeepsTheOtherDirectionOpen(t *testing.T) {
	n := New(Options{})
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	sr := &halfRec{rec{t: t}}
	var server transports.Stream
	var smu sync.Mutex
	a := &acceptor{onAccept: func(s transports.Stream) {
		smu.Lock()
		server = s
		smu.Unlock()
		s.Start(sr)
	}}
	startListener(t, l, a)
	c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	c.Write([]byte("request"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "OnPeerClosed at server", func() bool { sr.mu.Lock(); defer sr.mu.Unlock(); return sr.peerEOF })
	if d, _, _, _ := sr.snapshot(); string(d) != "request" {
		t.Fatalf("server read %q", d)
	}
	smu.Lock()
	server.Write([]byte("response"))
	server.Close()
	smu.Unlock()
	if err := cr.waitClosed(t); !errors.Is(err, transports.ErrPeerClosed) {
		t.Errorf("client OnClosed(%v), want ErrPeerClosed", err)
	}
	if d, _, _, _ := cr.snapshot(); string(d) != "response" {
		t.Errorf("client read %q after its half close", d)
	}
	if err := sr.waitClosed(t); err != nil {
		t.Errorf("server OnClosed(%v), want nil", err)
	}
}

func TestSuspendedReaderStallsTheWriter(t *testing.T) {
	n := New(Options{})
	sopts := transports.StreamOptions{SendBuffer: 16 << 10, ReceiveBuffer: 16 << 10}
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{Stream: sopts})
	sr := &rec{t: t}
	var server transports.Stream
	var smu sync.Mutex
	a := &acceptor{onAccept: func(s transports.Stream) {
		smu.Lock()
		server = s
		smu.Unlock()
		s.SetReading(false)
		s.Start(sr)
	}}
	startListener(t, l, a)
	c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{Stream: sopts})
	if err != nil {
		t.Fatal(err)
	}
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	const chunk, chunks = 64 << 10, 128 // 8 MiB: far beyond both buffers
	for i := range chunks {
		c.Write(bytes.Repeat([]byte{byte(i)}, chunk))
	}
	// Wait until OnWritten stops moving for a while.
	last, still := -1, 0
	for i := 0; i < 400 && still < 10; i++ {
		time.Sleep(20 * time.Millisecond)
		_, w, _, _ := cr.snapshot()
		if w == last {
			still++
		} else {
			last, still = w, 0
		}
	}
	if last >= chunk*chunks {
		t.Fatalf("all %d bytes reported written while the peer was not reading", last)
	}
	if d, _, _, _ := sr.snapshot(); len(d) != 0 {
		t.Fatalf("suspended reader delivered %d bytes", len(d))
	}
	smu.Lock()
	server.SetReading(true)
	smu.Unlock()
	waitFor(t, "all bytes after resume", func() bool {
		d, _, _, _ := sr.snapshot()
		_, w, _, _ := cr.snapshot()
		return len(d) == chunk*chunks && w == chunk*chunks
	})
}

func TestSuspendedReaderStillSeesPeerClose(t *testing.T) {
	n := New(Options{})
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	sr := &rec{t: t}
	a := &acceptor{onAccept: func(s transports.Stream) {
		s.SetReading(false)
		s.Start(sr)
	}}
	startListener(t, l, a)
	c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "accept", func() bool { n, _ := a.count(); return n == 1 })
	c.Close() // never started: closes at once
	if err := sr.waitClosed(t); !errors.Is(err, transports.ErrPeerClosed) {
		t.Errorf("OnClosed(%v), want ErrPeerClosed", err)
	}
}

func TestDialFailures(t *testing.T) {
	n := New(Options{})
	// A port that was just freed: nothing listens there.
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	free := l.Addr()
	l.Close()
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		to   netip.AddrPort
		want error
	}{
		{"refused", context.Background(), free, transports.ErrRefused},
		{"expired context", expired, free, transports.ErrTimeout},
		{"zero address", context.Background(), netip.AddrPort{}, transports.ErrInvalidAddress},
		{"port zero", context.Background(), netip.MustParseAddrPort("127.0.0.1:0"), transports.ErrInvalidAddress},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := n.Dial(tc.ctx, tc.to, transports.DialOptions{})
			if !errors.Is(err, tc.want) {
				if s != nil {
					s.Abort()
				}
				t.Fatalf("Dial: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestListenerPausesAccepting(t *testing.T) {
	n := New(Options{})
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	a := &acceptor{onAccept: func(s transports.Stream) { s.Close() }}
	l.SetAccepting(false)
	startListener(t, l, a)
	c, err := n.Dial(context.Background(), l.Addr(), transports.DialOptions{})
	if err != nil {
		t.Fatal(err) // the kernel's backlog completes the handshake
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond)
	if got, _ := a.count(); got != 0 {
		t.Fatalf("accepted %d while paused", got)
	}
	l.SetAccepting(true)
	waitFor(t, "accept after resume", func() bool { got, _ := a.count(); return got == 1 })
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

func TestTLSStreamCarriesSNIAndALPN(t *testing.T) {
	cert, pool := selfSigned(t, "agent.example")
	var sni sync.Map
	srv := &tls.Config{
		NextProtos: []string{"microstack/1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			sni.Store("name", hello.ServerName)
			return &cert, nil
		},
	}
	cli := &tls.Config{RootCAs: pool, ServerName: "agent.example", NextProtos: []string{"h2", "microstack/1"}}
	c, cr, a := echoPair(t, loopbacks[0].addr, transports.ListenOptions{TLS: srv}, transports.DialOptions{TLS: cli})
	st := c.TLS()
	if st == nil || !st.HandshakeComplete {
		t.Fatal("no TLS state on a TLS stream")
	}
	if st.NegotiatedProtocol != "microstack/1" {
		t.Errorf("ALPN %q", st.NegotiatedProtocol)
	}
	if got, _ := sni.Load("name"); got != "agent.example" {
		t.Errorf("server saw SNI %v", got)
	}
	waitFor(t, "accept", func() bool { n, _ := a.count(); return n == 1 })
	a.mu.Lock()
	ss := a.streams[0].TLS()
	a.mu.Unlock()
	if ss == nil || ss.ServerName != "agent.example" {
		t.Errorf("server stream TLS state %+v", ss)
	}
	c.Write([]byte("over tls"))
	waitFor(t, "echo", func() bool { d, _, _, _ := cr.snapshot(); return string(d) == "over tls" })
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
