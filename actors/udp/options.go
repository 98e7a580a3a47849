package udp

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures a UDP socket actor. The zero value is an unbound
// socket actor on the operating system's network that waits for a Bind.
type Options struct {
	// Network opens the socket. Default osnet.New: the operating system's
	// network.
	Network transports.Network
	// Bind, when set, is carried out as soon as the actor starts (and at
	// every restart), with Bind.Handler (required then) receiving Bound
	// and the datagrams; a failure to bind fails the actor, so that its
	// supervisor decides. This is how a child spec runs a bound socket.
	Bind *udpmsg.Bind
	// MaxQueued bounds the datagrams received and not yet handled: in the
	// actor's mailbox, and held while reading is suspended or out of
	// credits. Beyond it datagrams are dropped and counted ("dropped" in
	// the actor's inspect entry), and while suspended the socket is not
	// read at all, so the kernel drops instead. Default 256.
	MaxQueued int
	// CloseWait bounds how long stopping waits for the transport to report
	// the socket closed (its goroutines ended). Default 2 s.
	CloseWait time.Duration
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

const (
	defaultMaxQueued = 256
	defaultCloseWait = 2 * time.Second
)

func (o Options) withDefaults() Options {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = defaultMaxQueued
	}
	if o.CloseWait <= 0 {
		o.CloseWait = defaultCloseWait
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// MulticastOptions configures a multicast actor. Group4 or Group6 (or
// both) and Port must be set; the rest has defaults.
type MulticastOptions struct {
	// Network opens the sockets and, unless Monitor is set, is watched for
	// interface changes. Default osnet.New.
	Network transports.Network
	// Group4 and Group6 are the IPv4 and IPv6 groups to join; a zero
	// address leaves that family out. An IPv6 group of link-local scope
	// (ff02::/16) stays on each link it is sent on.
	Group4, Group6 netip.Addr
	// Port is the port the groups are received on.
	Port uint16
	// Interfaces names the interfaces to join on. Empty means every
	// interface that is up, multicast-capable and not a loopback. A group
	// is joined on an interface while it is up and has an address of the
	// group's family, and left when that ends.
	Interfaces []string
	// TTL is the multicast time-to-live (hop limit) of what is sent.
	// Default 1: the local link only. MicroStack used 4.
	TTL int
	// NoLoopback stops this host's own sockets (this actor's included)
	// from receiving what the actor sends. Loopback is on by default, so
	// that two agents on one host see each other.
	NoLoopback bool
	// Handler receives Datagram, GroupJoined and GroupLeft events.
	Handler *actor.PID
	// Monitor is an interface monitor (actors/netif) to subscribe to.
	// Default: the actor starts one of its own as its child, with Settle
	// and Clock below, watching Network.
	Monitor *actor.PID
	// Settle is the settle delay of the actor's own monitor. Default that
	// of netif.Options.
	Settle time.Duration
	// MaxDatagram is the largest datagram delivered whole. Default 65535.
	MaxDatagram int
	// MaxQueued bounds the datagrams received and not yet handled, per
	// socket, as Options.MaxQueued. Default 256.
	MaxQueued int
	// Clock times the own monitor's settle delay. Default: the chain's
	// clock.
	Clock clock.Clock
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

func (o MulticastOptions) withDefaults() MulticastOptions {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.TTL <= 0 {
		o.TTL = 1
	}
	if o.MaxQueued <= 0 {
		o.MaxQueued = defaultMaxQueued
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
