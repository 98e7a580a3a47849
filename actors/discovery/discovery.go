// Package discovery finds the other agents on the local network, as
// MeshAgent does with MicroStack's ILibMulticastSocket: every agent sends a
// beacon to a multicast group every period, carrying its id, name and
// service addresses, and keeps a table of the agents it hears.
//
// The actor runs a multicast actor (actors/udp) as its child, which joins
// the group on the chosen interfaces and follows them as they come and go
// (through an interface monitor, actors/netif), so discovery carries on
// across link changes without restarting. Subscribers get PeerSeen when a
// peer appears or what it announces changes, and PeerLost when it has
// missed Options.MissedBeacons beacons in a row (counted in the peer's own
// announced period).
//
// Beacons have a versioned, length-checked binary encoding (see
// beacon.go); anything else arriving on the port is counted and dropped.
// With Options.Key set, beacons carry an HMAC-SHA256 code, a timestamp
// and a nonce: a host without the key cannot inject peers, and a recorded
// beacon replayed later is refused.
//
// The counters in the actor's inspect entry say what arrived:
// "beacons-in", "beacons-out", "beacons-malformed", "beacons-rejected"
// (wrong or missing authentication), "beacons-replayed", "beacons-stale"
// (clock too far off), "beacons-duplicate", "beacons-own", "peers-dropped"
// (table full) and the gauge "peers".
package discovery

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/udp"
	"github.com/microstack-go/microstack/internal/subscribers"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Kind is the discovery actor's kind in the runtime's tree.
const Kind = "discovery"

// Props returns the props of a discovery actor configured by opts.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &discovery{opts: opts} })
}

// ChildSpec returns a permanent supervisor child spec that runs a
// discovery actor named name, announcing and listening on the named
// interfaces (all multicast interfaces when none are named).
func ChildSpec(name string, interfaces []string, opts Options) supervisor.ChildSpec {
	opts.Interfaces = interfaces
	opts = opts.withDefaults() // one id for every incarnation
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    Kind,
		Props:   func() *actor.Props { return Props(opts) },
		Restart: supervisor.Permanent,
	}
}

type (
	tick     struct{ gen int }
	sweep    struct{ gen int }
	announce struct{ gen int }
)

// soonDelay gathers the joins of a burst (every interface at start) into
// one beacon.
const soonDelay = 20 * time.Millisecond

type peer struct {
	discoverymsg.Peer
	lastTime  uint64
	lastNonce [8]byte
	announced []netip.AddrPort // services as announced, before resolve
	expiry    time.Duration
	addrSeen  time.Time
}

// lost remembers the last beacon time of a lost peer until a replay of
// it could no longer pass the skew check.
type lost struct {
	time  uint64
	until time.Time
}

type discovery struct {
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	stats *inspect.Entry
	self  *actor.PID
	root  *actor.RootContext

	mcast    *actor.PID
	peers    map[string]*peer
	lost     map[string]lost
	subs     subscribers.Set
	services []netip.AddrPort
	lastTime uint64

	gen                      int
	soon                     bool
	tickT, sweepT, announceT clock.Timer
}

