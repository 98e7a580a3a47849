package osnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/oserr"
)

const maxDatagram = 65535

// packetConn is a UDP socket read by one goroutine it owns once started.
type packetConn struct {
	c         *net.UDPConn
	p4        *ipv4.PacketConn // multicast and options on IPv4 sockets
	p6        *ipv6.PacketConn // and on IPv6 (also dual-stack) sockets
	v6        bool             // the socket is AF_INET6
	dualStack bool
	local     netip.AddrPort
	max       int
	broadcast bool
	// dstInfo: the kernel reports each datagram's destination, so groups
	// this socket did not join can be filtered out. Linux delivers every
	// group joined by any socket on the host to a wildcard-bound socket on
	// that port (IP_MULTICAST_ALL defaults to 1).
	dstInfo bool

	mu      sync.Mutex
	started bool
	closed  bool
	reading bool
	groups  map[membership]bool
	resume  chan struct{}
	done    chan struct{}

	hmu   sync.Mutex
	h     transports.PacketHandler
	ended bool
}

type membership struct {
	group  netip.Addr
	ifname string
}

var _ transports.PacketConn = (*packetConn)(nil)

// ListenPacket opens a UDP socket on local. An IPv4 address gives an IPv4
// socket; the unspecified IPv6 address or the zero AddrPort a dual-stack
// one; another IPv6 address an IPv6-only one.
func (n *Network) ListenPacket(local netip.AddrPort, opts transports.PacketOptions) (transports.PacketConn, error) {
	if local.Addr().IsValid() && local.Addr().IsMulticast() {
		return nil, fmt.Errorf("listen packet %v: bind the port on an unspecified address and JoinGroup: %w", local, transports.ErrInvalidAddress)
	}
	netw := network("udp", local.Addr())
	var la *net.UDPAddr
	if local.Addr().IsValid() {
		la = net.UDPAddrFromAddrPort(local)
	} else {
		la = &net.UDPAddr{Port: int(local.Port())}
	}
	lc := net.ListenConfig{}
	if opts.ReuseAddr {
		lc.Control = reuseAddr
	}
	pc, err := lc.ListenPacket(context.Background(), netw, la.String())
	if err != nil {
		return nil, fmt.Errorf("listen packet %v: %w", local, oserr.Wrap(err))
	}
	c := pc.(*net.UDPConn)
	bound := c.LocalAddr().(*net.UDPAddr)
	p := &packetConn{
		c:         c,
		local:     bound.AddrPort(),
		v6:        bound.IP.To4() == nil,
		dualStack: netw == "udp",
		max:       opts.MaxDatagram,
		broadcast: opts.Broadcast,
		reading:   true,
		groups:    make(map[membership]bool),
		resume:    make(chan struct{}, 1),
		done:      make(chan struct{}),
	}
	if p.max <= 0 || p.max > maxDatagram {
		p.max = maxDatagram
	}
	if err := p.configure(opts); err != nil {
		c.Close()
		return nil, fmt.Errorf("listen packet %v: %w", local, err)
	}
	return p, nil
}

