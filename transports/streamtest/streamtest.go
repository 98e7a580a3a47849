// Package streamtest is the behavioural contract of transports.Stream and
// transports.Listener as a test suite, so that every backend (the portable
// transports/osnet, the event loop of transports/evloop) is held to the same
// tests over real loopback sockets:
//
//	func TestConformance(t *testing.T) {
//		streamtest.Run(t, func() transports.Network { return evloop.New(evloop.Options{}) })
//	}
//
// Every socket a test opens is closed by the test's cleanup, waiting for
// OnClosed, so a goleak check after the suite sees no backend goroutine.
package streamtest

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
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// Run runs the conformance suite, each test as a subtest with a Network
// from newNet.
func Run(t *testing.T, newNet func() transports.Network) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, func() transports.Network)
	}{
		{"StreamEchoesOverLoopback", streamEchoesOverLoopback},
		{"CloseAndAbortAreToldApartByThePeer", closeAndAbortAreToldApart},
		{"HalfCloseKeepsTheOtherDirectionOpen", halfCloseKeepsOtherDirection},
		{"SuspendedReaderStallsTheWriter", suspendedReaderStallsWriter},
		{"SuspendedReaderStillSeesPeerClose", suspendedReaderSeesPeerClose},
		{"DataBeforePeerCloseWaitsForResume", dataBeforeCloseWaitsForResume},
		{"WritesBeforeStartAreSent", writesBeforeStartAreSent},
		{"StartTwiceAndAfterClose", startTwiceAndAfterClose},
		{"CloseFlushesQueuedWrites", closeFlushesQueuedWrites},
		{"ManyStreamsAtOnce", manyStreamsAtOnce},
		{"DialFailures", dialFailures},
		{"ListenerPausesAccepting", listenerPausesAccepting},
		{"TLSStreamCarriesSNIAndALPN", tlsStreamCarriesSNIAndALPN},
		{"TLSVerificationFailures", tlsVerificationFailures},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, newNet) })
	}
}

var loopbacks = []struct {
	name string
	addr netip.Addr
}{
	{"ipv4", netip.MustParseAddr("127.0.0.1")},
	{"ipv6", netip.IPv6Loopback()},
}

// listenLoop listens on addr:0 or skips when the family is unavailable.
func listenLoop(t *testing.T, n transports.Network, addr netip.Addr, opts transports.ListenOptions) transports.Listener {
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

func dial(t *testing.T, n transports.Network, to netip.AddrPort, opts transports.DialOptions) transports.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := n.Dial(ctx, to, opts)
	if err != nil {
		t.Fatalf("dial %v: %v", to, err)
	}
	return c
}

// echoPair returns a started client stream connected to an echo server.
func echoPair(t *testing.T, n transports.Network, addr netip.Addr, lo transports.ListenOptions, do transports.DialOptions) (transports.Stream, *rec, *acceptor) {
	t.Helper()
	l := listenLoop(t, n, addr, lo)
	a := &acceptor{onAccept: func(s transports.Stream) {
		if err := s.Start(&rec{t: t, echo: s}); err != nil {
			t.Error(err)
		}
	}}
	startListener(t, l, a)
	c := dial(t, n, l.Addr(), do)
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	return c, cr, a
}

// serverPair returns a started client and the server's recorder; onAccept
// runs before the server stream starts.
func serverPair(t *testing.T, n transports.Network, sopts transports.StreamOptions, sr transports.StreamHandler, before func(transports.Stream)) (transports.Stream, *rec, func() transports.Stream) {
	t.Helper()
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{Stream: sopts})
	var mu sync.Mutex
	var server transports.Stream
	a := &acceptor{onAccept: func(s transports.Stream) {
		mu.Lock()
		server = s
		mu.Unlock()
		if before != nil {
			before(s)
		}
		if err := s.Start(sr); err != nil {
			t.Error(err)
		}
	}}
	startListener(t, l, a)
	c := dial(t, n, l.Addr(), transports.DialOptions{Stream: sopts})
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	get := func() transports.Stream {
		// server, not a.count(): the acceptor counts a stream before
		// onAccept has stored it.
		var s transports.Stream
		waitFor(t, "accept", func() bool { mu.Lock(); defer mu.Unlock(); s = server; return s != nil })
		return s
	}
	return c, cr, get
}

func streamEchoesOverLoopback(t *testing.T, newNet func() transports.Network) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			c, cr, _ := echoPair(t, newNet(), lb.addr, transports.ListenOptions{}, transports.DialOptions{})
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
			waitFor(t, "echo", func() bool { n, _ := cr.sizes(); return n == len(want) })
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

