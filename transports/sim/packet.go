package sim

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/microstack-go/microstack/transports"
)

const (
	maxDatagram        = 65535
	defaultPacketQueue = 208 << 10
)

// packetConn is a simulated UDP socket; fields after the first group are
// guarded by n.mu.
type packetConn struct {
	n     *Network
	host  *Host
	local netip.AddrPort
	opts  transports.PacketOptions
	max   int
	limit int // bytes held while not delivered

	started, reading, closed, ended bool
	h                               transports.PacketHandler
	queue                           []transports.Packet
	queued                          int
	groups                          map[membership]bool
}

type membership struct {
	group  netip.Addr
	ifname string
}

var _ transports.PacketConn = (*packetConn)(nil)

// ListenPacket opens a simulated UDP socket; see transports.Network.
func (h *Host) ListenPacket(local netip.AddrPort, opts transports.PacketOptions) (transports.PacketConn, error) {
	n := h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	addr, err := h.bindable(local)
	if err != nil {
		return nil, fmt.Errorf("listen packet %v: %w", local, err)
	}
	if local.Port() != 0 && !opts.ReuseAddr {
		for _, o := range h.packets {
			if o.local.Port() == addr.Port() && (o.local.Addr() == addr.Addr() || o.local.Addr().IsUnspecified() || addr.Addr().IsUnspecified()) {
				return nil, fmt.Errorf("listen packet %v: %w", local, transports.ErrAddrInUse)
			}
		}
	}
	if mi := opts.Multicast.Interface; mi != "" && h.iface(mi) < 0 {
		return nil, fmt.Errorf("listen packet %v: %w: %q", local, transports.ErrNoInterface, mi)
	}
	p := &packetConn{n: n, host: h, local: addr, opts: opts, max: opts.MaxDatagram, limit: opts.ReceiveBuffer,
		reading: true, groups: make(map[membership]bool)}
	if p.max <= 0 || p.max > maxDatagram {
		p.max = maxDatagram
	}
	if p.limit <= 0 {
		p.limit = defaultPacketQueue
	}
	h.packets = append(h.packets, p)
	return p, nil
}

func (p *packetConn) LocalAddr() netip.AddrPort { return p.local }

func (p *packetConn) Start(h transports.PacketHandler) error {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.closed {
		return transports.ErrClosed
	}
	if p.started {
		return transports.ErrStarted
	}
	p.started, p.h = true, h
	n.after(0, p.flush)
	return nil
}

func (p *packetConn) SetReading(on bool) {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	p.reading = on
	if on {
		n.after(0, p.flush)
	}
}

func (p *packetConn) Close() error {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.closed {
		return transports.ErrClosed
	}
	p.closed = true
	p.queue = nil
	p.host.packets = slices.DeleteFunc(p.host.packets, func(o *packetConn) bool { return o == p })
	n.after(0, func() {
		if p.started && !p.ended {
			p.ended = true
			h := p.h
			n.call(func() { h.OnClosed(nil) })
		}
	})
	return nil
}

func (p *packetConn) JoinGroup(group netip.Addr, ifname string) error {
	return p.membership(true, group, ifname)
}

func (p *packetConn) LeaveGroup(group netip.Addr, ifname string) error {
	return p.membership(false, group, ifname)
}

func (p *packetConn) membership(join bool, group netip.Addr, ifname string) error {
	n := p.n
	n.mu.Lock()
	defer n.mu.Unlock()
	group = group.Unmap()
	switch {
	case p.closed:
		return transports.ErrClosed
	case !group.IsMulticast():
		return fmt.Errorf("group %v: %w", group, transports.ErrInvalidAddress)
	case !p.local.Addr().IsUnspecified() && p.local.Addr().Is4() != group.Is4(),
		p.local.Addr() == netip.IPv4Unspecified() && group.Is6():
		return fmt.Errorf("group %v on socket %v: %w", group, p.local, transports.ErrInvalidAddress)
	}
	if ifname == "" {
		ifname = "eth0"
	}
	if i := p.host.iface(ifname); i < 0 || p.host.ifaces[i].Flags&transports.FlagMulticast == 0 {
		return fmt.Errorf("group %v: %w: %q", group, transports.ErrNoInterface, ifname)
	}
	m := membership{group, ifname}
	if !join {
		if !p.groups[m] {
			return fmt.Errorf("leave %v on %q: not joined: %w", group, ifname, transports.ErrInvalidAddress)
		}
		delete(p.groups, m)
		return nil
	}
	p.groups[m] = true
	return nil
}