func (p *packetConn) configure(o transports.PacketOptions) error {
	if err := setBroadcast(p.c, o.Broadcast); err != nil && !p.v6 {
		return fmt.Errorf("broadcast: %w", err)
	}
	if o.SendBuffer > 0 {
		if err := p.c.SetWriteBuffer(o.SendBuffer); err != nil {
			return err
		}
	}
	if o.ReceiveBuffer > 0 {
		if err := p.c.SetReadBuffer(o.ReceiveBuffer); err != nil {
			return err
		}
	}
	var ifi *net.Interface
	if o.Multicast.Interface != "" {
		var err error
		if ifi, err = net.InterfaceByName(o.Multicast.Interface); err != nil {
			return fmt.Errorf("%w: %q: %w", transports.ErrNoInterface, o.Multicast.Interface, err)
		}
	}
	mttl := o.Multicast.TTL
	if mttl <= 0 {
		mttl = 1
	}
	if p.v6 {
		p.p6 = ipv6.NewPacketConn(p.c)
		p.dstInfo = p.p6.SetControlMessage(ipv6.FlagDst, true) == nil
		return firstErr(
			opt(o.TTL > 0, func() error { return p.p6.SetHopLimit(o.TTL) }),
			opt(ifi != nil, func() error { return p.p6.SetMulticastInterface(ifi) }),
			p.p6.SetMulticastHopLimit(mttl),
			p.p6.SetMulticastLoopback(!o.Multicast.NoLoopback),
		)
	}
	p.p4 = ipv4.NewPacketConn(p.c)
	p.dstInfo = p.p4.SetControlMessage(ipv4.FlagDst, true) == nil
	return firstErr(
		opt(o.TTL > 0, func() error { return p.p4.SetTTL(o.TTL) }),
		opt(ifi != nil, func() error { return p.p4.SetMulticastInterface(ifi) }),
		p.p4.SetMulticastTTL(mttl),
		p.p4.SetMulticastLoopback(!o.Multicast.NoLoopback),
	)
}

func opt(on bool, f func() error) error {
	if !on {
		return nil
	}
	return f()
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *packetConn) LocalAddr() netip.AddrPort { return p.local }

func (p *packetConn) Start(h transports.PacketHandler) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return transports.ErrClosed
	}
	if p.started {
		return transports.ErrStarted
	}
	p.started, p.h = true, h
	go p.readLoop()
	return nil
}

func (p *packetConn) SetReading(on bool) {
	p.mu.Lock()
	p.reading = on
	p.mu.Unlock()
	if on {
		nudge(p.resume)
	}
}

func (p *packetConn) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return transports.ErrClosed
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	return p.c.Close()
}

func (p *packetConn) SendTo(b []byte, to netip.AddrPort) error {
	if err := p.checkDest(to); err != nil {
		return fmt.Errorf("send to %v: %w", to, err)
	}
	if p.isClosed() {
		return fmt.Errorf("send to %v: %w", to, transports.ErrClosed)
	}
	if !p.v6 || !p.dualStack {
		to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	}
	if _, err := p.c.WriteToUDPAddrPort(b, to); err != nil {
		if errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("send to %v: %w", to, transports.ErrClosed)
		}
		return fmt.Errorf("send to %v: %w", to, oserr.Wrap(err))
	}
	return nil
}

// checkDest rejects, before the kernel sees it, a destination the socket
// cannot send to; the kernel's own errors for the rest are mapped too.
func (p *packetConn) checkDest(to netip.AddrPort) error {
	a := to.Addr()
	switch {
	case !a.IsValid() || to.Port() == 0 || a.IsUnspecified():
		return transports.ErrInvalidAddress
	case p.v6 && !p.dualStack && a.Unmap().Is4():
		return fmt.Errorf("IPv4 destination on an IPv6 socket: %w", transports.ErrInvalidAddress)
	case !p.v6 && a.Is6() && !a.Is4In6():
		return fmt.Errorf("IPv6 destination on an IPv4 socket: %w", transports.ErrInvalidAddress)
	case a.Unmap() == netip.AddrFrom4([4]byte{255, 255, 255, 255}) && !p.broadcast:
		return fmt.Errorf("broadcast not enabled: %w", transports.ErrInvalidAddress)
	}
	return nil
}

func (p *packetConn) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

func (p *packetConn) JoinGroup(group netip.Addr, ifname string) error {
	return p.membership(true, group, ifname)
}

func (p *packetConn) LeaveGroup(group netip.Addr, ifname string) error {
	return p.membership(false, group, ifname)
}

