package http_test

import (
	"bufio"
	"fmt"
	"strings"
	"testing"
	"time"

	httpactor "github.com/microstack-go/microstack/actors/http"
)

// Each malformed request gets a 4xx or a closed connection, and the server
// keeps serving.
func TestMalformedRequestsAreRefusedAndServerKeepsServing(t *testing.T) {
	checkMalformed(t, httpactor.Options{}, nil)
}

const follow = "GET /after HTTP/1.1\r\nHost: x\r\n\r\n"

// malformedCases are requests a server must refuse, each followed by a
// valid one that must not be answered.
var malformedCases = []struct {
	name string
	raw  string
	// close: the connection must end after the answer (smuggling);
	// otherwise a 4xx or a close is enough.
	mustClose bool
}{
	{name: "bad request line", raw: "GET\r\nHost: x\r\n\r\n"},
	{name: "bad version", raw: "GET / HTTP/9.9\r\nHost: x\r\n\r\n"},
	{name: "header without colon", raw: "GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"},
	{name: "obs-fold", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n", mustClose: true},
	{name: "space before colon", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A : a\r\n\r\n"},
	{name: "space inside field name", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A B: a\r\n\r\n"},
	{name: "missing host", raw: "GET / HTTP/1.1\r\n\r\n"},
	{name: "duplicate content-length", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", mustClose: true},
	{name: "identical duplicate content-length", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", mustClose: true},
	{name: "negative content-length", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"},
	{name: "CL.TE smuggling", raw: "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG" + follow, mustClose: true},
	{name: "TE.CL smuggling", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n", mustClose: true},
	{name: "obfuscated TE", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\nabcd", mustClose: true},
	{name: "TE list", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
	{name: "TE with space inside name", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding x: chunked\r\nContent-Length: 4\r\n\r\nabcd", mustClose: true},
	{name: "TE with space before colon", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nabcd", mustClose: true},
	{name: "invalid chunk size", raw: "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
	{name: "oversized header", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\n\r\n"},
	{name: "NUL in header value", raw: "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"},
	{name: "NUL in request target", raw: "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"},
	{name: "bare LF", raw: "GET / HTTP/1.1\nHost: x\nX-A: a\n\n", mustClose: true},
	{name: "bare LF in one line", raw: "GET / HTTP/1.1\r\nHost: x\nX-A: a\r\n\r\n", mustClose: true},
	{name: "bare CR", raw: "GET / HTTP/1.1\r\nHost: x\rX-A: a\r\n\r\n"},
	{name: "invalid header name", raw: "GET / HTTP/1.1\r\nHost: x\r\nX(A): a\r\n\r\n"},
}

// checkMalformed sends each of malformedCases to a server with opts on a
// connection of its own, but those named in skip.
func checkMalformed(t *testing.T, opts httpactor.Options, skip map[string]string) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	opts.MaxHeaderBytes = 4096
	opts.Routes = []httpactor.Route{{Pattern: "/", Actor: echo}}
	_, addr := startServer(t, system, opts)
	for _, tc := range malformedCases {
		t.Run(tc.name, func(t *testing.T) {
			if why, ok := skip[tc.name]; ok {
				t.Skip(why)
			}
			conn := rawConn(t, addr)
			if _, err := conn.Write([]byte(tc.raw + follow)); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			br := bufio.NewReader(conn)
			resps, bodies, err := readResponses(br, 2)
			switch {
			case len(resps) == 0:
				if err == nil || isTimeout(err) {
					t.Fatalf("no answer and no close: %v", err)
				}
			case resps[0].StatusCode < 400 || resps[0].StatusCode >= 500:
				// net/http answers 501 to an unknown transfer coding and 505
				// to an unknown version: refusals too.
				if code := resps[0].StatusCode; code != 501 && code != 505 {
					t.Fatalf("answered %d %q", resps[0].StatusCode, bodies[0])
				}
			}
			if len(resps) > 1 {
				t.Fatalf("the connection went on after a malformed request: %d %q", resps[1].StatusCode, bodies[1])
			}
			if tc.mustClose && len(resps) == 1 && !closedAfter(br) {
				t.Fatal("connection left open")
			}
			// The server still serves.
			c := newClient(t)
			if code, body := get(t, c, fmt.Sprintf("http://%s/ok", addr)); code != 200 || body != "GET /ok " {
				t.Fatalf("server after %s: %d %q", tc.name, code, body)
			}
		})
	}
}
