package stun

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures a STUN client actor. The zero value binds an IPv4
// socket on every address with a free port and retransmits as RFC 5389
// recommends (500 ms, doubling, seven requests, 39.5 s in all).
type Options struct {
	// Network opens the client's UDP socket. Default osnet.New: the
	// operating system's network.
	Network transports.Network
	// Local is the socket's address. Default 0.0.0.0:0. The servers asked
	// must be of the same address family.
	Local netip.AddrPort
	// RTO is the first retransmission timeout; each retransmission doubles
	// it (RFC 5389 section 7.2.1). Default 500 ms.
	RTO time.Duration
	// MaxRequests is how many requests one Bind sends at most (Rc).
	// Default 7.
	MaxRequests int
	// LastWait is how many RTOs the client waits after the last request
	// before it gives up (Rm). Default 16.
	LastWait int
	// Software, when set, is sent in a SOFTWARE attribute.
	Software string
	// Resolve looks up a server's host name. Default net.DefaultResolver's
	// LookupNetIP. It runs in a goroutine the actor owns, bounded by
	// ResolveTimeout.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// ResolveTimeout bounds one look-up. Default 5 s.
	ResolveTimeout time.Duration
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
	// Clock times retransmissions. Default: the chain's clock
	// (runtime.ClockOf), which is the wall clock outside a chain.
	Clock clock.Clock
}

const (
	defaultRTO            = 500 * time.Millisecond
	defaultMaxRequests    = 7
	defaultLastWait       = 16
	defaultResolveTimeout = 5 * time.Second
	// maxDatagram is MicroStack's ILibRUDP_MaxMTU: STUN messages are small
	// and a longer datagram is not one of ours.
	maxDatagram = 2048
)

func (o Options) withDefaults() Options {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if !o.Local.IsValid() {
		o.Local = netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	}
	if o.RTO <= 0 {
		o.RTO = defaultRTO
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = defaultMaxRequests
	}
	if o.LastWait <= 0 {
		o.LastWait = defaultLastWait
	}
	if o.Resolve == nil {
		o.Resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if o.ResolveTimeout <= 0 {
		o.ResolveTimeout = defaultResolveTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ServerOptions configures a STUN binding server actor. The zero value
// serves on 127.0.0.1:3478, the loopback interface only: a LAN server must
// say which address it serves on.
type ServerOptions struct {
	// Network opens the server's UDP socket. Default osnet.New.
	Network transports.Network
	// Local is the address served on. Default 127.0.0.1:3478; port 0 picks
	// a free port (ask it with stunmsg.GetLocalAddress).
	Local netip.AddrPort
	// Software, when set, is sent in a SOFTWARE attribute of every
	// response.
	Software string
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

// DefaultPort is the STUN port of RFC 5389.
const DefaultPort = 3478

func (o ServerOptions) withDefaults() ServerOptions {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if !o.Local.IsValid() {
		o.Local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), DefaultPort)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