// Receive is the table of contents of the discovery actor.
func (d *discovery) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		d.stopTimers()
	case *actor.Stopped:
	case tick:
		d.tick(ctx, m)
	case announce:
		d.announceSoon(ctx, m)
	case sweep:
		d.sweep(ctx, m)
	case *udpmsg.Datagram:
		d.datagram(ctx, m)
	case *udpmsg.GroupJoined:
		d.joined(m)
	case *udpmsg.GroupLeft:
		d.log.Debug("left group", "group", m.Group, "interface", m.Interface)
	case *messages.CommandFailed:
		d.sendFailed(m)
	case *actor.Terminated:
		d.subs.Gone(m.Who)
	case *discoverymsg.Subscribe:
		d.subscribe(ctx, m)
	case *discoverymsg.Unsubscribe:
		d.unsubscribe(ctx, m)
	case *discoverymsg.GetPeers:
		ctx.Respond(&discoverymsg.Peers{Peers: d.table()})
	case *discoverymsg.SetServices:
		d.setServices(ctx, m)
	default:
		d.fail(ctx, m, fmt.Errorf("discovery: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (d *discovery) start(ctx actor.Context) {
	d.log = d.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind, "id", d.opts.ID)
	d.clk = d.opts.Clock
	if d.clk == nil {
		d.clk = runtime.ClockOf(ctx.ActorSystem())
	}
	d.stats = inspect.Of(ctx)
	d.self, d.root = ctx.Self(), ctx.ActorSystem().Root
	d.peers = make(map[string]*peer)
	d.lost = make(map[string]lost)
	d.services = slices.Clone(d.opts.Services)
	if _, err := encodeBeacon(d.beacon(), d.opts.Key); err != nil {
		panic(fmt.Errorf("discovery: %w: %w", messages.ErrBadCommand, err))
	}
	pid, err := inspect.Spawn(ctx, udp.MulticastProps(udp.MulticastOptions{
		Network:    d.opts.Network,
		Group4:     d.opts.Group4,
		Group6:     d.opts.Group6,
		Port:       d.opts.Port,
		Interfaces: d.opts.Interfaces,
		TTL:        d.opts.TTL,
		NoLoopback: d.opts.NoLoopback,
		Handler:    ctx.Self(),
		Monitor:    d.opts.Monitor,
		Settle:     d.opts.Settle,
		// A beacon is small: anything longer is not one.
		MaxDatagram: maxBeaconLen,
		Clock:       d.clk,
		Logger:      d.opts.Logger,
	}), "multicast", udp.MulticastKind, nil)
	if err != nil {
		panic(fmt.Errorf("discovery: %w", err))
	}
	d.mcast = pid
	d.subs = subscribers.New(maxSubscribers)
	for _, s := range d.opts.Subscribers {
		d.subscribe(ctx, &discoverymsg.Subscribe{Subscriber: s})
	}
	d.tickT = d.after(d.opts.Period, tick{d.gen})
	d.sweepT = d.after(d.sweepEvery(), sweep{d.gen})
}

func (d *discovery) sweepEvery() time.Duration {
	return max(d.opts.Period/2, 10*time.Millisecond)
}

// after sends msg to the actor after delay on its clock.
func (d *discovery) after(delay time.Duration, msg any) clock.Timer {
	root, self := d.root, d.self
	return d.clk.AfterFunc(delay, func() { root.Send(self, msg) })
}

func (d *discovery) stopTimers() {
	d.gen++ // ticks already in the mailbox are ignored
	for _, t := range []clock.Timer{d.tickT, d.sweepT, d.announceT} {
		if t != nil {
			t.Stop()
		}
	}
}

func (d *discovery) tick(ctx actor.Context, t tick) {
	if t.gen != d.gen {
		return
	}
	d.send(ctx)
	d.tickT = d.after(d.opts.Period, tick{d.gen})
}

// joined sends a beacon soon after the group is joined on an interface, so
// that peers there need not wait a period.
func (d *discovery) joined(m *udpmsg.GroupJoined) {
	d.log.Debug("joined group", "group", m.Group, "interface", m.Interface)
	if d.soon {
		return
	}
	d.soon = true
	d.announceT = d.after(min(soonDelay, d.opts.Period), announce{d.gen})
}

func (d *discovery) announceSoon(ctx actor.Context, a announce) {
	if a.gen != d.gen {
		return
	}
	d.soon = false
	d.send(ctx)
}

func (d *discovery) beacon() beacon {
	b := beacon{
		Period:   uint32(min(d.opts.Period.Milliseconds(), 1<<32-1)),
		ID:       d.opts.ID,
		Name:     d.opts.Name,
		Services: d.services,
	}
	if d.clk != nil {
		// The time is strictly increasing, so that receivers can refuse
		// anything not newer than what they have.
		b.Time = max(uint64(max(d.clk.Now().UnixMilli(), 0)), d.lastTime+1)
	}
	_, _ = rand.Read(b.Nonce[:])
	return b
}

