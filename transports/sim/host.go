package sim

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/ifdiff"
)

// Host is a machine on the simulated network. It implements
// transports.Network; give it to the code under test in place of the
// operating system's network.
type Host struct {
	n        *Network
	name     string
	ifaces   []transports.Interface // sorted by name; guarded by n.mu
	listen   []*listener
	packets  []*packetConn
	watches  []*watch
	nextPort uint16
}

var _ transports.Network = (*Host)(nil)

// AddHost adds a host named name with addrs on its "eth0" interface (IPv4
// addresses as /24, IPv6 as /64) beside "lo". It panics if a name or an
// address is already taken: that is a mistake in the test's setup.
func (n *Network) AddHost(name string, addrs ...netip.Addr) *Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	h := &Host{n: n, name: name, nextPort: 49152}
	for _, o := range n.hosts {
		if o.name == name {
			panic(fmt.Sprintf("sim: host %q added twice", name))
		}
	}
	eth := transports.Interface{Name: "eth0", Flags: transports.FlagUp | transports.FlagBroadcast | transports.FlagMulticast, MTU: 1500,
		HardwareAddr: []byte{0x02, 0, 0, 0, byte(len(n.hosts) >> 8), byte(len(n.hosts))}}
	for _, a := range addrs {
		if !a.IsValid() || a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() {
			panic(fmt.Sprintf("sim: host %q: bad address %v", name, a))
		}
		if n.owner(a) != nil {
			panic(fmt.Sprintf("sim: address %v used twice", a))
		}
		bits := 24
		if a.Is6() {
			bits = 64
		}
		eth.Prefixes = append(eth.Prefixes, netip.PrefixFrom(a, bits))
	}
	ifdiff.SortPrefixes(eth.Prefixes)
	lo := transports.Interface{Name: "lo", Flags: transports.FlagUp | transports.FlagLoopback | transports.FlagMulticast, MTU: 65536,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8"), netip.MustParsePrefix("::1/128")}}
	n.ifIndex++
	lo.Index = n.ifIndex
	n.ifIndex++
	eth.Index = n.ifIndex
	h.ifaces = []transports.Interface{eth, lo}
	n.hosts = append(n.hosts, h)
	return h
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// owner returns the host with a (non-loopback) address on an up interface.
func (n *Network) owner(a netip.Addr) *Host {
	a = a.Unmap()
	for _, h := range n.hosts {
		if h.has(a) {
			return h
		}
	}
	return nil
}

// has reports whether a is one of the host's addresses, loopback included.
func (h *Host) has(a netip.Addr) bool {
	for _, ifc := range h.ifaces {
		if !ifc.Flags.Up() {
			continue
		}
		for _, p := range ifc.Prefixes {
			if p.Addr() == a {
				return true
			}
		}
	}
	return false
}

// route returns the host that receives traffic for a sent from h.
func (h *Host) route(a netip.Addr) *Host {
	a = a.Unmap()
	if a.IsLoopback() || h.has(a) {
		return h
	}
	return h.n.owner(a)
}

// source picks h's address to send to dst from: loopback for loopback, else
// the first address of dst's family.
func (h *Host) source(dst netip.Addr) (netip.Addr, bool) {
	dst = dst.Unmap()
	if dst.IsLoopback() {
		return dst, true
	}
	for _, ifc := range h.ifaces {
		if !ifc.Flags.Up() || ifc.Flags&transports.FlagLoopback != 0 {
			continue
		}
		for _, p := range ifc.Prefixes {
			if p.Addr().Is4() == dst.Is4() {
				return p.Addr(), true
			}
		}
	}
	return netip.Addr{}, false
}

// port returns the next free ephemeral port.
func (h *Host) port() uint16 {
	for range 16384 {
		p := h.nextPort
		h.nextPort++
		if h.nextPort == 0 {
			h.nextPort = 49152
		}
		if !h.portUsed(p) {
			return p
		}
	}
	return 0
}

func (h *Host) portUsed(p uint16) bool {
	for _, l := range h.listen {
		if l.addr.Port() == p {
			return true
		}
	}
	for _, pc := range h.packets {
		if pc.local.Port() == p {
			return true
		}
	}
	return false
}

// Interfaces returns the host's interfaces.
func (h *Host) Interfaces() ([]transports.Interface, error) {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	return h.snapshot(), nil
}

func (h *Host) snapshot() []transports.Interface {
	out := make([]transports.Interface, len(h.ifaces))
	for i, ifc := range h.ifaces {
		ifc.Prefixes = slices.Clone(ifc.Prefixes)
		ifc.HardwareAddr = slices.Clone(ifc.HardwareAddr)
		out[i] = ifc
	}
	return out
}

// AddInterface adds ifc to the host (its Index is assigned). Watchers see
// the interface and its addresses appear.
func (h *Host) AddInterface(ifc transports.Interface) error {
	return h.change(func() error {
		if slices.ContainsFunc(h.ifaces, func(o transports.Interface) bool { return o.Name == ifc.Name }) {
			return fmt.Errorf("sim: interface %q exists on %s", ifc.Name, h.name)
		}
		h.n.ifIndex++
		ifc.Index = h.n.ifIndex
		ifc.Prefixes = slices.Clone(ifc.Prefixes)
		ifdiff.SortPrefixes(ifc.Prefixes)
		h.ifaces = append(h.ifaces, ifc)
		slices.SortFunc(h.ifaces, func(a, b transports.Interface) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
}

// RemoveInterface removes the named interface; multicast memberships on it
// end.
func (h *Host) RemoveInterface(name string) error {
	return h.change(func() error {
		i := h.iface(name)
		if i < 0 {
			return fmt.Errorf("%w: %q on %s", transports.ErrNoInterface, name, h.name)
		}
		h.ifaces = slices.Delete(h.ifaces, i, i+1)
		for _, pc := range h.packets {
			for m := range pc.groups {
				if m.ifname == name {
					delete(pc.groups, m)
				}
			}
		}
		return nil
	})
}

// SetInterfaceUp brings the named interface up or down. A down interface's
// addresses receive nothing.
func (h *Host) SetInterfaceUp(name string, up bool) error {
	return h.change(func() error {
		i := h.iface(name)
		if i < 0 {
			return fmt.Errorf("%w: %q on %s", transports.ErrNoInterface, name, h.name)
		}
		if up {
			h.ifaces[i].Flags |= transports.FlagUp
		} else {
			h.ifaces[i].Flags &^= transports.FlagUp
		}
		return nil
	})
}

// AddPrefix adds an address to the named interface.
func (h *Host) AddPrefix(name string, p netip.Prefix) error {
	return h.change(func() error {
		i := h.iface(name)
		if i < 0 {
			return fmt.Errorf("%w: %q on %s", transports.ErrNoInterface, name, h.name)
		}
		if o := h.n.owner(p.Addr()); o != nil {
			return fmt.Errorf("sim: address %v is on %s: %w", p.Addr(), o.name, transports.ErrAddrInUse)
		}
		h.ifaces[i].Prefixes = append(h.ifaces[i].Prefixes, p)
		ifdiff.SortPrefixes(h.ifaces[i].Prefixes)
		return nil
	})
}

// RemovePrefix removes an address from the named interface.
func (h *Host) RemovePrefix(name string, p netip.Prefix) error {
	return h.change(func() error {
		i := h.iface(name)
		if i < 0 {
			return fmt.Errorf("%w: %q on %s", transports.ErrNoInterface, name, h.name)
		}
		j := slices.Index(h.ifaces[i].Prefixes, p)
		if j < 0 {
			return fmt.Errorf("sim: %v not on %s/%s: %w", p, h.name, name, transports.ErrAddrNotAvailable)
		}
		h.ifaces[i].Prefixes = slices.Delete(h.ifaces[i].Prefixes, j, j+1)
		return nil
	})
}

func (h *Host) iface(name string) int {
	return slices.IndexFunc(h.ifaces, func(o transports.Interface) bool { return o.Name == name })
}

// change applies f and queues the differences for every watcher.
func (h *Host) change(f func() error) error {
	h.n.mu.Lock()
	defer h.n.mu.Unlock()
	before := h.snapshot()
	if err := f(); err != nil {
		return err
	}
	evs := ifdiff.Diff(before, h.snapshot())
	for _, w := range h.watches {
		w := w
		h.n.after(0, func() {
			h.n.call(func() { w.deliver(evs) })
		})
	}
	return nil
}

type watch struct {
	h      *Host
	fn     func(transports.InterfaceEvent)
	hmu    sync.Mutex
	closed bool // guarded by h.n.mu
}

// WatchInterfaces reports the host's interface changes. The initial state
// is reported before it returns; later changes from the event loop.
func (h *Host) WatchInterfaces(fn func(transports.InterfaceEvent)) (io.Closer, error) {
	w := &watch{h: h, fn: fn}
	w.hmu.Lock()
	defer w.hmu.Unlock()
	h.n.mu.Lock()
	h.watches = append(h.watches, w)
	snap := h.snapshot()
	h.n.mu.Unlock()
	for _, ev := range ifdiff.Diff(nil, snap) {
		fn(ev)
	}
	return w, nil
}

func (w *watch) deliver(evs []transports.InterfaceEvent) {
	w.hmu.Lock()
	defer w.hmu.Unlock()
	w.h.n.mu.Lock()
	closed := w.closed
	w.h.n.mu.Unlock()
	if closed {
		return
	}
	for _, ev := range evs {
		w.fn(ev)
	}
}

// Close ends the watch; no call starts after it returns.
func (w *watch) Close() error {
	n := w.h.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if w.closed {
		return transports.ErrClosed
	}
	w.closed = true
	w.h.watches = slices.DeleteFunc(w.h.watches, func(o *watch) bool { return o == w })
	return nil
}

// Dial opens a simulated stream; see transports.Network.
func (h *Host) Dial(ctx context.Context, remote netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
	return h.dial(ctx, remote, opts)
}
