// Package tcpmsg holds the messages of the TCP actors (actors/tcp),
// microstack's counterparts of MicroStack's ILibAsyncSocket (a connection)
// and ILibAsyncServerSocket (a listener). The protocol is Akka IO's TCP
// protocol with Erlang's {active, N} reading:
//
//   - Client: Connect → Connected, or messages.CommandFailed with the cause
//     (refused, timed out, name not found, TLS, proxy).
//   - Server: Bind → Bound (with the real port when 0 was asked), or
//     CommandFailed (address in use, permission); each accepted socket
//     becomes a connection actor whose handler gets Connected, or the
//     listener's handler gets Accepted and answers messages.Register.
//   - Reading: the handler gets Received; messages.SuspendReading and
//     messages.ResumeReading{Credits} control delivery (credits add up;
//     messages.Passive when they run out). Close events are delivered even
//     while reading is suspended.
//   - Writing: Write{Data, Ack} is queued in order; messages.WriteAck
//     follows once its bytes are handed to the kernel when Ack is set.
//     Past the connection's high-water mark a write is refused with
//     messages.WriteRefused, and so is every later write until the writer
//     sends messages.ResumeWriting, which is answered with
//     messages.WritingResumed once the queue has drained below the
//     low-water mark (Akka IO's NACK-with-suspend: a writer that pipelines
//     never sees a later write overtake a refused one).
//   - Closing: Close (flush, then close), Abort (reset now), CloseWrite
//     (half close); the last event is always messages.Closed with the
//     reason.
//
// Every event a connection actor sends is sent with the connection actor
// as its sender, so one handler can serve many connections.
//
// A failing command is answered, to its sender, with a
// *messages.CommandFailed whose Err wraps one of the errors below, a
// transports error (transports.ErrRefused, ErrTimeout, ErrTLS,
// ErrAddrInUse, ...), certs.ErrPinMismatch, or messages.ErrBadCommand,
// ErrNotConnected or ErrClosed, so that a caller can test it with
// errors.Is.
//
// Byte slices follow the ownership rule of package messages: the data of a
// Received belongs to the handler; the data of a Write belongs to the
// connection once sent.
package tcpmsg

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Errors a caller can test for with errors.Is on CommandFailed.Err or
// messages.Closed.Err.
var (
	// ErrAlreadyConnected answers a Connect sent to a connection actor
	// that is connecting or connected: one actor, one connection.
	ErrAlreadyConnected = errors.New("tcp: already connected")
	// ErrAlreadyBound answers a Bind sent to a listener that has a socket.
	ErrAlreadyBound = errors.New("tcp: already bound")
	// ErrNotBound answers Unbind sent to a listener without a socket.
	ErrNotBound = errors.New("tcp: not bound")
	// ErrResolve wraps a failed host name lookup, or a name with no
	// address.
	ErrResolve = errors.New("tcp: cannot resolve host")
	// ErrProxy wraps a failure at or through a proxy: the proxy refused the
	// tunnel (HTTP status, SOCKS reply), asked for credentials, or spoke
	// something else. The error text names the proxy and where its
	// configuration came from.
	ErrProxy = errors.New("tcp: proxy failed")
	// ErrIdleTimeout is the Err of a Closed caused by the idle timeout.
	ErrIdleTimeout = errors.New("tcp: idle timeout")
	// ErrRegisterTimeout is the Err of a Closed of an accepted connection
	// whose handler did not Register in time.
	ErrRegisterTimeout = errors.New("tcp: no handler registered in time")
	// ErrPermission wraps a bind refused by the system (a privileged port).
	ErrPermission = errors.New("tcp: permission denied")
)

// Connect asks a connection actor to connect. It is answered, to Handler
// (the sender when nil), with Connected or a messages.CommandFailed.
// Either Remote or Host is set.
type Connect struct {
	// Remote is the address to connect to.
	Remote netip.AddrPort
	// Host is a "name:port" to connect to instead of Remote. The name is
	// resolved with the actor's resolver, or by the proxy when one is used;
	// when it has IPv6 and IPv4 addresses both are tried, IPv6 first and
	// IPv4 a moment later (Happy Eyeballs, RFC 8305). It is also the TLS
	// server name unless TLS.ServerName is set.
	Host string
	// Handler receives the connection's events; nil means the sender.
	Handler *actor.PID
	// Options configures the connection.
	Options ConnectOptions
}

