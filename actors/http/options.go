package http

import (
	"crypto/tls"
	"log/slog"
	nethttp "net/http"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures a server actor. The zero value serves nothing on
// 127.0.0.1 with a free port: give it Routes, and Endpoints to serve
// elsewhere. Every limit and timeout has a bounded default, so that a slow or
// hostile client cannot hold the server.
type Options struct {
	// Endpoints are the addresses served, plain or TLS. Default one plain
	// endpoint on 127.0.0.1 with a free port (ask it with
	// httpmsg.GetBound).
	Endpoints []Endpoint
	// Routes map request patterns to handlers. Patterns are net/http
	// ServeMux patterns ("GET /items/{id}", "/static/", "POST /api/"); an
	// unmatched request gets 404, a wrong method 405.
	Routes []Route
	// Middleware wraps the handler of every route, first in the list
	// outermost. See Middleware.
	Middleware []Middleware
	// Events receives the server's events: httpmsg.Bound once listening,
	// httpmsg.SessionOpened and httpmsg.SessionClosed for each connection.
	// Optional.
	Events *actor.PID
	// Network listens. Default osnet.New: the operating system's network.
	Network transports.Network
	// Engine is how connections are served: EngineNetHTTP (the default),
	// net/http's server with a goroutine and a session actor per
	// connection, every kind of route; or EngineEventLoop, an event-driven
	// HTTP/1.1 engine for Actor routes only (with transports/evloop as
	// Network, no goroutine per connection). See the package
	// documentation, "Event-loop engine".
	Engine Engine

	// HandlerTimeout is how long a handler actor has to answer a request
	// (Response or StreamResponse), and how long a streamed response may
	// wait for its next WriteBody or EndResponse. Past it the client gets
	// 504 Gateway Timeout, or a streamed response is cut. Default 10 s.
	HandlerTimeout time.Duration
	// MaxInFlight bounds the requests being handled by actors at once;
	// past it requests get 503 Service Unavailable at once. Default 1024.
	MaxInFlight int
	// MaxSessions bounds the open connections (MicroStack's
	// MaxConnections); past it new connections are closed at once.
	// Default 1024.
	MaxSessions int
	// MaxBodyBytes bounds a request body: a longer one gets 413 Content
	// Too Large. It applies to every route, mounted handlers included
	// (Route.MaxBodyBytes overrides it). Default 1 MiB.
	MaxBodyBytes int64
	// MaxHeaderBytes bounds a request's header block; a larger one gets
	// 431 Request Header Fields Too Large and the connection is closed.
	// Default 8 KiB (MicroStack used 4 KiB).
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the reading of a request's header, and
	// ReadTimeout of the whole request, body included. Defaults 10 s and
	// 30 s.
	ReadHeaderTimeout, ReadTimeout time.Duration
	// WriteTimeout bounds the writing of a response, and of each part of a
	// streamed one. Default 30 s.
	WriteTimeout time.Duration
	// IdleTimeout closes a kept-alive connection that carries no request
	// for that long (MicroStack's HTTP_SESSION_IDLE_TIMEOUT). Default 10 s.
	IdleTimeout time.Duration
	// HighWater and LowWater bound the bytes of a streamed response queued
	// and not yet written: a WriteBody past HighWater is refused with
	// messages.WriteRefused, and so is every later WriteBody of that
	// response, until the writer sends messages.ResumeWriting; that is
	// answered with messages.WritingResumed once the queue is at or below
	// LowWater (at once if it already is). Defaults 256 KiB and 64 KiB.
	HighWater, LowWater int
	// ShutdownTimeout bounds the graceful drain when the actor stops:
	// listeners close at once, requests in progress get that long to
	// finish, then every connection is closed. Default 5 s.
	ShutdownTimeout time.Duration
	// AllowAmbiguousFraming turns off the server's own framing check, which
	// answers 400 and closes the connection when a request carries both
	// Content-Length and Transfer-Encoding, repeats Content-Length, or ends
	// a header line with a bare LF (RFC 9112 sections 6.1, 6.3 and 2.2).
	// Leave it off: it is what stops request smuggling through a proxy
	// that frames requests differently.
	AllowAmbiguousFraming bool
	// Logger receives the actor's logs and net/http's error log. Default:
	// discarded.
	Logger *slog.Logger
}

// Endpoint is an address a server listens on.
type Endpoint struct {
	// Addr is the address and port; port 0 picks a free one. Listening on
	// an unspecified address (0.0.0.0, ::) serves every interface: say so
	// explicitly, the default is loopback.
	Addr netip.AddrPort
	// TLS, when set, serves HTTPS with this config (its certificates, its
	// client authentication). NextProtos is set to HTTP/1.1 only.
	TLS *tls.Config
}

// Route maps a request pattern to what handles it. Exactly one of Actor,
// Handler, Dir or WebSocket is set.
type Route struct {
	// Pattern is a net/http ServeMux pattern: "[METHOD ][HOST]/PATH", with
	// {name} and {name...} wildcards and a trailing slash for a subtree.
	Pattern string
	// Actor receives each matching request as an *httpmsg.Request and
	// answers it (see package messages/httpmsg). The body is read whole
	// first, up to the body limit.
	Actor *actor.PID
	// Handler is a plain net/http handler mounted on the pattern, run on
	// net/http's goroutine for the connection, as under http.Server. Use
	// it for what is better written as an http.Handler: a console's API,
	// large uploads, server-sent events.
	Handler nethttp.Handler
	// Dir serves the files of this folder; the pattern's path (up to its
	// first wildcard) is stripped from the request path. Files are opened
	// through an os.Root, so no path (.., symbolic links) leads outside the
	// folder. Directory listings are not served.
	Dir string
	// WebSocket upgrades matching requests to WebSockets, each an actor
	// (package actors/http/websocket) whose handler Options.Handler or
	// Options.NewHandler names. The socket is a child of the request's
	// session.
	WebSocket *websocket.Options
	// MaxBodyBytes, when positive, overrides the server's body limit for
	// this route.
	MaxBodyBytes int64
}

// Middleware wraps a route's handler. It is called once per route, when
// the server starts, with the route's pattern, and returns the handler to
// use; returning next unchanged leaves the route alone. A console that needs
// a token on every route but its health check writes:
//
//	func(pattern string, next nethttp.Handler) nethttp.Handler {
//		if pattern == "GET /healthz" {
//			return next
//		}
//		return requireToken(next)
//	}
type Middleware func(pattern string, next nethttp.Handler) nethttp.Handler

const (
	defaultHandlerTimeout    = 10 * time.Second
	defaultMaxInFlight       = 1024
	defaultMaxSessions       = 1024
	defaultMaxBodyBytes      = 1 << 20
	defaultMaxHeaderBytes    = 8 << 10
	defaultReadHeaderTimeout = 10 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 30 * time.Second
	defaultIdleTimeout       = 10 * time.Second
	defaultServerHighWater   = 256 << 10
	defaultServerLowWater    = 64 << 10
	defaultShutdownTimeout   = 5 * time.Second
)

func (o Options) withDefaults() Options {
	if len(o.Endpoints) == 0 {
		o.Endpoints = []Endpoint{{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)}}
	}
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = defaultHandlerTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = defaultMaxInFlight
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = defaultMaxSessions
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = defaultMaxBodyBytes
	}
	if o.MaxHeaderBytes <= 0 {
		o.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = defaultReadHeaderTimeout
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = defaultReadTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.HighWater <= 0 {
		o.HighWater = defaultServerHighWater
	}
	if o.LowWater <= 0 || o.LowWater > o.HighWater {
		o.LowWater = min(defaultServerLowWater, o.HighWater/2)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = defaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
