package tcp

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/net/http/httpproxy"

	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Resolver looks up a host's addresses. *net.Resolver is one; tests inject
// their own (returning ::1 and 127.0.0.1, or simulated addresses).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configures a connection actor. The zero value is a connection
// actor on the operating system's network that waits for a Connect, with
// no proxy.
type Options struct {
	// Network opens the sockets. Default osnet.New: the operating system's
	// network.
	Network transports.Network
	// Resolver resolves Connect.Host and proxy host names. Default
	// net.DefaultResolver.
	Resolver Resolver
	// Clock times the connect timeout, the Happy Eyeballs delay and the
	// idle timeout. Default: the chain's clock (runtime.ClockOf).
	Clock clock.Clock
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
	// Proxy is the proxy every Connect goes through unless its own
	// options say otherwise: "http://user:pass@host:port" (HTTP CONNECT,
	// Basic credentials) or "socks5://user:pass@host:port". Empty means
	// none, unless ProxyFromEnvironment.
	Proxy string
	// ProxyFromEnvironment takes the proxy from HTTPS_PROXY (or
	// https_proxy) and NO_PROXY, by net/http's rules, when Proxy is empty.
	// HTTP_PROXY is not used: it is for plain HTTP, never for tunnels. As in
	// net/http, loopback targets never go through the environment's proxy.
	ProxyFromEnvironment bool
	// ProxyEnvironment reads the environment's proxy configuration.
	// Default httpproxy.FromEnvironment; tests inject their own.
	ProxyEnvironment func() *httpproxy.Config
	// FallbackDelay is how long a connect to a name waits for the first
	// address family before it starts on the other (RFC 8305's Connection
	// Attempt Delay). Default 250 ms.
	FallbackDelay time.Duration
	// Connect, when set, is carried out as soon as the actor starts (and
	// at every restart), with Connect.Handler (required then) receiving
	// the events. A connect that fails, or a connection that ends other
	// than by the handler's Close, fails the actor, so that its supervisor
	// decides: this is how ClientSpec keeps a client connected.
	Connect *tcpmsg.Connect
	// CloseWait bounds how long stopping the actor waits for its socket to
	// flush and close (and its dial to give up) before resetting it.
	// Default 2 s.
	CloseWait time.Duration
}

// Defaults.
const (
	DefaultConnectTimeout  = 20 * time.Second
	DefaultHighWater       = 1 << 20
	DefaultFallbackDelay   = 250 * time.Millisecond
	DefaultCloseWait       = 2 * time.Second
	DefaultRegisterTimeout = 5 * time.Second
	DefaultMaxConnections  = 10000
)

// inboxLimit bounds the reads sent to a connection actor's mailbox and not
// yet handled; past it the stream stops reading until the actor catches up.
const inboxLimit = 4

func (o Options) withDefaults(system *actor.ActorSystem) Options {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Clock == nil {
		o.Clock = runtime.ClockOf(system)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProxyEnvironment == nil {
		o.ProxyEnvironment = httpproxy.FromEnvironment
	}
	if o.FallbackDelay <= 0 {
		o.FallbackDelay = DefaultFallbackDelay
	}
	if o.CloseWait <= 0 {
		o.CloseWait = DefaultCloseWait
	}
	return o
}

// socketDefaults fills the zero fields of a connection's socket options.
func socketDefaults(o tcpmsg.SocketOptions) tcpmsg.SocketOptions {
	if o.HighWater <= 0 {
		o.HighWater = DefaultHighWater
	}
	if o.LowWater <= 0 || o.LowWater >= o.HighWater {
		o.LowWater = o.HighWater / 4
	}
	return o
}

func streamOptions(o tcpmsg.SocketOptions) transports.StreamOptions {
	return transports.StreamOptions{
		ReadSize:      o.ReadSize,
		SendBuffer:    o.SendBuffer,
		ReceiveBuffer: o.ReceiveBuffer,
		KeepAlive:     o.KeepAlive,
	}
}

// ListenerOptions configures a listener actor. The zero value is a plain
// TCP listener on the operating system's network that waits for a Bind and
// sends Accepted to the Bind's handler.
type ListenerOptions struct {
	// Network opens the listening socket. Default osnet.New.
	Network transports.Network
	// Clock times the register timeout and the connections' idle
	// timeouts. Default: the chain's clock.
	Clock clock.Clock
	// Logger receives the listener's and its connections' logs. Default:
	// discarded.
	Logger *slog.Logger
	// Bind, when set, is carried out as soon as the actor starts (and at
	// every restart, on the same port as the first time when port 0 was
	// asked); a failure fails the actor, so that its supervisor decides.
	Bind *tcpmsg.Bind
	// Handler, when set, builds the handler of each accepted connection
	// (MicroStack's OnConnection): an actor spawned as the connection
	// actor's child, named "handler", that gets tcpmsg.Connected and the
	// connection's events, and ends with it. Without it, Bind.Handler (or
	// the Bind's sender) gets tcpmsg.Accepted and must Register.
	Handler func() *actor.Props
	// Behavior, when set, builds the handler of each accepted connection
	// as a Behavior that runs inside the connection actor: one actor per
	// connection, no second mailbox. It takes precedence over Handler.
	Behavior func() Behavior
	// HandlerKind is the handler's kind in the runtime's tree. Default
	// "tcp.handler".
	HandlerKind string
	// TLS, when set, makes this a TLS server.
	TLS *ServerTLS
	// MaxConnections bounds the live connections; past it a new socket is
	// accepted and closed at once and counted as rejected. Default 10000.
	MaxConnections int
	// Socket configures every accepted connection.
	Socket tcpmsg.SocketOptions
	// RegisterTimeout is how long an accepted connection waits for its
	// handler's Register (when there is no Handler factory). Default 5 s.
	RegisterTimeout time.Duration
	// CloseWait bounds how long a stopping connection waits for its socket
	// to flush and close, and a stopping listener for its connections.
	// Default 2 s.
	CloseWait time.Duration
}

// ServerTLS configures a TLS listener.
type ServerTLS struct {
	// Config is the server's configuration (cloned). When it has no
	// certificate, one is loaded from CertDir, or made and kept there
	// (certs.LoadOrCreate); with no CertDir either, a self-signed
	// certificate is made in memory at every bind.
	Config *tls.Config
	// CertDir is the folder the server's own certificate is kept in.
	CertDir string
	// Cert configures the certificate made when none exists.
	Cert certs.Options
	// HandshakeTimeout bounds each TLS handshake. Default 10 s.
	HandshakeTimeout time.Duration
}

func (o ListenerOptions) withDefaults(system *actor.ActorSystem) ListenerOptions {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.Clock == nil {
		o.Clock = runtime.ClockOf(system)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HandlerKind == "" {
		o.HandlerKind = HandlerKind
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.RegisterTimeout <= 0 {
		o.RegisterTimeout = DefaultRegisterTimeout
	}
	if o.CloseWait <= 0 {
		o.CloseWait = DefaultCloseWait
	}
	return o
}