func closeAndAbortAreToldApart(t *testing.T, newNet func() transports.Network) {
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
			sr := &rec{t: t}
			c, cr, _ := serverPair(t, newNet(), transports.StreamOptions{}, sr, nil)
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

func halfCloseKeepsOtherDirection(t *testing.T, newNet func() transports.Network) {
	sr := &halfRec{rec{t: t}}
	c, cr, server := serverPair(t, newNet(), transports.StreamOptions{}, sr, nil)
	c.Write([]byte("request"))
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "OnPeerClosed at server", func() bool { sr.mu.Lock(); defer sr.mu.Unlock(); return sr.peerEOF })
	if d, _, _, _ := sr.snapshot(); string(d) != "request" {
		t.Fatalf("server read %q", d)
	}
	s := server()
	s.Write([]byte("response"))
	s.Close()
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

func suspendedReaderStallsWriter(t *testing.T, newNet func() transports.Network) {
	// Not smaller: on loopback (MTU 64 KiB) a receive buffer of 16 KiB
	// gives a window below the sender's segment size, and Linux has been
	// seen to stall such a connection for good with its receive queue
	// empty and 46.5 KiB unsent (ss: rwnd_limited, snd_wnd 32768 < mss
	// 47616), whatever the application does.
	sopts := transports.StreamOptions{SendBuffer: 128 << 10, ReceiveBuffer: 128 << 10}
	sr := &rec{t: t}
	c, cr, server := serverPair(t, newNet(), sopts, sr, func(s transports.Stream) { s.SetReading(false) })
	const chunk, chunks = 64 << 10, 128 // 8 MiB: far beyond both buffers
	for i := range chunks {
		c.Write(bytes.Repeat([]byte{byte(i)}, chunk))
	}
	// Wait until OnWritten stops moving for a while.
	last, still := -1, 0
	for i := 0; i < 400 && still < 10; i++ {
		time.Sleep(20 * time.Millisecond)
		_, w := cr.sizes()
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
	server().SetReading(true)
	waitFor(t, "all bytes after resume", func() bool {
		read, _ := sr.sizes()
		_, w := cr.sizes()
		return read == chunk*chunks && w == chunk*chunks
	})
	got, _, _, _ := sr.snapshot()
	for i := range chunks {
		if got[i*chunk] != byte(i) || got[i*chunk+chunk-1] != byte(i) {
			t.Fatalf("chunk %d out of order", i)
		}
	}
}

func suspendedReaderSeesPeerClose(t *testing.T, newNet func() transports.Network) {
	n := newNet()
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	sr := &rec{t: t}
	a := &acceptor{onAccept: func(s transports.Stream) {
		s.SetReading(false)
		s.Start(sr)
	}}
	startListener(t, l, a)
	c := dial(t, n, l.Addr(), transports.DialOptions{})
	waitFor(t, "accept", func() bool { n, _ := a.count(); return n == 1 })
	c.Close() // never started: closes at once
	if err := sr.waitClosed(t); !errors.Is(err, transports.ErrPeerClosed) {
		t.Errorf("OnClosed(%v), want ErrPeerClosed", err)
	}
}

// A close that follows unread data is reported after that data, once
// reading resumes.
func dataBeforeCloseWaitsForResume(t *testing.T, newNet func() transports.Network) {
	sr := &rec{t: t}
	c, _, server := serverPair(t, newNet(), transports.StreamOptions{}, sr, func(s transports.Stream) { s.SetReading(false) })
	s := server()
	c.Write([]byte("last words"))
	c.Close()
	time.Sleep(100 * time.Millisecond)
	if d, _, closed, _ := sr.snapshot(); len(d) != 0 || closed {
		t.Fatalf("suspended stream delivered %q, closed %v", d, closed)
	}
	s.SetReading(true)
	if err := sr.waitClosed(t); !errors.Is(err, transports.ErrPeerClosed) {
		t.Errorf("OnClosed(%v), want ErrPeerClosed", err)
	}
	if d, _, _, _ := sr.snapshot(); string(d) != "last words" {
		t.Errorf("read %q before the close", d)
	}
}

func writesBeforeStartAreSent(t *testing.T, newNet func() transports.Network) {
	n := newNet()
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	a := &acceptor{onAccept: func(s transports.Stream) {
		s.Write([]byte("greeting"))
		s.Start(&rec{t: t})
	}}
	startListener(t, l, a)
	c := dial(t, n, l.Addr(), transports.DialOptions{})
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	waitFor(t, "greeting", func() bool { d, _, _, _ := cr.snapshot(); return string(d) == "greeting" })
}

func startTwiceAndAfterClose(t *testing.T, newNet func() transports.Network) {
	n := newNet()
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	startListener(t, l, &acceptor{})
	c := dial(t, n, l.Addr(), transports.DialOptions{})
	cr := &rec{t: t}
	startStream(t, c, cr, cr)
	if err := c.Start(&rec{t: t}); !errors.Is(err, transports.ErrStarted) {
		t.Errorf("second Start: %v, want ErrStarted", err)
	}
	d := dial(t, n, l.Addr(), transports.DialOptions{})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Start(&rec{t: t}); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("Start after Close: %v, want ErrClosed", err)
	}
	if err := d.Close(); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

// Close sends what is queued first, even megabytes the peer reads slowly.
func closeFlushesQueuedWrites(t *testing.T, newNet func() transports.Network) {
	sopts := transports.StreamOptions{SendBuffer: 16 << 10, ReceiveBuffer: 16 << 10}
	sr := &rec{t: t}
	c, cr, server := serverPair(t, newNet(), sopts, sr, func(s transports.Stream) { s.SetReading(false) })
	const size = 4 << 20
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7)
	}
	c.Write(want)
	c.Close()
	time.Sleep(50 * time.Millisecond)
	server().SetReading(true)
	if err := cr.waitClosed(t); err != nil {
		t.Errorf("client OnClosed(%v), want nil", err)
	}
	if err := sr.waitClosed(t); !errors.Is(err, transports.ErrPeerClosed) {
		t.Errorf("server OnClosed(%v), want ErrPeerClosed", err)
	}
	if d, _, _, _ := sr.snapshot(); !bytes.Equal(d, want) {
		t.Errorf("server read %d bytes, want %d in order", len(d), size)
	}
	if _, w, _, _ := cr.snapshot(); w != size {
		t.Errorf("OnWritten total %d, want %d", w, size)
	}
}

