package osnet

import (
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/internal/ifdiff"
)

// Interfaces returns the system's interfaces with their addresses.
func (n *Network) Interfaces() ([]transports.Interface, error) { return n.list() }

func systemInterfaces() ([]transports.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("interfaces: %w", err)
	}
	out := make([]transports.Interface, 0, len(ifs))
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			// The interface may have gone between the two calls.
			continue
		}
		t := transports.Interface{
			Index:        ifi.Index,
			Name:         ifi.Name,
			Flags:        flags(ifi.Flags),
			MTU:          ifi.MTU,
			HardwareAddr: append([]byte(nil), ifi.HardwareAddr...),
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			if ip.Is4In6() && ones >= 96 {
				ip, ones = ip.Unmap(), ones-96
			} else {
				ip = ip.Unmap()
			}
			t.Prefixes = append(t.Prefixes, netip.PrefixFrom(ip, ones))
		}
		ifdiff.SortPrefixes(t.Prefixes)
		out = append(out, t)
	}
	return out, nil
}

func flags(f net.Flags) transports.InterfaceFlags {
	var t transports.InterfaceFlags
	for _, m := range []struct {
		n net.Flags
		t transports.InterfaceFlags
	}{
		{net.FlagUp, transports.FlagUp},
		{net.FlagLoopback, transports.FlagLoopback},
		{net.FlagMulticast, transports.FlagMulticast},
		{net.FlagBroadcast, transports.FlagBroadcast},
		{net.FlagPointToPoint, transports.FlagPointToPoint},
	} {
		if f&m.n != 0 {
			t |= m.t
		}
	}
	return t
}

// watch polls the interface list on the network's clock. Each poll runs in
// the clock's callback (its own goroutine with the real clock), under mu so
// that Close waits for a poll in progress and none starts after it.
type watch struct {
	n    *Network
	h    func(transports.InterfaceEvent)
	mu   sync.Mutex
	last []transports.Interface
	next clock.Timer
	done bool
}

func newWatch(n *Network, h func(transports.InterfaceEvent)) (*watch, error) {
	cur, err := n.list()
	if err != nil {
		return nil, err
	}
	w := &watch{n: n, h: h, last: cur}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ev := range ifdiff.Diff(nil, cur) {
		h(ev)
	}
	w.next = n.clock.AfterFunc(n.interval, w.poll)
	return w, nil
}

func (w *watch) poll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	// A failed read (rare: the system refused a netlink dump) keeps the
	// last snapshot; the next poll tries again.
	if cur, err := w.n.list(); err == nil {
		for _, ev := range ifdiff.Diff(w.last, cur) {
			w.h(ev)
		}
		w.last = cur
	}
	w.next = w.n.clock.AfterFunc(w.n.interval, w.poll)
}

// Close stops the watch; no call to the handler happens after it returns.
func (w *watch) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return transports.ErrClosed
	}
	w.done = true
	w.next.Stop()
	return nil
}
