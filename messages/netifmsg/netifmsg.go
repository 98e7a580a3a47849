// Package netifmsg holds the messages of the interface monitor actor
// (actors/netif), microstack's counterpart of MicroStack's
// ILibIPAddressMonitor: it watches the host's network interfaces and
// addresses and tells its subscribers what changed.
//
// A subscriber sends Subscribe and is answered with Subscribed, which
// carries the interfaces as they are; from then on it gets one
// InterfacesChanged per settled burst of changes, and none when nothing
// changed. The monitor watches every subscriber and drops it when it
// stops, so a subscriber that simply ends needs no Unsubscribe.
//
// A TCP client that must reconnect when the local address it used goes
// away subscribes, keeps its connection's local address, and on
// InterfacesChanged checks Removed (or Has on Current) for that address.
package netifmsg

import (
	"errors"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"
)

// ErrTooManySubscribers answers a Subscribe beyond the monitor's
// MaxSubscribers.
var ErrTooManySubscribers = errors.New("netif: too many subscribers")

// Subscribe asks the monitor to send InterfacesChanged events to
// Subscriber (the sender when nil). Answered, to the subscriber, with
// Subscribed; a second Subscribe of the same actor is answered the same way
// and does not duplicate events. Fails with ErrTooManySubscribers or
// messages.ErrBadCommand (no subscriber and no sender).
type Subscribe struct {
	Subscriber *actor.PID
}

// Subscribed answers Subscribe with the interfaces as they are now.
type Subscribed struct {
	Current []Interface
}

// Unsubscribe stops the events to Subscriber (the sender when nil).
// Answered with Unsubscribed when it has a sender, also when the actor was
// not subscribed.
type Unsubscribe struct {
	Subscriber *actor.PID
}

// Unsubscribed answers Unsubscribe.
type Unsubscribed struct{}

// GetInterfaces asks for the interfaces as the monitor sees them now.
// Answered with Interfaces.
type GetInterfaces struct{}

// Interfaces answers GetInterfaces.
type Interfaces struct {
	Current []Interface
}

// InterfacesChanged is published to every subscriber when the host's
// interfaces changed. Changes that come in a burst (a link coming up with
// its addresses, a DHCP renewal) within the monitor's settle delay make one
// event.
//
// An address is counted as present while its interface is up: an
// interface going down removes its addresses, going up adds them back.
// Added and Removed can both be empty when only an interface without
// addresses appeared, went or changed state; Current always shows it.
type InterfacesChanged struct {
	// Added are the addresses that appeared since the last event.
	Added []Address
	// Removed are the addresses that went away since the last event.
	Removed []Address
	// Current is every interface now, up or down, sorted by name.
	Current []Interface
}

// Address is one address of one interface.
type Address struct {
	// Interface is the interface's name.
	Interface string
	// Prefix is the address with its subnet length.
	Prefix netip.Prefix
}

// Interface describes a network interface.
type Interface struct {
	// Index is the system's interface index.
	Index int
	// Name is the interface name ("eth0", "lo", "en0").
	Name string
	// Up reports whether the interface is administratively up.
	Up bool
	// Loopback, Multicast, Broadcast and PointToPoint are the interface's
	// capabilities.
	Loopback, Multicast, Broadcast, PointToPoint bool
	// MTU is the maximum transmission unit in bytes.
	MTU int
	// Prefixes are the interface's addresses, sorted.
	Prefixes []netip.Prefix
}

// Has reports whether addr is an address of an interface that is up in
// ifs: the test a client makes for the local address it uses.
func Has(ifs []Interface, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, ifc := range ifs {
		if !ifc.Up {
			continue
		}
		for _, p := range ifc.Prefixes {
			if p.Addr() == addr {
				return true
			}
		}
	}
	return false
}
