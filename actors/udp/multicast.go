package udp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/netif"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/netifmsg"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// MulticastProps returns the props of a multicast actor configured by opts.
//
// The actor keeps one receiving socket per family, bound to the group port
// on the unspecified address (shared with other sockets on that port) and
// joined to the group on each chosen interface; the transport makes sure
// it receives only the groups it joined, even where the kernel would
// deliver other groups sent to the same port. For sending it keeps one
// socket per family and interface with that interface as its multicast
// interface, as MicroStack's ILibMulticastSocket kept one per IPv4 address,
// so SendToGroup reaches every link.
//
// It subscribes to an interface monitor (its own child unless
// opts.Monitor is given) and, on each netifmsg.InterfacesChanged, joins
// the group on interfaces that came up or got an address of the group's
// family and leaves it on those that lost them, telling the handler with
// GroupJoined and GroupLeft. A join that fails is retried at the next
// change.
func MulticastProps(opts MulticastOptions) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &multicast{opts: opts} })
}

// MulticastChildSpec returns a permanent supervisor child spec that runs a
// multicast actor named name.
func MulticastChildSpec(name string, opts MulticastOptions) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    MulticastKind,
		Props:   func() *actor.Props { return MulticastProps(opts) },
		Restart: supervisor.Permanent,
	}
}

// sendKey names a sending socket: one family on one interface.
type sendKey struct {
	group netip.Addr
	iface string
}

type multicast struct {
	opts  MulticastOptions
	log   *slog.Logger
	stats *inspect.Entry

	recv   map[netip.Addr]*conn // by group
	send   map[sendKey]*conn
	index  map[sendKey]int // the interface index joined on
	reader reader
}

// Receive is the table of contents of the multicast actor.
func (m *multicast) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		m.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		m.release()
	case *actor.Stopped:
	case packetIn:
		m.packet(ctx, msg)
	case connClosed:
		m.connClosed(ctx, msg)
	case *netifmsg.Subscribed:
		m.reconcile(ctx, msg.Current)
	case *netifmsg.InterfacesChanged:
		m.reconcile(ctx, msg.Current)
	case *udpmsg.SendToGroup:
		m.sendToGroup(ctx, msg)
	case *udpmsg.SendTo:
		m.sendTo(ctx, msg)
	case *udpmsg.GetMemberships:
		ctx.Respond(m.memberships())
	case *messages.SuspendReading:
		m.reader.suspended = true
	case *messages.ResumeReading:
		m.reader.resume(ctx, nil, msg.Credits, m.opts.Handler, m.stats)
	default:
		fail(ctx, m.stats, msg, fmt.Errorf("udp multicast: %T: %w", msg, messages.ErrUnknownCommand))
	}
}

func (m *multicast) start(ctx actor.Context) {
	m.log = m.opts.Logger.With("actor", ctx.Self().Id, "kind", MulticastKind)
	m.stats = inspect.Of(ctx)
	m.recv = make(map[netip.Addr]*conn)
	m.send = make(map[sendKey]*conn)
	m.index = make(map[sendKey]int)
	m.reader = newReader(m.opts.MaxQueued)
	if m.opts.Port == 0 || !m.opts.Group4.IsValid() && !m.opts.Group6.IsValid() {
		panic(fmt.Errorf("udp multicast: a port and a group are needed: %w", messages.ErrBadCommand))
	}
	var errs []error
	for _, g := range m.groups() {
		if !g.IsMulticast() || g.Is4() != (g == m.opts.Group4) {
			panic(fmt.Errorf("udp multicast: %v is not an IPv%s group: %w", g, map[bool]string{true: "4", false: "6"}[g == m.opts.Group4], messages.ErrBadCommand))
		}
		local := netip.AddrPortFrom(netip.IPv4Unspecified(), m.opts.Port)
		if g.Is6() {
			local = netip.AddrPortFrom(netip.IPv6Unspecified(), m.opts.Port)
		}
		c, err := openConn(ctx, m.opts.Network, local, transports.PacketOptions{ReuseAddr: true, MaxDatagram: m.opts.MaxDatagram}, m.opts.MaxQueued, m.stats)
		if err != nil {
			// A host without IPv6 still discovers over IPv4.
			m.log.Warn("cannot receive group", "group", g, "err", err)
			errs = append(errs, err)
			continue
		}
		m.recv[g] = c
	}
	if len(m.recv) == 0 {
		panic(fmt.Errorf("udp multicast: %w", errors.Join(errs...)))
	}
	if m.opts.Monitor != nil {
		ctx.Send(m.opts.Monitor, &netifmsg.Subscribe{Subscriber: ctx.Self()})
		return
	}
	_, err := inspect.Spawn(ctx, netif.Props(netif.Options{
		Network:     m.opts.Network,
		Settle:      m.opts.Settle,
		Subscribers: []*actor.PID{ctx.Self()},
		Clock:       m.opts.Clock,
		Logger:      m.opts.Logger,
	}), "netif", netif.Kind, nil)
	if err != nil {
		panic(fmt.Errorf("udp multicast: start interface monitor: %w", err))
	}
}