func (d *discovery) send(ctx actor.Context) {
	b := d.beacon()
	data, err := encodeBeacon(b, d.opts.Key)
	if err != nil {
		d.log.Error("encode beacon", "err", err)
		return
	}
	d.lastTime = b.Time
	d.stats.Add("beacons-out", 1)
	ctx.Send(d.mcast, &udpmsg.SendToGroup{Data: data})
}

// sendFailed notes a beacon that could not be sent; the next period tries
// again. Before any interface is joined that is ErrNoMembership.
func (d *discovery) sendFailed(m *messages.CommandFailed) {
	d.stats.Add("send-failed", 1)
	if !errors.Is(m.Err, udpmsg.ErrNoMembership) {
		d.log.Warn("beacon not sent", "err", m.Err)
	}
}

func (d *discovery) datagram(ctx actor.Context, m *udpmsg.Datagram) {
	d.stats.Add("beacons-in", 1)
	if m.Truncated {
		d.stats.Add("beacons-malformed", 1)
		return
	}
	b, err := decodeBeacon(m.Data, d.opts.Key)
	switch {
	case errors.Is(err, errUnauthenticated), errors.Is(err, errBadMAC):
		d.stats.Add("beacons-rejected", 1)
		return
	case err != nil:
		d.stats.Add("beacons-malformed", 1)
		return
	case b.ID == d.opts.ID:
		d.stats.Add("beacons-own", 1)
		return
	}
	now := d.clk.Now()
	if len(d.opts.Key) > 0 {
		skew := now.Sub(time.UnixMilli(int64(min(b.Time, 1<<62))))
		if skew > d.opts.MaxSkew || skew < -d.opts.MaxSkew {
			d.stats.Add("beacons-stale", 1)
			return
		}
	}
	p := d.peers[b.ID]
	last, lastNonce := d.lost[b.ID].time, [8]byte{}
	if p != nil {
		last, lastNonce = p.lastTime, p.lastNonce
	}
	switch {
	case b.Time == last && b.Nonce == lastNonce && p != nil:
		// The same beacon by another path (the other family, another
		// interface) or duplicated by the network.
		d.stats.Add("beacons-duplicate", 1)
		if m.From == p.Addr {
			p.addrSeen = now
		}
		return
	case b.Time <= last:
		d.stats.Add("beacons-replayed", 1)
		return
	}
	d.update(ctx, p, b, m.From, now)
}

// update records an accepted beacon and publishes what changed.
func (d *discovery) update(ctx actor.Context, p *peer, b beacon, from netip.AddrPort, now time.Time) {
	isNew := p == nil
	if isNew {
		if len(d.peers) >= d.opts.MaxPeers {
			d.stats.Add("peers-dropped", 1)
			return
		}
		p = &peer{Peer: discoverymsg.Peer{ID: b.ID}}
		d.peers[b.ID] = p
		delete(d.lost, b.ID)
		d.stats.Set("peers", int64(len(d.peers)))
	}
	period := time.Duration(b.Period) * time.Millisecond
	if period <= 0 {
		period = d.opts.Period
	}
	period = min(max(period, 10*time.Millisecond), time.Hour)
	p.expiry = time.Duration(d.opts.MissedBeacons) * period
	p.lastTime, p.lastNonce, p.LastSeen = b.Time, b.Nonce, now

	// Compare what the peer announced, not what it resolves to: the
	// same beacon arrives from the peer's IPv4 and IPv6 addresses.
	changed := isNew || p.Name != b.Name || !slices.Equal(p.announced, b.Services)
	switch {
	case from == p.Addr:
		p.addrSeen = now
	case isNew || now.Sub(p.addrSeen) >= p.expiry || rank(from.Addr()) > rank(p.Addr.Addr()):
		// Keep one address while it is heard, the most usable one, so
		// that a peer heard over two families or links does not flap
		// between them.
		p.Addr, p.addrSeen, changed = from, now, true
	}
	p.Name, p.announced = b.Name, b.Services
	p.Services = resolve(b.Services, p.Addr.Addr())
	if changed {
		d.log.Info("peer seen", "peer", p.ID, "name", p.Name, "addr", p.Addr)
		d.publish(ctx, &discoverymsg.PeerSeen{Peer: clonePeer(p.Peer)})
	}
}