// ConnectOptions configures a client connection. The zero value is a
// plain TCP connection with a 20 s connect timeout, direct (no proxy
// unless the actor's options set one).
type ConnectOptions struct {
	// Local is the address to connect from; zero lets the system choose.
	Local netip.AddrPort
	// Timeout bounds the whole connect: name lookup, proxy, TCP and TLS
	// handshakes. Zero means 20 s (MeshAgent's own connect timer).
	Timeout time.Duration
	// TLS, when set, runs a TLS client handshake before Connected.
	TLS *TLSOptions
	// Proxy, when set, overrides the actor's proxy configuration for this
	// connection: a URL "http://user:pass@host:port" (HTTP CONNECT) or
	// "socks5://user:pass@host:port", or "direct" for none.
	Proxy string
	// Socket configures the socket.
	Socket SocketOptions
}

// TLSOptions configures the TLS client of a connection. Certificates are
// verified against Config.RootCAs (the system's roots when nil) and the
// server name unless Pins are set.
type TLSOptions struct {
	// Config is a base configuration, cloned; nil means TLS 1.2 or later
	// with the system's roots.
	Config *tls.Config
	// ServerName is the name sent as SNI and verified; default the name of
	// Connect.Host, or the address of Connect.Remote.
	ServerName string
	// ALPN lists the application protocols offered, in order of
	// preference.
	ALPN []string
	// Pins, when set, trusts the server when, and only when, its leaf
	// certificate's SHA-256 or SHA-384 fingerprint is one of them, whoever
	// signed it (MeshAgent pins its server's certificate hash). A mismatch
	// fails Connect with an error wrapping certs.ErrPinMismatch and
	// transports.ErrTLS.
	Pins [][]byte
}

// SocketOptions configures a connection's socket and its buffers. Zero
// fields take the defaults.
type SocketOptions struct {
	// HighWater is the most bytes queued for sending before a Write is
	// refused. Default 1 MiB.
	HighWater int
	// LowWater is the queue length below which writing resumes after a
	// refusal. Default HighWater/4.
	LowWater int
	// ReadSize is the most bytes one Received carries. Default the
	// transport's: 32 KiB, 64 KiB on transports/evloop.
	ReadSize int
	// SendBuffer and ReceiveBuffer set the kernel's socket buffers; zero
	// keeps the system's defaults.
	SendBuffer, ReceiveBuffer int
	// KeepAlive is the TCP keep-alive period; zero uses the system default
	// (15 s in Go), negative disables keep-alives.
	KeepAlive time.Duration
	// IdleTimeout, when positive, closes a connection that has read and
	// written nothing for that long, with Closed{ErrorClosed,
	// ErrIdleTimeout}.
	IdleTimeout time.Duration
	// KeepOpenOnPeerClosed keeps the connection open for writing after the
	// peer ends its side (half close): the handler gets PeerHalfClosed
	// instead of Closed, and closes when it is done. By default a peer's
	// close ends the connection once the queued writes are sent.
	KeepOpenOnPeerClosed bool
	// StartSuspended delivers nothing until the handler's first
	// messages.ResumeReading (Akka's pull mode).
	StartSuspended bool
}

// Connected tells a handler that its connection is open. Its sender is the
// connection actor, which Conn names too.
type Connected struct {
	Conn *actor.PID
	// Local and Remote are the endpoints of the TCP socket; through a
	// proxy, Remote is the proxy's address.
	Local, Remote netip.AddrPort
	// Host is the "name:port" asked for, empty when an address was.
	Host string
	// Proxy says how the connection was routed; nil when it went direct
	// and no proxy was configured.
	Proxy *ProxyRoute
	// TLS is the state of the TLS session (version, ALPN protocol, the
	// server's certificates); nil for plain TCP.
	TLS *tls.ConnectionState
}