// groups lists the configured groups, IPv4 first.
func (m *multicast) groups() []netip.Addr {
	var gs []netip.Addr
	for _, g := range []netip.Addr{m.opts.Group4, m.opts.Group6} {
		if g.IsValid() {
			gs = append(gs, g)
		}
	}
	return gs
}

func (m *multicast) release() {
	for k, c := range m.send {
		c.close(defaultCloseWait)
		delete(m.send, k)
	}
	for g, c := range m.recv {
		c.close(defaultCloseWait)
		delete(m.recv, g)
	}
	m.reader.held = nil
}

// wanted lists where the groups should be joined now: on each chosen
// interface that is up and has an address of the group's family.
func (m *multicast) wanted(ifs []netifmsg.Interface) map[sendKey]int {
	want := make(map[sendKey]int)
	for _, ifc := range ifs {
		if !ifc.Up || !m.chosen(ifc) {
			continue
		}
		for g := range m.recv {
			if slices.ContainsFunc(ifc.Prefixes, func(p netip.Prefix) bool { return p.Addr().Is4() == g.Is4() }) {
				want[sendKey{g, ifc.Name}] = ifc.Index
			}
		}
	}
	return want
}

func (m *multicast) chosen(ifc netifmsg.Interface) bool {
	if len(m.opts.Interfaces) > 0 {
		return slices.Contains(m.opts.Interfaces, ifc.Name)
	}
	return ifc.Multicast && !ifc.Loopback
}

// reconcile joins and leaves so that the memberships match the interfaces.
func (m *multicast) reconcile(ctx actor.Context, ifs []netifmsg.Interface) {
	want := m.wanted(ifs)
	for _, k := range sortedKeys(m.index) {
		if idx, ok := want[k]; ok && idx == m.index[k] {
			continue
		}
		m.leave(ctx, k)
	}
	for _, k := range sortedKeys(want) {
		if _, ok := m.index[k]; !ok {
			m.join(ctx, k, want[k])
		}
	}
	m.stats.Set("memberships", int64(len(m.index)))
}

func (m *multicast) join(ctx actor.Context, k sendKey, index int) {
	recv := m.recv[k.group]
	if err := recv.pc.JoinGroup(k.group, k.iface); err != nil {
		m.stats.Add("join-failed", 1)
		m.log.Warn("join failed", "group", k.group, "interface", k.iface, "err", err)
		return
	}
	local := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)
	if k.group.Is6() {
		local = netip.AddrPortFrom(netip.IPv6Unspecified(), 0)
	}
	snd, err := openConn(ctx, m.opts.Network, local, transports.PacketOptions{
		MaxDatagram: m.opts.MaxDatagram,
		Multicast:   transports.MulticastOptions{Interface: k.iface, TTL: m.opts.TTL, NoLoopback: m.opts.NoLoopback},
	}, m.opts.MaxQueued, m.stats)
	if err != nil {
		_ = recv.pc.LeaveGroup(k.group, k.iface)
		m.stats.Add("join-failed", 1)
		m.log.Warn("cannot send on interface", "group", k.group, "interface", k.iface, "err", err)
		return
	}
	m.send[k], m.index[k] = snd, index
	m.log.Info("joined group", "group", k.group, "interface", k.iface)
	m.notify(ctx, &udpmsg.GroupJoined{Group: k.group, Interface: k.iface})
}

