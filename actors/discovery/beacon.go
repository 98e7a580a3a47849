package discovery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unicode/utf8"
)

// The beacon's wire format, version 1, big-endian:
//
//	0   4  magic "MSDB"
//	4   1  version (1)
//	5   1  flags: bit 0 set when an HMAC-SHA256 trailer follows
//	6   4  the sender's beacon period in milliseconds
//	10  8  the sender's clock in milliseconds since the Unix epoch; strictly
//	       increasing from one beacon to the next
//	18  8  a random nonce
//	26  1  id length (1..64), then the id (UTF-8)
//	    1  name length (0..64), then the name (UTF-8)
//	    1  service count (0..16), then per service: family (4 or 6), the
//	       address (4 or 16 bytes), the port (2 bytes)
//	   32  HMAC-SHA256 over every byte before it, keyed with the shared key
//	       (only with flag bit 0)
//
// Nothing may follow: a beacon whose length does not match what its fields
// say is malformed, so every accepted beacon has exactly one encoding.
const (
	magic       = "MSDB"
	version     = 1
	flagMAC     = 1
	headerLen   = 26
	macLen      = sha256.Size
	maxIDLen    = 64
	maxNameLen  = 64
	maxServices = 16
	// maxBeaconLen is the longest valid beacon.
	maxBeaconLen = headerLen + 1 + maxIDLen + 1 + maxNameLen + 1 + maxServices*(1+16+2) + macLen
)

// Reasons a beacon is refused; the actor counts each.
var (
	errMalformed       = errors.New("malformed beacon")
	errVersion         = errors.New("unknown beacon version")
	errUnauthenticated = errors.New("beacon without the expected authentication")
	errBadMAC          = errors.New("beacon authentication failed")
)

// beacon is one announcement.
type beacon struct {
	Period   uint32 // milliseconds
	Time     uint64 // milliseconds since the Unix epoch
	Nonce    [8]byte
	ID       string
	Name     string
	Services []netip.AddrPort
}

// encodeBeacon returns b's wire form, authenticated when key is not empty.
func encodeBeacon(b beacon, key []byte) ([]byte, error) {
	switch {
	case len(b.ID) == 0 || len(b.ID) > maxIDLen || !utf8.ValidString(b.ID):
		return nil, fmt.Errorf("beacon id %q: %w", b.ID, errMalformed)
	case len(b.Name) > maxNameLen || !utf8.ValidString(b.Name):
		return nil, fmt.Errorf("beacon name %q: %w", b.Name, errMalformed)
	case len(b.Services) > maxServices:
		return nil, fmt.Errorf("%d services: %w", len(b.Services), errMalformed)
	}
	out := make([]byte, 0, maxBeaconLen)
	out = append(out, magic...)
	flags := byte(0)
	if len(key) > 0 {
		flags |= flagMAC
	}
	out = append(out, version, flags)
	out = binary.BigEndian.AppendUint32(out, b.Period)
	out = binary.BigEndian.AppendUint64(out, b.Time)
	out = append(out, b.Nonce[:]...)
	out = append(out, byte(len(b.ID)))
	out = append(out, b.ID...)
	out = append(out, byte(len(b.Name)))
	out = append(out, b.Name...)
	out = append(out, byte(len(b.Services)))
	for _, s := range b.Services {
		a := s.Addr()
		switch {
		case !s.IsValid():
			return nil, fmt.Errorf("service %v: %w", s, errMalformed)
		case a.Is4():
			a4 := a.As4()
			out = append(out, 4)
			out = append(out, a4[:]...)
		default:
			a16 := a.As16()
			out = append(out, 6)
			out = append(out, a16[:]...)
		}
		out = binary.BigEndian.AppendUint16(out, s.Port())
	}
	if len(key) > 0 {
		out = mac(key, out).Sum(out)
	}
	return out, nil
}

func mac(key, data []byte) interface{ Sum([]byte) []byte } {
	h := hmac.New(sha256.New, key)
	h.Write(data)
	return h
}

// decodeBeacon parses and checks a beacon. With a key, only a beacon
// authenticated with that key is accepted; without, only an
// unauthenticated one.
func decodeBeacon(data, key []byte) (beacon, error) {
	var b beacon
	if len(data) < headerLen+3 || len(data) > maxBeaconLen || string(data[:4]) != magic {
		return b, errMalformed
	}
	if data[4] != version {
		return b, errVersion
	}
	flags := data[5]
	if flags&^flagMAC != 0 {
		return b, errMalformed
	}
	body := data
	if flags&flagMAC != 0 {
		if len(data) < headerLen+3+macLen {
			return b, errMalformed
		}
		body = data[:len(data)-macLen]
	}
	b.Period = binary.BigEndian.Uint32(body[6:])
	b.Time = binary.BigEndian.Uint64(body[10:])
	copy(b.Nonce[:], body[18:26])
	r := reader{buf: body[headerLen:]}
	id := r.bytes(maxIDLen)
	name := r.bytes(maxNameLen)
	n := r.byte()
	if r.bad || len(id) == 0 || n > maxServices || !utf8.Valid(id) || !utf8.Valid(name) {
		return beacon{}, errMalformed
	}
	for range n {
		var a netip.Addr
		switch r.byte() {
		case 4:
			a = netip.AddrFrom4([4]byte(r.take(4)))
		case 6:
			a = netip.AddrFrom16([16]byte(r.take(16)))
		default:
			return beacon{}, errMalformed
		}
		port := r.take(2)
		if r.bad {
			return beacon{}, errMalformed
		}
		b.Services = append(b.Services, netip.AddrPortFrom(a, binary.BigEndian.Uint16(port)))
	}
	if r.bad || len(r.buf) != 0 {
		return beacon{}, errMalformed
	}
	b.ID, b.Name = string(id), string(name)
	// Authentication is checked last, on a well-formed beacon, so that the
	// counters tell garbage from a stranger's beacons.
	switch {
	case len(key) == 0 && flags&flagMAC != 0, len(key) > 0 && flags&flagMAC == 0:
		return beacon{}, errUnauthenticated
	case len(key) > 0 && !hmac.Equal(mac(key, body).Sum(nil), data[len(body):]):
		return beacon{}, errBadMAC
	}
	return b, nil
}

// reader takes bytes from a buffer; a read past its end sets bad and
// returns zeros, so that a decoder checks once at the end.
type reader struct {
	buf []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if len(r.buf) < n {
		r.bad = true
		r.buf = nil
		return make([]byte, n)
	}
	out := r.buf[:n]
	r.buf = r.buf[n:]
	return out
}

func (r *reader) byte() byte { return r.take(1)[0] }

// bytes reads a length byte and that many bytes, at most max.
func (r *reader) bytes(max int) []byte {
	n := int(r.byte())
	if n > max {
		r.bad = true
		return nil
	}
	return r.take(n)
}
