package transports

import (
	"errors"
	"fmt"
	"io"
)

// Errors that callers distinguish with errors.Is. Implementations wrap them
// with context (the address, the operation, the OS error).
var (
	// ErrClosed reports an operation on a socket, listener or watch that is
	// closing or closed (after Close, Abort, CloseWrite for writes, or after
	// OnClosed).
	ErrClosed = errors.New("transports: closed")
	// ErrStarted reports a second call to Start.
	ErrStarted = errors.New("transports: already started")
	// ErrRefused reports a connection attempt that the remote host refused:
	// nothing listens on that port.
	ErrRefused = errors.New("transports: connection refused")
	// ErrTimeout reports an operation that did not finish in time: a dial
	// whose context expired, or a connection the network stopped carrying.
	ErrTimeout = errors.New("transports: timed out")
	// ErrReset reports a stream the peer reset (TCP RST).
	ErrReset = errors.New("transports: connection reset by peer")
	// ErrAborted is OnClosed's argument after the owner's own Abort.
	ErrAborted = errors.New("transports: aborted")
	// ErrUnreachable reports a destination no route leads to.
	ErrUnreachable = errors.New("transports: destination unreachable")
	// ErrInvalidAddress reports an address that cannot be used for the
	// operation: invalid, port zero where a port is needed, the wrong address
	// family for the socket, or a multicast address where unicast is needed.
	ErrInvalidAddress = errors.New("transports: invalid address")
	// ErrAddrInUse reports a local address and port already bound.
	ErrAddrInUse = errors.New("transports: address already in use")
	// ErrAddrNotAvailable reports a local address that is not on this host.
	ErrAddrNotAvailable = errors.New("transports: address not available")
	// ErrNoInterface reports an interface name that does not exist, or an
	// interface that cannot carry the operation (down, no multicast).
	ErrNoInterface = errors.New("transports: no such interface")
	// ErrTooLarge reports a datagram larger than the socket can send.
	ErrTooLarge = errors.New("transports: datagram too large")
	// ErrTLS reports a failed TLS handshake; the wrapped error says why
	// (use errors.As with *tls.CertificateVerificationError,
	// x509.UnknownAuthorityError, x509.HostnameError and so on).
	ErrTLS = errors.New("transports: tls handshake failed")
)

// ErrPeerClosed is OnClosed's argument when the peer ended the stream in
// order (TCP FIN, TLS close_notify) and the handler did not ask to keep the
// stream open (see PeerClosedHandler). It matches io.EOF as well.
var ErrPeerClosed = fmt.Errorf("transports: closed by peer: %w", io.EOF)