func (m *multicast) leave(ctx actor.Context, k sendKey) {
	// The interface may be gone already, and the membership with it.
	if err := m.recv[k.group].pc.LeaveGroup(k.group, k.iface); err != nil {
		m.log.Debug("leave", "group", k.group, "interface", k.iface, "err", err)
	}
	m.send[k].close(defaultCloseWait)
	delete(m.send, k)
	delete(m.index, k)
	m.log.Info("left group", "group", k.group, "interface", k.iface)
	m.notify(ctx, &udpmsg.GroupLeft{Group: k.group, Interface: k.iface})
}

func (m *multicast) notify(ctx actor.Context, msg any) {
	if m.opts.Handler != nil {
		ctx.Send(m.opts.Handler, msg)
	}
}

func (m *multicast) sendToGroup(ctx actor.Context, s *udpmsg.SendToGroup) {
	if len(m.send) == 0 {
		fail(ctx, m.stats, s, udpmsg.ErrNoMembership)
		return
	}
	var errs []error
	for _, k := range sortedKeys(m.send) {
		to := netip.AddrPortFrom(k.group, m.opts.Port)
		if err := m.send[k].pc.SendTo(s.Data, to); err != nil {
			m.stats.Add("send-failed", 1)
			errs = append(errs, fmt.Errorf("on %s: %w", k.iface, err))
			continue
		}
		m.stats.Add("datagrams-out", 1)
		m.stats.Add("bytes-out", int64(len(s.Data)))
	}
	if len(errs) > 0 {
		fail(ctx, nil, s, fmt.Errorf("udp multicast: %w", errors.Join(errs...)))
		return
	}
	if s.Ack != nil {
		respond(ctx, &udpmsg.Sent{Ack: s.Ack})
	}
}

// sendTo sends a unicast datagram from the receiving socket of the
// destination's family, so that the answer comes back to the group port.
func (m *multicast) sendTo(ctx actor.Context, s *udpmsg.SendTo) {
	var c *conn
	for g, rc := range m.recv {
		if g.Is4() == s.To.Addr().Unmap().Is4() {
			c = rc
		}
	}
	if c == nil {
		fail(ctx, m.stats, s, fmt.Errorf("udp multicast: send to %v: no socket of that family: %w", s.To, transports.ErrInvalidAddress))
		return
	}
	if err := c.pc.SendTo(s.Data, s.To); err != nil {
		m.stats.Add("send-failed", 1)
		fail(ctx, nil, s, fmt.Errorf("udp multicast: %w", err))
		return
	}
	m.stats.Add("datagrams-out", 1)
	m.stats.Add("bytes-out", int64(len(s.Data)))
	if s.Ack != nil {
		respond(ctx, &udpmsg.Sent{Ack: s.Ack})
	}
}

func (m *multicast) packet(ctx actor.Context, p packetIn) {
	p.c.handled()
	if !m.owns(p.c) {
		return
	}
	m.reader.packet(ctx, nil, p.p, m.opts.Handler, m.stats)
}

func (m *multicast) owns(c *conn) bool {
	for _, o := range m.recv {
		if o == c {
			return true
		}
	}
	for _, o := range m.send {
		if o == c {
			return true
		}
	}
	return false
}

// connClosed fails the actor when one of its sockets ended on its own.
func (m *multicast) connClosed(_ actor.Context, c connClosed) {
	if !m.owns(c.c) {
		return
	}
	err := c.err
	if err == nil {
		err = transports.ErrClosed
	}
	panic(fmt.Errorf("udp multicast: socket %v: %w", c.c.local, err))
}

func (m *multicast) memberships() *udpmsg.Memberships {
	out := &udpmsg.Memberships{Port: m.opts.Port}
	for _, k := range sortedKeys(m.index) {
		out.Joined = append(out.Joined, udpmsg.Membership{Group: k.group, Interface: k.iface})
	}
	return out
}

// sortedKeys orders memberships by group, then interface, so that joins,
// leaves and sends happen in the same order every run.
func sortedKeys[V any](m map[sendKey]V) []sendKey {
	keys := make([]sendKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sendKey) int {
		if c := a.group.Compare(b.group); c != 0 {
			return c
		}
		return strings.Compare(a.iface, b.iface)
	})
	return keys
}
