// Package stunmsg holds the messages of the STUN actors (actors/stun),
// microstack's counterpart of MicroStack's ILibStunClient: a client that asks
// a STUN server (RFC 5389) for this host's address as the server sees it, and
// a small binding server that answers such requests on a LAN and in tests.
//
// Every command is answered exactly once, to its sender: with the reply named
// beside it, or with a *messages.CommandFailed whose Err wraps one of the
// errors below, messages.ErrTimeout, messages.ErrBadCommand or
// messages.ErrClosed.
package stunmsg

import (
	"errors"
	"net/netip"
	"time"
)

// Errors a caller can test for with errors.Is on CommandFailed.Err.
var (
	// ErrBadServer answers a Bind whose Server is not a usable STUN URI or
	// address ("stun:host:port", "host:port"), or whose host did not
	// resolve to an address of the client socket's family.
	ErrBadServer = errors.New("stun: bad server address")
	// ErrErrorResponse answers a Bind that the server answered with an
	// error response; the wrapping error carries the code and reason.
	ErrErrorResponse = errors.New("stun: error response")
	// ErrNoAddress answers a Bind whose success response carried neither
	// XOR-MAPPED-ADDRESS nor MAPPED-ADDRESS.
	ErrNoAddress = errors.New("stun: response without a mapped address")
)

// Bind asks the client actor for the address a STUN server sees this host's
// socket as: a binding request, retransmitted as RFC 5389 section 7.2.1 says
// until a response arrives or the transaction times out. Answered with
// MappedAddress, or CommandFailed with messages.ErrTimeout,
// ErrErrorResponse, ErrBadServer or ErrNoAddress.
type Bind struct {
	// Server is the STUN server: a URI "stun:host:port" (the port defaults
	// to 3478) or a plain "host:port". A host name is resolved first.
	Server string
}

// MappedAddress answers Bind.
type MappedAddress struct {
	// Server is the address the request was sent to.
	Server netip.AddrPort
	// Addr is this host's address and port as the server saw them
	// (XOR-MAPPED-ADDRESS, or MAPPED-ADDRESS from an RFC 3489 server).
	Addr netip.AddrPort
	// Local is the client socket's own address.
	Local netip.AddrPort
	// RTT is the time from the request that was answered to the answer.
	RTT time.Duration
	// Attempts is how many requests were sent, retransmissions included.
	Attempts int
}

// GetLocalAddress asks a client or server actor for the address its socket
// is bound to (with the actual port when port 0 was asked). Answered with
// LocalAddress, or CommandFailed with messages.ErrClosed while the socket is
// not open.
type GetLocalAddress struct{}

// LocalAddress answers GetLocalAddress.
type LocalAddress struct {
	Addr netip.AddrPort
}