// rank orders source addresses by how usable they are to reach a peer's
// services: IPv4, then IPv6, then IPv6 link-local (which needs its zone).
func rank(a netip.Addr) int {
	switch {
	case a.Unmap().Is4():
		return 2
	case a.IsLinkLocalUnicast():
		return 0
	}
	return 1
}

// resolve replaces unspecified service addresses with the beacon's source.
func resolve(services []netip.AddrPort, from netip.Addr) []netip.AddrPort {
	out := make([]netip.AddrPort, len(services))
	for i, s := range services {
		if s.Addr().IsUnspecified() {
			s = netip.AddrPortFrom(from, s.Port())
		}
		out[i] = s
	}
	return out
}

func (d *discovery) sweep(ctx actor.Context, s sweep) {
	if s.gen != d.gen {
		return
	}
	now := d.clk.Now()
	for _, id := range sortedIDs(d.peers) {
		p := d.peers[id]
		if now.Sub(p.LastSeen) < p.expiry {
			continue
		}
		delete(d.peers, id)
		d.lost[id] = lost{time: p.lastTime, until: now.Add(d.opts.MaxSkew)}
		d.log.Info("peer lost", "peer", id)
		d.publish(ctx, &discoverymsg.PeerLost{ID: id})
	}
	for id, l := range d.lost {
		if now.After(l.until) || len(d.lost) > d.opts.MaxPeers {
			delete(d.lost, id)
		}
	}
	d.stats.Set("peers", int64(len(d.peers)))
	d.sweepT = d.after(d.sweepEvery(), sweep{d.gen})
}

func (d *discovery) publish(ctx actor.Context, msg any) {
	for _, s := range d.subs.All() {
		ctx.Send(s, msg)
	}
}

func (d *discovery) table() []discoverymsg.Peer {
	out := make([]discoverymsg.Peer, 0, len(d.peers))
	for _, id := range sortedIDs(d.peers) {
		out = append(out, clonePeer(d.peers[id].Peer))
	}
	return out
}

func (d *discovery) setServices(ctx actor.Context, m *discoverymsg.SetServices) {
	if len(m.Services) > maxServices {
		d.fail(ctx, m, fmt.Errorf("discovery: %d services, at most %d: %w", len(m.Services), maxServices, messages.ErrBadCommand))
		return
	}
	d.services = slices.Clone(m.Services)
	d.send(ctx)
	if ctx.Sender() != nil {
		ctx.Respond(&discoverymsg.ServicesSet{})
	}
}

func (d *discovery) subscribe(ctx actor.Context, s *discoverymsg.Subscribe) {
	pid := subscribers.Who(ctx, s.Subscriber)
	if pid == nil {
		d.fail(ctx, s, fmt.Errorf("discovery: subscribe without a subscriber: %w", messages.ErrBadCommand))
		return
	}
	if !d.subs.Add(ctx, pid) {
		d.fail(ctx, s, discoverymsg.ErrTooManySubscribers)
		return
	}
	ctx.Send(pid, &discoverymsg.Subscribed{Peers: d.table()})
}

func (d *discovery) unsubscribe(ctx actor.Context, u *discoverymsg.Unsubscribe) {
	d.subs.Remove(ctx, subscribers.Who(ctx, u.Subscriber))
	if ctx.Sender() != nil {
		ctx.Respond(&discoverymsg.Unsubscribed{})
	}
}

func (d *discovery) fail(ctx actor.Context, cmd any, err error) {
	d.stats.Add("failed-commands", 1)
	if ctx.Sender() != nil {
		ctx.Respond(&messages.CommandFailed{Cmd: cmd, Err: err})
	}
}

func sortedIDs(m map[string]*peer) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, strings.Compare)
	return ids
}

func clonePeer(p discoverymsg.Peer) discoverymsg.Peer {
	p.Services = slices.Clone(p.Services)
	return p
}