func manyStreamsAtOnce(t *testing.T, newNet func() transports.Network) {
	n := newNet()
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	a := &acceptor{onAccept: func(s transports.Stream) { s.Start(&rec{t: t, echo: s}) }}
	startListener(t, l, a)
	const conns, msgs = 64, 50
	recs := make([]*rec, conns)
	var wg sync.WaitGroup
	for i := range conns {
		c := dial(t, n, l.Addr(), transports.DialOptions{})
		recs[i] = &rec{t: t}
		startStream(t, c, recs[i], recs[i])
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range msgs {
				c.Write([]byte{byte(i), byte(j)})
			}
		}()
	}
	wg.Wait()
	for i, r := range recs {
		waitFor(t, "echoes", func() bool { d, _, _, _ := r.snapshot(); return len(d) == 2*msgs })
		d, w, _, _ := r.snapshot()
		for j := range msgs {
			if d[2*j] != byte(i) || d[2*j+1] != byte(j) {
				t.Fatalf("stream %d: message %d is %v", i, j, d[2*j:2*j+2])
			}
		}
		if w != 2*msgs {
			waitFor(t, "OnWritten", func() bool { _, w, _, _ := r.snapshot(); return w == 2*msgs })
		}
	}
}

func dialFailures(t *testing.T, newNet func() transports.Network) {
	n := newNet()
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

func listenerPausesAccepting(t *testing.T, newNet func() transports.Network) {
	n := newNet()
	l := listenLoop(t, n, loopbacks[0].addr, transports.ListenOptions{})
	a := &acceptor{onAccept: func(s transports.Stream) { s.Close() }}
	l.SetAccepting(false)
	startListener(t, l, a)
	c := dial(t, n, l.Addr(), transports.DialOptions{}) // the kernel's backlog completes the handshake
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

func tlsStreamCarriesSNIAndALPN(t *testing.T, newNet func() transports.Network) {
	cert, pool := selfSigned(t, "agent.example")
	srv := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"microstack/1"}}
	cli := &tls.Config{RootCAs: pool, ServerName: "agent.example", NextProtos: []string{"h2", "microstack/1"}}
	c, cr, _ := echoPair(t, newNet(), loopbacks[0].addr, transports.ListenOptions{TLS: srv}, transports.DialOptions{TLS: cli})
	st := c.TLS()
	if st == nil || !st.HandshakeComplete {
		t.Fatal("no TLS state on a TLS stream")
	}
	if st.NegotiatedProtocol != "microstack/1" {
		t.Errorf("ALPN %q", st.NegotiatedProtocol)
	}
	c.Write([]byte("over tls"))
	waitFor(t, "echo", func() bool { d, _, _, _ := cr.snapshot(); return string(d) == "over tls" })
}

func tlsVerificationFailures(t *testing.T, newNet func() transports.Network) {
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
			n := newNet()
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
