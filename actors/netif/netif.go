// Package netif is microstack's interface monitor, the counterpart of
// MicroStack's ILibIPAddressMonitor: an actor that watches the host's
// network interfaces and addresses and publishes one
// netifmsg.InterfacesChanged to its subscribers for each settled burst of
// changes.
//
// The actor wraps transports.Network.WatchInterfaces, so the source of
// changes is the network's: the operating system's (osnet) or a simulated
// host's (sim). Where MicroStack only says "something changed" (and on
// Linux only for IPv4 addresses), the event says what: the addresses added
// and removed, for IPv4 and IPv6, and every interface as it is now.
//
// Kernel changes come in bursts (a link coming up brings its addresses a
// moment later; a DHCP renewal removes and adds an address). The actor
// waits Options.Settle after the first change of a burst, compares the
// interfaces with those it last published and publishes only when they
// differ, so a change undone within the delay is no event at all.
//
// # Subscribing
//
// Subscribe (netifmsg.Subscribe) is answered with netifmsg.Subscribed
// carrying the current interfaces; InterfacesChanged events follow. The
// monitor watches each subscriber and forgets it when it stops. A TCP
// client that must reconnect when its local address disappears subscribes
// and tests each event with netifmsg.Has(ev.Current, local) or looks for
// its address in ev.Removed:
//
//	case *netifmsg.InterfacesChanged:
//		if !netifmsg.Has(m.Current, c.local.Addr()) {
//			c.reconnect(ctx)
//		}
//
// The watch is closed when the actor stops or restarts; no goroutine of it
// outlives the actor.
package netif

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/internal/subscribers"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/netifmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// Kind is the monitor's kind in the runtime's tree.
const Kind = "netif"

// Props returns the props of an interface monitor actor configured by opts.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &monitor{opts: opts} })
}

// ChildSpec returns a supervisor child spec that runs an interface monitor
// named name: permanent, so a monitor whose watch fails is restarted and
// watches again (its subscribers must subscribe again; those given in
// opts.Subscribers are subscribed at every start).
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    Kind,
		Props:   func() *actor.Props { return Props(opts) },
		Restart: supervisor.Permanent,
	}
}

type (
	// changed tells the actor that the tracker has news. At most one is
	// in the mailbox at a time.
	changed struct{}
	// settled ends a settle delay.
	settled struct{ gen int }
)

type monitor struct {
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	stats *inspect.Entry
	self  *actor.PID
	root  *actor.RootContext

	track     *tracker
	watch     io.Closer
	published []netifmsg.Interface
	subs      subscribers.Set

	settling bool
	gen      int
	timer    clock.Timer
}

// Receive is the table of contents of the monitor.
func (m *monitor) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		m.release()
	case *actor.Stopped:
	case changed:
		m.changed()
	case settled:
		m.settled(msg)
	case *actor.Terminated:
		m.subs.Gone(msg.Who)
		m.stats.Set("subscribers", int64(m.subs.Len()))
	case *netifmsg.Subscribe:
		m.subscribe(ctx, msg)
	case *netifmsg.Unsubscribe:
		m.unsubscribe(ctx, msg)
	case *netifmsg.GetInterfaces:
		ctx.Respond(&netifmsg.Interfaces{Current: clone(m.published)})
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: msg, Err: fmt.Errorf("netif: %T: %w", msg, messages.ErrUnknownCommand)})
		}
	}
}

func (m *monitor) start(ctx actor.Context) {
	m.log = m.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind)
	m.clk = m.opts.Clock
	if m.clk == nil {
		m.clk = runtime.ClockOf(ctx.ActorSystem())
	}
	m.stats = inspect.Of(ctx)
	m.self, m.root = ctx.Self(), ctx.ActorSystem().Root
	m.track = newTracker(func() { m.root.Send(m.self, changed{}) })
	w, err := m.opts.Network.WatchInterfaces(m.track.apply)
	if err != nil {
		panic(fmt.Errorf("netif: watch interfaces: %w", err)) // the supervisor decides
	}
	m.watch = w
	// The watch reported the interfaces present before it returned: that
	// is the state subscribers start from, not a change.
	m.published = m.track.snapshot()
	m.subs = subscribers.New(m.opts.MaxSubscribers)
	for _, pid := range m.opts.Subscribers {
		m.subscribe(ctx, &netifmsg.Subscribe{Subscriber: pid})
	}
	m.log.Debug("watching interfaces", "interfaces", len(m.published))
}

func (m *monitor) release() {
	if m.watch != nil {
		_ = m.watch.Close()
		m.watch = nil
	}
	if m.timer != nil {
		m.timer.Stop()
	}
}

// changed starts a settle delay unless one runs.
func (m *monitor) changed() {
	m.track.pending.Store(false)
	m.stats.Add("raw-events", 1)
	if m.settling {
		return
	}
	m.settling = true
	m.gen++
	gen := m.gen
	m.timer = m.clk.AfterFunc(m.opts.Settle, func() { m.root.Send(m.self, settled{gen}) })
}

// settled publishes what changed during the delay, if anything did.
func (m *monitor) settled(s settled) {
	if s.gen != m.gen || !m.settling {
		return
	}
	m.settling = false
	cur := m.track.snapshot()
	added, removed := diff(m.published, cur)
	if len(added) == 0 && len(removed) == 0 && equal(m.published, cur) {
		m.stats.Add("unchanged", 1)
		return
	}
	m.published = cur
	m.stats.Add("events", 1)
	m.log.Info("interfaces changed", "added", len(added), "removed", len(removed))
	for _, pid := range m.subs.All() {
		m.root.Send(pid, &netifmsg.InterfacesChanged{Added: slices.Clone(added), Removed: slices.Clone(removed), Current: clone(cur)})
	}
}