var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (p *packetConn) SendTo(b []byte, to netip.AddrPort) error {
	n := p.n
	a := to.Addr().Unmap()
	to = netip.AddrPortFrom(a, to.Port())
	la := p.local.Addr()
	switch {
	case !a.IsValid() || to.Port() == 0 || a.IsUnspecified():
		return fmt.Errorf("send to %v: %w", to, transports.ErrInvalidAddress)
	case la.Is4() && a.Is6(), la.Is6() && !la.IsUnspecified() && a.Is4():
		return fmt.Errorf("send to %v from %v: address family: %w", to, p.local, transports.ErrInvalidAddress)
	case a == broadcast4 && !p.opts.Broadcast:
		return fmt.Errorf("send to %v: broadcast not enabled: %w", to, transports.ErrInvalidAddress)
	case len(b) > maxDatagram-28:
		return fmt.Errorf("send to %v: %d bytes: %w", to, len(b), transports.ErrTooLarge)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.closed {
		return fmt.Errorf("send to %v: %w", to, transports.ErrClosed)
	}
	src, ok := p.host.source(a)
	if la.IsValid() && !la.IsUnspecified() {
		src, ok = la, true
	}
	if a.IsMulticast() || a == broadcast4 {
		if mi := p.opts.Multicast.Interface; mi != "" {
			if i := p.host.iface(mi); i < 0 || !p.host.ifaces[i].Flags.Up() {
				return fmt.Errorf("send to %v: %w: %q", to, transports.ErrNoInterface, mi)
			}
		}
		if !ok {
			src = la
		}
	} else if p.host.route(a) == nil {
		return fmt.Errorf("send to %v: %w", to, transports.ErrUnreachable)
	} else if !ok {
		return fmt.Errorf("send to %v: no %s address: %w", to, family(a), transports.ErrUnreachable)
	}
	from := netip.AddrPortFrom(src, p.local.Port())
	data := slices.Clone(b)
	n.record(TraceEvent{Kind: "send", Proto: "udp", From: from, To: to, Len: len(data)})
	for _, r := range n.receivers(p, to) {
		n.carry(p.host, r, transports.Packet{From: from, To: a, Data: data})
	}
	return nil
}

// receivers lists the sockets a datagram to `to` reaches, in a fixed order
// (hosts as added, sockets as opened).
func (n *Network) receivers(p *packetConn, to netip.AddrPort) []*packetConn {
	a := to.Addr()
	var out []*packetConn
	switch {
	case a.IsMulticast():
		for _, h := range n.hosts {
			if h == p.host && p.opts.Multicast.NoLoopback {
				continue
			}
			for _, r := range h.packets {
				if r.local.Port() == to.Port() && r.memberOf(a) {
					out = append(out, r)
				}
			}
		}
	case a == broadcast4:
		for _, h := range n.hosts {
			for _, r := range h.packets {
				if r.local.Port() == to.Port() && (r.local.Addr().IsUnspecified() || r.local.Addr().Is4()) {
					out = append(out, r)
				}
			}
		}
	default:
		h := p.host.route(a)
		// With several sockets on one port (ReuseAddr), the last bound
		// gets unicast, as on Linux.
		for _, r := range slices.Backward(h.packets) {
			ra := r.local.Addr()
			if r.local.Port() == to.Port() && (ra == a || ra == netip.IPv6Unspecified() || ra.IsUnspecified() && ra.Is4() == a.Is4()) {
				out = append(out, r)
				break
			}
		}
		if len(out) == 0 {
			n.record(TraceEvent{Kind: "drop-noport", Proto: "udp", To: to})
		}
	}
	return out
}

// memberOf reports whether p joined group on an interface that is up.
func (p *packetConn) memberOf(group netip.Addr) bool {
	for m := range p.groups {
		if m.group != group {
			continue
		}
		if i := p.host.iface(m.ifname); i >= 0 && p.host.ifaces[i].Flags.Up() {
			return true
		}
	}
	return false
}

// carry applies the link's faults to one receiver's copy of a datagram.
func (n *Network) carry(from *Host, r *packetConn, pkt transports.Packet) {
	te := TraceEvent{Proto: "udp", From: pkt.From, To: netip.AddrPortFrom(pkt.To, r.local.Port()), Len: len(pkt.Data), Note: r.host.name}
	if n.partitioned(from, r.host) {
		te.Kind = "drop-partition"
		n.record(te)
		return
	}
	l := n.link(from, r.host)
	if n.chance(l.Loss) {
		te.Kind = "drop-loss"
		n.record(te)
		return
	}
	copies := 1
	if n.chance(l.Duplicate) {
		copies = 2
		te.Kind = "duplicate"
		n.record(te)
	}
	for range copies {
		d := n.delay(l)
		if n.chance(l.Reorder) {
			rd := l.ReorderDelay
			if rd <= 0 {
				rd = 2*(l.Latency+l.Jitter) + time.Millisecond
			}
			d += rd
		}
		n.after(d, func() {
			// The partition is checked again on arrival: a datagram in
			// flight when the link is cut is lost.
			if n.partitioned(from, r.host) {
				te.Kind = "drop-partition"
				n.record(te)
				return
			}
			r.arrive(pkt, te)
		})
	}
}

// arrive queues a datagram at the socket and delivers what it can.
func (p *packetConn) arrive(pkt transports.Packet, te TraceEvent) {
	n := p.n
	if p.closed {
		return
	}
	if pkt.To.IsMulticast() && !p.memberOf(pkt.To) {
		return // left the group, or its interface went down, meanwhile
	}
	if len(pkt.Data) > p.max {
		pkt.Data, pkt.Truncated = pkt.Data[:p.max:p.max], true
	}
	if p.queued+len(pkt.Data) > p.limit {
		te.Kind = "drop-full"
		n.record(te)
		return
	}
	te.Kind = "deliver"
	n.record(te)
	p.queue = append(p.queue, pkt)
	p.queued += len(pkt.Data)
	p.flush()
}

// flush delivers queued datagrams while reading. Each receiver gets its own
// copy of the bytes.
func (p *packetConn) flush() {
	if !p.started || !p.reading || p.closed || p.ended {
		return
	}
	h := p.h
	for _, pkt := range p.queue {
		pkt.Data = slices.Clone(pkt.Data)
		p.n.call(func() { h.OnPacket(pkt) })
	}
	p.queue, p.queued = nil, 0
}