// ProxyRoute describes the proxy decision for a connection, so that a
// misread proxy configuration is visible.
type ProxyRoute struct {
	// URL is the proxy used, without its password; empty when the
	// connection went direct.
	URL string
	// Source says where the configuration came from: "Connect", "Options"
	// or "environment".
	Source string
	// Bypassed is set when a configured proxy was not used because
	// NO_PROXY matched the target.
	Bypassed bool
}

// Received carries bytes read from the connection, in order. Data belongs
// to the handler.
type Received struct {
	Data []byte
}

// Write queues Data to be sent after the writes before it. With Ack set,
// the sender (the handler when the sender is nil) gets messages.WriteAck
// once the bytes are handed to the kernel. Past the high-water mark the
// write is refused with messages.WriteRefused; a failure (not connected,
// closing) is a messages.CommandFailed. Data belongs to the connection once
// sent.
type Write struct {
	Data []byte
	Ack  any
}

// Close sends what is queued, then closes the connection. The handler (and
// the sender) get messages.Closed{ClosedByUs} once the socket is closed.
type Close struct{}

// Abort resets the connection at once: queued writes are dropped and the
// peer sees a reset. The handler gets messages.Closed{Aborted}.
type Abort struct{}

// CloseWrite ends our side of the connection once the queued writes are
// sent (TCP FIN); reading goes on until the peer closes too, which ends
// the connection with messages.Closed{PeerClosed}.
type CloseWrite struct{}

// PeerHalfClosed tells a handler that asked KeepOpenOnPeerClosed that the
// peer ended its side: no more Received follows, writes still go, and the
// handler sends Close when it is done.
type PeerHalfClosed struct{}

// Reconnecting tells the handler of a kept-connected client that its
// connection was lost or could not be made, and that the next attempt
// starts after Delay. Attempt counts the attempts since the last
// successful connect, from 1.
type Reconnecting struct {
	Attempt int
	Delay   time.Duration
	// Err is why the last attempt or connection ended.
	Err error
}

// Bind asks a listener to listen. Answered, to the sender, with Bound or a
// messages.CommandFailed (transports.ErrAddrInUse, ErrPermission,
// ErrAlreadyBound).
type Bind struct {
	// Local is the address to listen on; port 0 picks a free port, which
	// Bound reports. Prefer a loopback address unless the service is meant
	// for the network.
	Local netip.AddrPort
	// Handler, when set, gets Accepted for each connection and must
	// answer it with messages.Register; the listener's handler factory,
	// when it has one, takes precedence.
	Handler *actor.PID
}

// Bound answers Bind with the address listened on, port included.
type Bound struct {
	Local netip.AddrPort
}

// Unbind stops accepting and releases the port; live connections go on.
// Answered with Unbound.
type Unbind struct{}

// Unbound answers Unbind.
type Unbound struct{}

// Accepted tells a listener's handler of a new connection. The handler
// sends messages.Register{Handler} to Conn (from any actor), after which
// the handler it names gets Received and the other events; until then the
// connection reads nothing, and it is closed when no Register comes within
// the listener's register timeout.
type Accepted struct {
	Conn          *actor.PID
	Local, Remote netip.AddrPort
	// TLS is the state of the TLS session; nil for plain TCP.
	TLS *tls.ConnectionState
}

// GetStats asks a listener or a connection for its counters; answered with
// ListenerStats or ConnectionStats.
type GetStats struct{}

// ListenerStats answers GetStats sent to a listener.
type ListenerStats struct {
	// Local is the address listened on; zero while unbound.
	Local netip.AddrPort
	// Connections is how many connection actors are alive.
	Connections int
	// Accepted counts the connections handed to connection actors.
	Accepted int64
	// Rejected counts the sockets closed at once because MaxConnections
	// connections were alive.
	Rejected int64
	// AcceptErrors counts failed accepts and TLS handshakes.
	AcceptErrors int64
}

// ConnectionStats answers GetStats sent to a connection.
type ConnectionStats struct {
	Local, Remote     netip.AddrPort
	BytesIn, BytesOut int64
	// Buffered is how many bytes are queued for sending.
	Buffered int
	// Held is how many received bytes wait for the handler's credits.
	Held int
}
