package http

import (
	"net/url"
	"reflect"
	"testing"
)

// parseTarget answers as url.ParseRequestURI does, plain path or not.
func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"/", "/hello/world", "//x", "/a/../b", "/~u/./x-y_z", "/a%20b", "/a?b=c", "/a#f", "*",
		"", "x", "/é", "/a b", "/%zz", "/a;b", "/A/B/0.9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, gerr := parseTarget(new(url.URL), s)
		want, werr := url.ParseRequestURI(s)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("%q: error %v, url.ParseRequestURI's %v", s, gerr, werr)
		}
		if werr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: %#v, url.ParseRequestURI's %#v", s, got, want)
		}
	})
}

// Request numbers never wrap to 0, the RequestId of a PID that names no
// request (one a handler built from the address and name alone).
func TestRequestNumbersSkipZero(t *testing.T) {
	for _, c := range []struct{ n, next uint32 }{{0, 1}, {1, 2}, {1<<32 - 2, 1<<32 - 1}, {1<<32 - 1, 1}} {
		if got := nextRequest(c.n); got != c.next {
			t.Fatalf("nextRequest(%d) = %d, want %d", c.n, got, c.next)
		}
	}
}
