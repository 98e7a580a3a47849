package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// The default groups and port. They are administratively scoped (IPv4,
// RFC 2365) and link-local (IPv6), so beacons stay on the local network.
var (
	DefaultGroup4 = netip.MustParseAddr("239.255.86.77")
	DefaultGroup6 = netip.MustParseAddr("ff02::4d53")
)

// DefaultPort is the port beacons are sent to.
const DefaultPort = 16990

// Options configures a discovery actor. The zero value announces a random
// id under the host's name, with no services, every 5 s on every
// multicast interface, over IPv4 and IPv6, unauthenticated.
type Options struct {
	// Network carries the beacons. Default osnet.New.
	Network transports.Network
	// ID is this agent's identity in the beacons, 1 to 64 bytes of UTF-8.
	// Default: 16 random hex digits, drawn once per Props (so a restarted
	// actor keeps it).
	ID string
	// Name is a human-readable name, up to 64 bytes. Default the host
	// name (cut to 64 bytes).
	Name string
	// Services are the addresses announced, up to 16. An unspecified
	// address stands for "the address my beacons come from".
	Services []netip.AddrPort
	// Group4 and Group6 are the multicast groups; Port the port. Defaults
	// DefaultGroup4, DefaultGroup6 and DefaultPort. Set NoIPv4 or NoIPv6
	// to leave a family out.
	Group4, Group6 netip.Addr
	Port           uint16
	NoIPv4, NoIPv6 bool
	// Interfaces names the interfaces to announce and listen on; empty
	// means every interface that is up, multicast-capable and not a
	// loopback. The set follows the interfaces as they come and go.
	Interfaces []string
	// Period is the time between beacons. Default 5 s.
	Period time.Duration
	// MissedBeacons is how many of a peer's periods may pass without a
	// beacon before it is lost. Default 3.
	MissedBeacons int
	// Key, when set, authenticates beacons with HMAC-SHA256: beacons
	// without a valid code for this key are ignored, so that strangers on
	// the LAN cannot inject peers. Each beacon carries the sender's clock
	// and a nonce; a beacon not newer than the last one accepted from that
	// peer, or further than MaxSkew from this agent's clock, is ignored as
	// a replay.
	Key []byte
	// MaxSkew bounds the difference between a peer's clock and this
	// agent's for authenticated beacons. Default 1 min.
	MaxSkew time.Duration
	// MaxPeers bounds the table; beacons of further peers are dropped and
	// counted. Default 256.
	MaxPeers int
	// TTL is the beacons' multicast time-to-live. Default 1.
	TTL int
	// NoLoopback stops this host's other agents from hearing this one.
	NoLoopback bool
	// Monitor is an interface monitor (actors/netif) to follow. Default:
	// the multicast actor starts its own.
	Monitor *actor.PID
	// Settle is the settle delay of that own monitor. Default netif's.
	Settle time.Duration
	// Subscribers are subscribed when the actor starts.
	Subscribers []*actor.PID
	// Clock times beacons and expiry and stamps beacons. Default: the
	// chain's clock (runtime.ClockOf).
	Clock clock.Clock
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

const (
	defaultPeriod        = 5 * time.Second
	defaultMissedBeacons = 3
	defaultMaxSkew       = time.Minute
	defaultMaxPeers      = 256
	maxSubscribers       = 1024
)

func (o Options) withDefaults() Options {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.ID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		o.ID = hex.EncodeToString(b[:])
	}
	if o.Name == "" {
		o.Name, _ = os.Hostname()
	}
	if len(o.Name) > maxNameLen {
		o.Name = strings.ToValidUTF8(o.Name[:maxNameLen], "")
	}
	if !o.Group4.IsValid() {
		o.Group4 = DefaultGroup4
	}
	if !o.Group6.IsValid() {
		o.Group6 = DefaultGroup6
	}
	if o.NoIPv4 {
		o.Group4 = netip.Addr{}
	}
	if o.NoIPv6 {
		o.Group6 = netip.Addr{}
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Period <= 0 {
		o.Period = defaultPeriod
	}
	if o.MissedBeacons <= 0 {
		o.MissedBeacons = defaultMissedBeacons
	}
	if o.MaxSkew <= 0 {
		o.MaxSkew = defaultMaxSkew
	}
	if o.MaxPeers <= 0 {
		o.MaxPeers = defaultMaxPeers
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
