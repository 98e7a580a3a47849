package discovery

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var sample = beacon{
	Period:   5000,
	Time:     1767225600000,
	Nonce:    [8]byte{1, 2, 3, 4, 5, 6, 7, 8},
	ID:       "agent-1",
	Name:     "kitchen",
	Services: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:443"), netip.MustParseAddrPort("[fd00::1]:8080"), netip.MustParseAddrPort("0.0.0.0:80")},
}

func TestBeaconRoundTrips(t *testing.T) {
	for _, key := range [][]byte{nil, []byte("shared secret")} {
		data, err := encodeBeacon(sample, key)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeBeacon(data, key)
		if err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
		if got.ID != sample.ID || got.Name != sample.Name || got.Time != sample.Time || got.Period != sample.Period ||
			got.Nonce != sample.Nonce || len(got.Services) != 3 || got.Services[1] != sample.Services[1] {
			t.Fatalf("decoded %+v, want %+v", got, sample)
		}
	}
}

func TestBeaconAuthentication(t *testing.T) {
	key := []byte("shared secret")
	signed, _ := encodeBeacon(sample, key)
	plain, _ := encodeBeacon(sample, nil)
	tampered := bytes.Clone(signed)
	tampered[30] ^= 1 // in the id
	for _, c := range []struct {
		name string
		data []byte
		key  []byte
		want error
	}{
		{"wrong key", signed, []byte("other secret"), errBadMAC},
		{"tampered", tampered, key, errBadMAC},
		{"unsigned where a key is expected", plain, key, errUnauthenticated},
		{"signed where none is expected", signed, nil, errUnauthenticated},
	} {
		if _, err := decodeBeacon(c.data, c.key); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

func TestMalformedBeaconsAreRefused(t *testing.T) {
	good, _ := encodeBeacon(sample, nil)
	set := func(i int, v byte) []byte { b := bytes.Clone(good); b[i] = v; return b }
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, errMalformed},
		{"garbage", []byte("M-SEARCH * HTTP/1.1\r\n"), errMalformed},
		{"cut", good[:len(good)-1], errMalformed},
		{"trailing byte", append(bytes.Clone(good), 0), errMalformed},
		{"version 2", set(4, 2), errVersion},
		{"unknown flag", set(5, 2), errMalformed},
		{"empty id", set(26, 0), errMalformed},
		{"id too long", set(26, 65), errMalformed},
		{"too long", make([]byte, maxBeaconLen+1), errMalformed},
	} {
		if _, err := decodeBeacon(c.data, nil); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	for _, b := range []beacon{
		{ID: ""},
		{ID: strings.Repeat("x", 65)},
		{ID: "a", Name: string([]byte{0xff})},
		{ID: "a", Services: make([]netip.AddrPort, 17)},
		{ID: "a", Services: []netip.AddrPort{{}}},
	} {
		if _, err := encodeBeacon(b, nil); !errors.Is(err, errMalformed) {
			t.Errorf("encode %+v: %v", b, err)
		}
	}
}

// fuzzKey is the key the fuzz target checks authenticated beacons with.
var fuzzKey = []byte("fuzz key")

// FuzzDecodeBeacon checks that no input crashes the decoder and that every
// beacon it accepts has exactly one encoding: the input itself.
func FuzzDecodeBeacon(f *testing.F) {
	for _, key := range [][]byte{nil, fuzzKey} {
		data, _ := encodeBeacon(sample, key)
		f.Add(data, key != nil)
	}
	f.Add([]byte("MSDB"), false)
	f.Fuzz(func(t *testing.T, data []byte, keyed bool) {
		var key []byte
		if keyed {
			key = fuzzKey
		}
		b, err := decodeBeacon(data, key)
		if err != nil {
			return
		}
		again, err := encodeBeacon(b, key)
		if err != nil {
			t.Fatalf("accepted beacon %+v does not encode: %v", b, err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted %x, which encodes as %x", data, again)
		}
	})
}

// TestWriteFuzzCorpus regenerates the checked-in seed corpus when
// MICROSTACK_WRITE_CORPUS is set.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("MICROSTACK_WRITE_CORPUS") == "" {
		t.Skip("set MICROSTACK_WRITE_CORPUS=1 to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBeacon")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	plain, _ := encodeBeacon(sample, nil)
	signed, _ := encodeBeacon(sample, fuzzKey)
	short, _ := encodeBeacon(beacon{ID: "x"}, nil)
	for name, c := range map[string]struct {
		data  []byte
		keyed bool
	}{
		"plain":     {plain, false},
		"signed":    {signed, true},
		"minimal":   {short, false},
		"truncated": {signed[:40], true},
		"garbage":   {[]byte("NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n"), false},
	} {
		body := "go test fuzz v1\n[]byte(" + quote(c.data) + ")\nbool(" + map[bool]string{true: "true", false: "false"}[c.keyed] + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func quote(b []byte) string {
	var s strings.Builder
	s.WriteByte('"')
	for _, c := range b {
		s.WriteString(`\x`)
		s.WriteString(strings.ToLower(string("0123456789ABCDEF"[c>>4]) + string("0123456789ABCDEF"[c&15])))
	}
	s.WriteByte('"')
	return s.String()
}