func (p *packetConn) membership(join bool, group netip.Addr, ifname string) error {
	op := "join"
	if !join {
		op = "leave"
	}
	group = group.Unmap()
	if !group.IsMulticast() {
		return fmt.Errorf("%s %v: not a multicast group: %w", op, group, transports.ErrInvalidAddress)
	}
	var ifi *net.Interface
	if ifname != "" {
		var err error
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return fmt.Errorf("%s %v on %q: %w: %w", op, group, ifname, transports.ErrNoInterface, err)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("%s %v: %w", op, group, transports.ErrClosed)
	}
	m := membership{group, ifname}
	if !join && !p.groups[m] {
		return fmt.Errorf("%s %v on %q: not joined: %w", op, group, ifname, transports.ErrInvalidAddress)
	}
	ga := &net.UDPAddr{IP: group.AsSlice()}
	var err error
	switch {
	case group.Is4() && p.p4 != nil && join:
		err = p.p4.JoinGroup(ifi, ga)
	case group.Is4() && p.p4 != nil:
		err = p.p4.LeaveGroup(ifi, ga)
	case group.Is6() && p.p6 != nil && join:
		err = p.p6.JoinGroup(ifi, ga)
	case group.Is6() && p.p6 != nil:
		err = p.p6.LeaveGroup(ifi, ga)
	default:
		return fmt.Errorf("%s %v: group family differs from the socket's (%v): %w", op, group, p.local, transports.ErrInvalidAddress)
	}
	if err != nil {
		return fmt.Errorf("%s %v on %q: %w", op, group, ifname, oserr.Wrap(err))
	}
	if join {
		p.groups[m] = true
	} else {
		delete(p.groups, m)
	}
	return nil
}

// joined reports whether the socket joined group on some interface.
func (p *packetConn) joined(group netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for m := range p.groups {
		if m.group == group {
			return true
		}
	}
	return false
}

func (p *packetConn) readLoop() {
	var reason error
	defer func() {
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if !closed {
			p.Close()
		}
		p.hmu.Lock()
		defer p.hmu.Unlock()
		p.ended = true
		p.h.OnClosed(reason)
	}()
	// One byte more than the largest datagram delivered whole: a datagram
	// that fills it was longer, whatever the platform says about MSG_TRUNC.
	buf := make([]byte, p.max+1)
	oob := make([]byte, max(len(ipv4.NewControlMessage(ipv4.FlagDst)), len(ipv6.NewControlMessage(ipv6.FlagDst))))
	for {
		n, oobn, flags, from, err := p.c.ReadMsgUDPAddrPort(buf, oob)
		trunc := flags&msgTrunc != 0 || n > p.max
		if err != nil && truncatedErr(err) {
			err, trunc = nil, true
		}
		if err != nil {
			if p.isClosed() || errors.Is(err, net.ErrClosed) {
				return
			}
			if transientRecv(err) {
				continue
			}
			reason = fmt.Errorf("receive: %w", oserr.Wrap(err))
			return
		}
		pkt := transports.Packet{
			From:      netip.AddrPortFrom(from.Addr().Unmap(), from.Port()),
			To:        p.dest(oob[:oobn]),
			Data:      make([]byte, min(n, p.max)),
			Truncated: trunc,
		}
		copy(pkt.Data, buf)
		if pkt.To.IsMulticast() && !p.joined(pkt.To) {
			continue // another socket's group on the same port
		}
		if !p.waitReading() {
			return
		}
		p.hmu.Lock()
		p.h.OnPacket(pkt)
		p.hmu.Unlock()
	}
}

// dest parses the destination address from the control message.
func (p *packetConn) dest(oob []byte) netip.Addr {
	if !p.dstInfo || len(oob) == 0 {
		return netip.Addr{}
	}
	var ip net.IP
	if p.v6 {
		var cm ipv6.ControlMessage
		if cm.Parse(oob) != nil {
			return netip.Addr{}
		}
		ip = cm.Dst
	} else {
		var cm ipv4.ControlMessage
		if cm.Parse(oob) != nil {
			return netip.Addr{}
		}
		ip = cm.Dst
	}
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

// waitReading blocks while reading is suspended; false means closed.
func (p *packetConn) waitReading() bool {
	for {
		p.mu.Lock()
		closed, on := p.closed, p.reading
		p.mu.Unlock()
		if closed {
			return false
		}
		if on {
			return true
		}
		select {
		case <-p.resume:
		case <-p.done:
		}
	}
}
