package tcp_test

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/transports"
)

// testProxy is an HTTP CONNECT or SOCKS5 proxy on loopback that the test
// runs; it maps the names it is asked for with names, and records the
// targets asked.
type testProxy struct {
	ln    net.Listener
	names map[string]string // "name:port" -> "127.0.0.1:port"
	user  string            // required credentials, when set
	pass  string

	mu      sync.Mutex
	targets []string
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newTestProxy(t *testing.T, socks bool, names map[string]string, user, pass string) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{ln: ln, names: names, user: user, pass: pass}
	if socks {
		p.wg.Add(1)
		go p.serveSOCKS()
	} else {
		srv := &http.Server{Handler: http.HandlerFunc(p.connect)}
		p.wg.Add(1)
		go func() { defer p.wg.Done(); _ = srv.Serve(ln) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *testProxy) url(scheme string) string {
	u := scheme + "://"
	if p.user != "" {
		u += p.user + ":" + p.pass + "@"
	}
	return u + p.ln.Addr().String()
}

func (p *testProxy) asked() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.targets...)
}

func (p *testProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns = append(p.conns, c)
	p.mu.Unlock()
}

func (p *testProxy) dialTarget(target string) (net.Conn, error) {
	p.mu.Lock()
	p.targets = append(p.targets, target)
	p.mu.Unlock()
	if a, ok := p.names[target]; ok {
		target = a
	}
	c, err := net.Dial("tcp", target)
	if err == nil {
		p.track(c)
	}
	return c, err
}

// pipe copies both ways until either side ends.
func (p *testProxy) pipe(a, b net.Conn) {
	p.wg.Add(2)
	go func() { defer p.wg.Done(); _, _ = io.Copy(a, b); _ = a.Close() }()
	go func() { defer p.wg.Done(); _, _ = io.Copy(b, a); _ = b.Close() }()
}

func (p *testProxy) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	if p.user != "" {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte(p.user+":"+p.pass))
		if r.Header.Get("Proxy-Authorization") != want {
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			http.Error(w, "who are you", http.StatusProxyAuthRequired)
			return
		}
	}
	target, err := p.dialTarget(r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	// Hijack first and answer on the raw conn: the client sends nothing
	// before the answer, so no tunnel byte can sit in net/http's buffer.
	c, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = target.Close()
		return
	}
	p.track(c)
	if rw.Reader.Buffered() > 0 {
		_ = c.Close()
		_ = target.Close()
		return
	}
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = c.Close()
		_ = target.Close()
		return
	}
	p.pipe(c, target)
}

func (p *testProxy) serveSOCKS() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.socks(c) }()
	}
}

// socks serves one SOCKS5 CONNECT (RFC 1928, user/password of RFC 1929).
func (p *testProxy) socks(c net.Conn) {
	r := bufio.NewReader(c)
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(r, hdr); err != nil || hdr[0] != 5 {
		_ = c.Close()
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(r, methods); err != nil {
		_ = c.Close()
		return
	}
	if p.user != "" {
		_, _ = c.Write([]byte{5, 2})
		var b [2]byte
		_, _ = io.ReadFull(r, b[:2])
		user := make([]byte, b[1])
		_, _ = io.ReadFull(r, user)
		_, _ = io.ReadFull(r, b[:1])
		pass := make([]byte, b[0])
		_, _ = io.ReadFull(r, pass)
		if string(user) != p.user || string(pass) != p.pass {
			_, _ = c.Write([]byte{1, 1})
			_ = c.Close()
			return
		}
		_, _ = c.Write([]byte{1, 0})
	} else {
		_, _ = c.Write([]byte{5, 0})
	}
	req := make([]byte, 4)
	if _, err := io.ReadFull(r, req); err != nil {
		_ = c.Close()
		return
	}
	var host string
	switch req[3] {
	case 1, 4:
		ip := make([]byte, map[byte]int{1: 4, 4: 16}[req[3]])
		_, _ = io.ReadFull(r, ip)
		a, _ := netip.AddrFromSlice(ip)
		host = a.String()
	case 3:
		n, _ := r.ReadByte()
		name := make([]byte, n)
		_, _ = io.ReadFull(r, name)
		host = string(name)
	}
	var port [2]byte
	_, _ = io.ReadFull(r, port[:])
	target, err := p.dialTarget(net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))))
	if err != nil {
		_, _ = c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
		_ = c.Close()
		return
	}
	_, _ = c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	p.pipe(c, target)
}

func TestConnectThroughAnHTTPProxyWithCredentials(t *testing.T) {
	e := newEnv(t, nil)
	addr := e.echo(netip.AddrPortFrom(lo4, 0))
	name := "echo.test:" + itoa(addr.Port())
	px := newTestProxy(t, false, map[string]string{name: addr.String()}, "agent", "s3cret")
	conn, p, c := e.dial("c", tcp.Options{Proxy: px.url("http")}, &tcpmsg.Connect{Host: name})
	if c.Proxy == nil || c.Proxy.Source != "Options" || strings.Contains(c.Proxy.URL, "s3cret") || !strings.Contains(c.Proxy.URL, px.ln.Addr().String()) {
		t.Fatalf("route %+v", c.Proxy)
	}
	if c.Remote.String() != px.ln.Addr().String() {
		t.Fatalf("remote %v, want the proxy", c.Remote)
	}
	echoRoundTrip(t, p, conn, []byte("through the proxy"))
	if got := px.asked(); len(got) != 1 || got[0] != name {
		t.Fatalf("proxy asked for %q: the name must reach the proxy unresolved", got)
	}

	// Wrong credentials: a clear failure naming the proxy and the status.
	_, p2 := e.dialAsync("", tcp.Options{}, &tcpmsg.Connect{Host: name,
		Options: tcpmsg.ConnectOptions{Proxy: "http://agent:wrong@" + px.ln.Addr().String()}})
	f := expectFailed(t, p2, tcpmsg.ErrProxy)
	for _, want := range []string{"407", px.ln.Addr().String(), "from Connect"} {
		if !strings.Contains(f.Err.Error(), want) {
			t.Fatalf("error %q does not say %q", f.Err, want)
		}
	}
	if strings.Contains(f.Err.Error(), "wrong") {
		t.Fatalf("error %q shows the password", f.Err)
	}
}