func (m *monitor) subscribe(ctx actor.Context, s *netifmsg.Subscribe) {
	pid := subscribers.Who(ctx, s.Subscriber)
	if pid == nil {
		m.fail(ctx, s, fmt.Errorf("netif: subscribe without a subscriber: %w", messages.ErrBadCommand))
		return
	}
	if !m.subs.Add(ctx, pid) {
		m.fail(ctx, s, netifmsg.ErrTooManySubscribers)
		return
	}
	m.stats.Set("subscribers", int64(m.subs.Len()))
	ctx.Send(pid, &netifmsg.Subscribed{Current: clone(m.published)})
}

func (m *monitor) unsubscribe(ctx actor.Context, u *netifmsg.Unsubscribe) {
	if m.subs.Remove(ctx, subscribers.Who(ctx, u.Subscriber)) {
		m.stats.Set("subscribers", int64(m.subs.Len()))
	}
	if ctx.Sender() != nil {
		ctx.Respond(&netifmsg.Unsubscribed{})
	}
}

func (m *monitor) fail(ctx actor.Context, cmd any, err error) {
	m.stats.Add("failed-commands", 1)
	if ctx.Sender() != nil {
		ctx.Respond(&messages.CommandFailed{Cmd: cmd, Err: err})
	}
}

// tracker mirrors the watched interfaces. The watch calls apply on the
// transport's goroutine; apply keeps the mirror under its own lock and only
// nudges the actor, at most one message at a time, so a storm of kernel
// events cannot fill the mailbox.
type tracker struct {
	nudge   func()
	pending atomic.Bool

	mu     sync.Mutex
	byName map[string]transports.Interface
}

func newTracker(nudge func()) *tracker {
	return &tracker{nudge: nudge, byName: make(map[string]transports.Interface)}
}

func (t *tracker) apply(ev transports.InterfaceEvent) {
	t.mu.Lock()
	name := ev.Interface.Name
	cur, ok := t.byName[name]
	switch ev.Kind {
	case transports.InterfaceAdded, transports.InterfaceChanged:
		ifc := ev.Interface
		ifc.Prefixes = nil
		if ok && cur.Index == ifc.Index {
			ifc.Prefixes = cur.Prefixes
		}
		t.byName[name] = ifc
	case transports.InterfaceRemoved:
		delete(t.byName, name)
	case transports.AddressAdded:
		if !ok {
			cur = ev.Interface
			cur.Prefixes = nil
		}
		if !slices.Contains(cur.Prefixes, ev.Prefix) {
			cur.Prefixes = append(slices.Clone(cur.Prefixes), ev.Prefix)
		}
		t.byName[name] = cur
	case transports.AddressRemoved:
		if ok {
			cur.Prefixes = slices.DeleteFunc(slices.Clone(cur.Prefixes), func(p netip.Prefix) bool { return p == ev.Prefix })
			t.byName[name] = cur
		}
	}
	t.mu.Unlock()
	if t.pending.CompareAndSwap(false, true) {
		t.nudge()
	}
}

// snapshot returns the interfaces sorted by name, prefixes sorted.
func (t *tracker) snapshot() []netifmsg.Interface {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]netifmsg.Interface, 0, len(t.byName))
	for _, ifc := range t.byName {
		out = append(out, convert(ifc))
	}
	slices.SortFunc(out, func(a, b netifmsg.Interface) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func convert(ifc transports.Interface) netifmsg.Interface {
	ps := slices.Clone(ifc.Prefixes)
	slices.SortFunc(ps, comparePrefix)
	return netifmsg.Interface{
		Index:        ifc.Index,
		Name:         ifc.Name,
		Up:           ifc.Flags.Up(),
		Loopback:     ifc.Flags&transports.FlagLoopback != 0,
		Multicast:    ifc.Flags&transports.FlagMulticast != 0,
		Broadcast:    ifc.Flags&transports.FlagBroadcast != 0,
		PointToPoint: ifc.Flags&transports.FlagPointToPoint != 0,
		MTU:          ifc.MTU,
		Prefixes:     ps,
	}
}

func comparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

// addresses lists the addresses of the interfaces that are up.
func addresses(ifs []netifmsg.Interface) []netifmsg.Address {
	var out []netifmsg.Address
	for _, ifc := range ifs {
		if !ifc.Up {
			continue
		}
		for _, p := range ifc.Prefixes {
			out = append(out, netifmsg.Address{Interface: ifc.Name, Prefix: p})
		}
	}
	return out
}

// diff returns the addresses in cur and not in old, and those in old and
// not in cur, in interface then address order.
func diff(old, cur []netifmsg.Interface) (added, removed []netifmsg.Address) {
	oa, ca := addresses(old), addresses(cur)
	for _, a := range ca {
		if !slices.Contains(oa, a) {
			added = append(added, a)
		}
	}
	for _, a := range oa {
		if !slices.Contains(ca, a) {
			removed = append(removed, a)
		}
	}
	return added, removed
}

func equal(a, b []netifmsg.Interface) bool {
	return slices.EqualFunc(a, b, func(x, y netifmsg.Interface) bool {
		return x.Index == y.Index && x.Name == y.Name && x.Up == y.Up && x.Loopback == y.Loopback &&
			x.Multicast == y.Multicast && x.Broadcast == y.Broadcast && x.PointToPoint == y.PointToPoint &&
			x.MTU == y.MTU && slices.Equal(x.Prefixes, y.Prefixes)
	})
}

func clone(ifs []netifmsg.Interface) []netifmsg.Interface {
	out := slices.Clone(ifs)
	for i := range out {
		out[i].Prefixes = slices.Clone(out[i].Prefixes)
	}
	return out
}
