package http_test

import (
	"bufio"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	httpactor "github.com/microstack-go/microstack/actors/http"
)

// fuzzFollow is the well-formed request sent on a fresh connection after
// each fuzzed one.
const fuzzFollow = "GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

// fuzzExchange writes raw to the server on a new loopback connection, ends
// the client's side of the stream when halfClose (so that a request cut
// short ends at once instead of at the read timeout), and reads what the
// server answers until it closes.
func fuzzExchange(t *testing.T, addr netip.AddrPort, raw []byte, halfClose bool) []*nethttp.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return nil // the server may close first on a bad prefix
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(c)
	var resps []*nethttp.Response
	for range 64 { // at most one answer per pipelined request; bounded
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("server neither answered nor closed within 5s after %.300q", raw)
			}
			break
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<20))
		resp.Body.Close()
		resps = append(resps, resp)
	}
	return resps
}

// FuzzServerRequest writes fuzzed bytes to the HTTP server actor over
// loopback: every answer is a success from the route, a 4xx refusal, or
// one of net/http's 501 (unknown transfer coding) and 505 (version), never
// another 5xx; the server closes or answers within its timeouts; and a
// well-formed request on a new connection is still served.
func FuzzServerRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	fuzzServer(f, httpactor.Options{})
}

// FuzzEventLoopRequest is FuzzServerRequest against the event-loop engine,
// with seeds for what its head scan refuses.
func FuzzEventLoopRequest(f *testing.F) {
	for _, s := range append(requestSeeds,
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nX-A B: c\nGET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-A\t: a\r\n\r\n",
	) {
		f.Add([]byte(s))
	}
	fuzzServer(f, httpactor.Options{Engine: httpactor.EngineEventLoop})
}

// requestSeeds are both request targets' seeds: well-formed requests,
// smuggling attempts, bad line ends, folding, pipelining, HTTP/1.0, an
// HTTP/2 preface, a long target, a TLS hello.
var requestSeeds = []string{
	"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
	"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
	"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
	"GET / HTTP/1.1\nHost: x\n\n",
	"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.0\r\n\r\n",
	"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
	"GET /" + strings.Repeat("a", 5000) + " HTTP/1.1\r\nHost: x\r\n\r\n",
	"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
}

// fuzzServer runs the fuzz target against a server with opts.
func fuzzServer(f *testing.F, opts httpactor.Options) {
	system, _ := newSystem(f)
	echo := echoActor(system)
	stopActor(f, system, echo)
	opts.MaxHeaderBytes = 4096
	opts.MaxBodyBytes = 64 << 10
	opts.ReadHeaderTimeout = 2 * time.Second
	opts.ReadTimeout = 3 * time.Second
	opts.Routes = []httpactor.Route{{Pattern: "/", Actor: echo}}
	_, addr := startServer(f, system, opts)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 16<<10 {
			return
		}
		for _, r := range fuzzExchange(t, addr, raw, true) {
			if c := r.StatusCode; c >= 500 && c != 501 && c != 505 {
				t.Fatalf("answered %d to %.300q", c, raw)
			}
		}
		after := fuzzExchange(t, addr, []byte(fuzzFollow), false)
		if len(after) != 1 || after[0].StatusCode != 200 {
			t.Fatalf("after %.300q a good request got %d answers", raw, len(after))
		}
	})
}