func TestTLSThroughAProxyIsVerifiedEndToEnd(t *testing.T) {
	e := newEnv(t, nil)
	addr, cert := tlsEcho(t, e, nil)
	name := "localhost:" + itoa(addr.Port())
	px := newTestProxy(t, false, nil, "", "")
	conn, p, c := e.dial("c", tcp.Options{Proxy: px.url("http")}, &tcpmsg.Connect{Host: name,
		Options: tcpmsg.ConnectOptions{TLS: &tcpmsg.TLSOptions{Pins: [][]byte{certsSHA(cert)}}}})
	if c.TLS == nil {
		t.Fatal("no TLS state")
	}
	echoRoundTrip(t, p, conn, []byte("tls in a tunnel"))
	p.Send(conn, &tcpmsg.Close{})
	expectClosed(t, p, messages.ClosedByUs)
}

func TestConnectThroughASOCKS5Proxy(t *testing.T) {
	e := newEnv(t, nil)
	addr := e.echo(netip.AddrPortFrom(lo4, 0))
	name := "echo.test:" + itoa(addr.Port())
	px := newTestProxy(t, true, map[string]string{name: addr.String()}, "agent", "pw")
	conn, p, c := e.dial("c", tcp.Options{}, &tcpmsg.Connect{Host: name, Options: tcpmsg.ConnectOptions{Proxy: px.url("socks5")}})
	if c.Proxy == nil || !strings.HasPrefix(c.Proxy.URL, "socks5://agent:") {
		t.Fatalf("route %+v", c.Proxy)
	}
	echoRoundTrip(t, p, conn, []byte("socks"))
	// A target the proxy cannot reach.
	_, p2 := e.dialAsync("", tcp.Options{}, &tcpmsg.Connect{Host: "127.0.0.1:1", Options: tcpmsg.ConnectOptions{Proxy: px.url("socks5")}})
	expectFailed(t, p2, tcpmsg.ErrProxy)
}

func TestProxyFromTheEnvironmentHonoursNoProxy(t *testing.T) {
	e := newEnv(t, nil)
	addr := e.echo(netip.AddrPortFrom(lo4, 0))
	port := itoa(addr.Port())
	px := newTestProxy(t, false, map[string]string{"far.test:" + port: addr.String()}, "", "")
	opts := tcp.Options{
		ProxyFromEnvironment: true,
		ProxyEnvironment: func() *httpproxy.Config {
			return &httpproxy.Config{HTTPSProxy: px.url("http"), NoProxy: "near.test"}
		},
		Resolver: staticResolver{"near.test": {lo4}},
	}
	conn, p, c := e.dial("far", opts, &tcpmsg.Connect{Host: "far.test:" + port})
	if c.Proxy == nil || c.Proxy.Source != "environment" || c.Proxy.Bypassed {
		t.Fatalf("route %+v", c.Proxy)
	}
	echoRoundTrip(t, p, conn, []byte("far"))
	conn2, p2, c2 := e.dial("near", opts, &tcpmsg.Connect{Host: "near.test:" + port})
	if c2.Proxy == nil || !c2.Proxy.Bypassed || c2.Remote != addr {
		t.Fatalf("route %+v to %v", c2.Proxy, c2.Remote)
	}
	echoRoundTrip(t, p2, conn2, []byte("near"))
	if got := px.asked(); len(got) != 1 {
		t.Fatalf("proxy asked for %q", got)
	}
}

func TestUnreachableProxyFailsNamingIt(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	_, p := e.dialAsync("", tcp.Options{Proxy: "http://" + dead}, &tcpmsg.Connect{Host: "x.test:80"})
	f := expectFailed(t, p, tcpmsg.ErrProxy, transports.ErrRefused)
	if !strings.Contains(f.Err.Error(), dead) || !strings.Contains(f.Err.Error(), "from Options") {
		t.Fatalf("error %q", f.Err)
	}
	if errors.Is(f.Err, transports.ErrTLS) {
		t.Fatal("not a TLS error")
	}
}

// A proxy that accepts and never answers: the connect timeout covers the
// exchange with the proxy too, and the error says so and names the proxy.
func TestConnectTimeoutCoversASilentProxy(t *testing.T) {
	e := newEnv(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			held <- c
		}
		close(held)
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for c := range held {
			_ = c.Close()
		}
	})
	_, p := e.dialAsync("", tcp.Options{Proxy: "http://" + ln.Addr().String()}, &tcpmsg.Connect{Host: "x.test:443",
		Options: tcpmsg.ConnectOptions{Timeout: 200 * time.Millisecond}})
	f := expectFailed(t, p, transports.ErrTimeout, tcpmsg.ErrProxy)
	if !strings.Contains(f.Err.Error(), ln.Addr().String()) {
		t.Fatalf("error %q does not name the proxy", f.Err)
	}
}
