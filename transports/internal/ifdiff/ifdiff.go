// Package ifdiff turns two snapshots of a host's interfaces into the change
// events transports.Network.WatchInterfaces reports. Both the polling
// watcher of osnet and the simulated network use it, so they report the
// same changes in the same order.
package ifdiff

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/microstack-go/microstack/transports"
)

// Diff returns the events that turn old into cur, ordered by interface name
// and, within one interface, removals before additions. Interfaces are
// matched by name: a name whose index changed is reported as removed and
// added again.
func Diff(old, cur []transports.Interface) []transports.InterfaceEvent {
	byName := func(list []transports.Interface) map[string]transports.Interface {
		m := make(map[string]transports.Interface, len(list))
		for _, ifc := range list {
			m[ifc.Name] = ifc
		}
		return m
	}
	om, cm := byName(old), byName(cur)
	names := make([]string, 0, len(om)+len(cm))
	for n := range om {
		names = append(names, n)
	}
	for n := range cm {
		if _, ok := om[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)

	var evs []transports.InterfaceEvent
	for _, n := range names {
		o, hadOld := om[n]
		c, hasCur := cm[n]
		if hadOld && hasCur && o.Index != c.Index {
			evs = append(evs, removed(o)...)
			evs = append(evs, added(c)...)
			continue
		}
		switch {
		case !hasCur:
			evs = append(evs, removed(o)...)
		case !hadOld:
			evs = append(evs, added(c)...)
		default:
			for _, p := range o.Prefixes {
				if !slices.Contains(c.Prefixes, p) {
					evs = append(evs, transports.InterfaceEvent{Kind: transports.AddressRemoved, Interface: c, Prefix: p})
				}
			}
			if o.Flags != c.Flags || o.MTU != c.MTU || !bytes.Equal(o.HardwareAddr, c.HardwareAddr) {
				evs = append(evs, transports.InterfaceEvent{Kind: transports.InterfaceChanged, Interface: c})
			}
			for _, p := range c.Prefixes {
				if !slices.Contains(o.Prefixes, p) {
					evs = append(evs, transports.InterfaceEvent{Kind: transports.AddressAdded, Interface: c, Prefix: p})
				}
			}
		}
	}
	return evs
}

func added(ifc transports.Interface) []transports.InterfaceEvent {
	evs := []transports.InterfaceEvent{{Kind: transports.InterfaceAdded, Interface: ifc}}
	for _, p := range ifc.Prefixes {
		evs = append(evs, transports.InterfaceEvent{Kind: transports.AddressAdded, Interface: ifc, Prefix: p})
	}
	return evs
}

func removed(ifc transports.Interface) []transports.InterfaceEvent {
	var evs []transports.InterfaceEvent
	for _, p := range ifc.Prefixes {
		evs = append(evs, transports.InterfaceEvent{Kind: transports.AddressRemoved, Interface: ifc, Prefix: p})
	}
	return append(evs, transports.InterfaceEvent{Kind: transports.InterfaceRemoved, Interface: ifc})
}

// SortPrefixes sorts prefixes in place by address, then length, the order
// transports.Interface.Prefixes promises.
func SortPrefixes(ps []netip.Prefix) {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
}
