package http

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

// checked is what a framing check concluded from one connection's bytes.
type checked struct {
	parsed int
	bad    map[int]error
}

// runFraming feeds data to a framing check in the pieces cut at splits:
// on the reading goroutine as the server runs it, or, piped, on the check's
// goroutine from the first byte (as it runs after a chunked body).
func runFraming(data []byte, splits []int, piped bool) checked {
	f := newFraming(1 << 10)
	if piped {
		f.pipe(nil, nil) // no body to skip: straight to the next head
	}
	prev := 0
	for _, at := range append(splits, len(data)) {
		at = min(max(at, prev), len(data))
		piece := append([]byte(nil), data[prev:at]...)
		f.feed(piece)
		clear(piece) // feed must not keep what it was given
		prev = at
	}
	if f.pw != nil {
		_ = f.pw.Close() // the check reads to the end, then ends
		<-f.done
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return checked{parsed: f.parsed, bad: maps.Clone(f.bad)}
}

func (c checked) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d checked", c.parsed)
	for k := 1; k <= c.parsed; k++ {
		if err := c.bad[k]; err != nil {
			fmt.Fprintf(&b, ", #%d: %v", k, err)
		}
	}
	return b.String()
}

func sameChecked(a, b checked) bool {
	if a.parsed != b.parsed || len(a.bad) != len(b.bad) {
		return false
	}
	for k, err := range a.bad {
		if !errors.Is(b.bad[k], err) {
			return false
		}
	}
	return true
}

// cuts returns the ways a connection's bytes are split into reads: whole,
// byte by byte, and a few random cuttings.
func cuts(n int, seed uint64) [][]int {
	out := [][]int{nil}
	one := make([]int, 0, n)
	for i := 1; i < n; i++ {
		one = append(one, i)
	}
	out = append(out, one)
	r := rand.New(rand.NewPCG(seed, 7))
	for range 4 {
		var s []int
		for at := 0; at < n; {
			at += 1 + r.IntN(40)
			s = append(s, at)
		}
		out = append(out, s)
	}
	return out
}

// The check reaches the same verdicts however the bytes are cut into reads
// and whether it runs in the reads or on its goroutine, and the verdicts
// are the expected ones: each request's own, the requests after a refused
// one unchecked (net/http closes the connection there).
func TestFramingCheckVerdicts(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 5000) + "\r\n"
	cases := []struct {
		name string
		raw  string
		want checked
	}{
		{"gets", "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2}},
		{"content-length bodies", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 3}},
		{"a body that looks like a head", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nA:\nB\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2}},
		{"chunked, then more", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxyGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 3}},
		{"smuggling after a chunked body", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2, bad: map[int]error{2: ErrAmbiguousFraming}}},
		{"both framings", "GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", checked{parsed: 2, bad: map[int]error{2: ErrAmbiguousFraming}}},
		{"repeated content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na", checked{parsed: 1, bad: map[int]error{1: ErrAmbiguousFraming}}},
		{"bare LF", "GET / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", checked{parsed: 1, bad: map[int]error{1: ErrBareLF}}},
		{"bare LF ending the head", "GET / HTTP/1.1\r\nHost: x\r\n\n", checked{parsed: 1, bad: map[int]error{1: ErrBareLF}}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", checked{parsed: 1, bad: map[int]error{1: ErrObsFold}}},
		{"empty lines before a request", "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2}},
		{"a line longer than a read buffer", "GET / HTTP/1.1\r\nHost: x\r\n" + long + "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2}},
		{"a head past the limit", "GET / HTTP/1.1\r\nHost: x\r\n" + long + long + "\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 0}},
		{"a head that never ends", "GET / HTTP/1.1\r\nHost: x\r\nX: y\r\n", checked{parsed: 0}},
		{"unparsable content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 1}},
		{"transfer coding not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 1}},
		// A head without framing fields is not parsed (net/http refuses
		// a malformed one and closes); one with them must parse.
		{"malformed field", "GET / HTTP/1.1\r\nHost: x\r\nNo colon\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2}},
		{"malformed field beside a framing field", "POST / HTTP/1.1\r\nHost: x\r\nNo colon\r\nContent-Length: 1\r\n\r\naGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 0}},
		{"framing fields in any case", "POST / HTTP/1.1\r\nHost: x\r\ncONTENT-lENGTH: 1\r\nTRANSFER-ENCODING: chunked\r\n\r\n0\r\n\r\n", checked{parsed: 1, bad: map[int]error{1: ErrAmbiguousFraming}}},
		{"a content-length in any case", "POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nGETGET / HTTP/1.1\r\nHost: x\r\n\r\n", checked{parsed: 2}},
	}
	for i, tc := range cases {
		for _, piped := range []bool{false, true} {
			for j, splits := range cuts(len(tc.raw), uint64(i)) {
				got := runFraming([]byte(tc.raw), splits, piped)
				if !sameChecked(got, tc.want) {
					t.Errorf("%s (piped %v, cutting %d): %v, want %v", tc.name, piped, j, got, tc.want)
				}
			}
		}
	}
}

// Only a chunked body moves the check to a goroutine.
func TestFramingCheckRunsInTheReadsUntilAChunkedBody(t *testing.T) {
	f := newFraming(1 << 10)
	defer f.stop()
	f.feed([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHo"))
	f.feed([]byte("st: x\r\n\r\n"))
	if f.pw != nil || f.verdict(2) != nil {
		t.Fatalf("piped %v after two requests without chunked bodies, verdict %v", f.pw != nil, f.verdict(2))
	}
	f.feed([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	if f.pw == nil {
		t.Fatal("a chunked body did not move the check to its goroutine")
	}
	if err := f.verdict(4); err != nil {
		t.Fatalf("the request after the chunked body: %v", err)
	}
}

// The check in the reads and the check on its goroutine agree on any
// bytes, however they are cut into reads.
func FuzzFramingCheck(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), uint64(1))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxyGET / HTTP/1.1\r\nHost: x\r\n\r\n"), uint64(2))
	f.Add([]byte("\r\nPOST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\nA: b\n\r\n"), uint64(3))
	f.Add([]byte("GET / HTTP/1.1\r\nX: a\r\n b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"), uint64(4))
	f.Fuzz(func(t *testing.T, raw []byte, seed uint64) {
		if len(raw) > 16<<10 {
			return
		}
		r := rand.New(rand.NewPCG(seed, 1))
		var splits []int
		for at := 0; at < len(raw); {
			at += 1 + r.IntN(64)
			splits = append(splits, at)
		}
		inReads := runFraming(raw, splits, false)
		piped := runFraming(raw, nil, true)
		if !sameChecked(inReads, piped) {
			t.Fatalf("in the reads: %v; on its goroutine: %v", inReads, piped)
		}
	})
}
