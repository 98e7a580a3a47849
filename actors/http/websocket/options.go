package websocket

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/http/internal/dial"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures a socket actor. The zero value makes a socket that
// takes messages up to 1 MiB, grants its handler 16 read credits, refuses
// sends past 1 MiB queued, pings every 30 s and verifies TLS peers against
// the system's roots. A client socket needs URL.
type Options struct {
	// Handler receives the socket's events (wsmsg.Opened, Text, Binary,
	// messages.Passive, and wsmsg.Closed last), sent with the socket as
	// sender, and the answers (WriteAck, WriteRefused, WritingResumed,
	// CommandFailed) to commands sent without a sender. Default: the
	// socket's parent. A messages.Register changes it.
	Handler *actor.PID
	// NewHandler, when set, builds a handler for each socket, spawned as
	// the socket's child (kind "ws.handler") when the socket opens; it
	// takes precedence over Handler. When the handler stops, the socket
	// closes with code 1011.
	NewHandler func() *actor.Props
	// MaxMessage is the largest message received or sent, in bytes. A
	// larger incoming message closes the socket with code 1009; a larger
	// Send is refused with wsmsg.ErrTooLarge. Default 1 MiB.
	MaxMessage int
	// Credits is how many received messages the handler may get before it
	// must grant more with messages.ResumeReading. Default 16; negative
	// means unlimited (push mode: nothing then bounds the handler's
	// mailbox).
	Credits int
	// HighWater and LowWater bound the bytes queued for sending: a Send
	// that would pass HighWater is refused with messages.WriteRefused, and
	// so is every later Send, until the writer sends
	// messages.ResumeWriting; that is answered with messages.WritingResumed
	// once the queue is at or below LowWater (at once if it already is).
	// Defaults 1 MiB and 256 KiB.
	HighWater, LowWater int
	// PingInterval is how often the socket pings its peer; a pong missing
	// for PongTimeout closes the socket. Defaults 30 s and 10 s; a negative
	// PingInterval disables pings.
	PingInterval, PongTimeout time.Duration
	// WriteTimeout bounds the write of one message. Default 10 s.
	WriteTimeout time.Duration
	// Subprotocols are the subprotocols offered (client) or accepted, in
	// order of preference (server).
	Subprotocols []string
	// OriginPatterns are the cross-origin hosts a server socket accepts
	// (path.Match patterns on the Origin's host). By default only requests
	// whose Origin matches the Host are upgraded, and requests without
	// Origin (non-browser clients).
	OriginPatterns []string

	// URL is the address a client socket dials: "ws://host:port/path" or
	// "wss://host:port/path".
	URL string
	// Header holds extra header fields of a client's upgrade request.
	Header http.Header
	// Network dials a client socket. Default osnet.New.
	Network transports.Network
	// Resolve looks up a client's host name. Default net.DefaultResolver.
	Resolve dial.Resolver
	// TLS is the client's base TLS config for wss URLs. Verification is on
	// unless it sets InsecureSkipVerify; ServerName defaults to the URL's
	// host. Use certs.PinnedConfig to trust a pinned certificate.
	TLS *tls.Config
	// DialTimeout bounds a client's connection and upgrade. Default 10 s.
	DialTimeout time.Duration
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

const (
	defaultMaxMessage   = 1 << 20
	defaultCredits      = 16
	defaultHighWater    = 1 << 20
	defaultLowWater     = 256 << 10
	defaultPingInterval = 30 * time.Second
	defaultPongTimeout  = 10 * time.Second
	defaultWriteTimeout = 10 * time.Second
	defaultDialTimeout  = 10 * time.Second
	// maxQueuedMessages bounds the send queue by count as HighWater bounds
	// it by bytes, so that many tiny sends cannot grow it either.
	maxQueuedMessages = 1024
)

func (o Options) withDefaults() Options {
	if o.MaxMessage <= 0 {
		o.MaxMessage = defaultMaxMessage
	}
	if o.Credits == 0 {
		o.Credits = defaultCredits
	}
	if o.HighWater <= 0 {
		o.HighWater = defaultHighWater
	}
	if o.LowWater <= 0 || o.LowWater > o.HighWater {
		o.LowWater = min(defaultLowWater, o.HighWater/2)
	}
	if o.PingInterval == 0 {
		o.PingInterval = defaultPingInterval
	}
	if o.PongTimeout <= 0 {
		o.PongTimeout = defaultPongTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = defaultWriteTimeout
	}
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.Resolve == nil {
		o.Resolve = dial.DefaultResolve
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
