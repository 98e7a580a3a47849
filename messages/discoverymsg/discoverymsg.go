// Package discoverymsg holds the messages of the LAN discovery actor
// (actors/discovery): agents announce themselves with a multicast beacon
// every period, carrying their id, name and service addresses, as
// MeshAgent does on MicroStack's ILibMulticastSocket, and every agent keeps
// a table of the peers it hears.
//
// Subscribers get the table's changes as a stream of events: PeerSeen when
// a peer appears or what it announces changes, PeerLost when it has missed
// too many beacons. The actor watches its subscribers and drops those that
// stop.
package discoverymsg

import (
	"errors"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// ErrTooManySubscribers answers a Subscribe beyond the actor's limit.
var ErrTooManySubscribers = errors.New("discovery: too many subscribers")

// Peer is another agent as the discovery table knows it.
type Peer struct {
	// ID is the agent's identity, as it announces it.
	ID string
	// Name is a human-readable name (a host name).
	Name string
	// Addr is the address its beacons come from.
	Addr netip.AddrPort
	// Services are the addresses the agent serves on. An unspecified
	// address announced (0.0.0.0:port, [::]:port) is shown as Addr's
	// address with that port.
	Services []netip.AddrPort
	// LastSeen is when its last beacon arrived, on the actor's clock.
	LastSeen time.Time
}

// PeerSeen is published when a peer is first heard, and again when its
// name, services or address change.
type PeerSeen struct {
	Peer Peer
}

// PeerLost is published when a peer has missed the configured number of
// beacons in a row.
type PeerLost struct {
	ID string
}

// Subscribe asks for the event stream to Subscriber (the sender when nil).
// Answered, to the subscriber, with Subscribed, which carries the table as
// it is; events follow.
type Subscribe struct {
	Subscriber *actor.PID
}

// Subscribed answers Subscribe.
type Subscribed struct {
	Peers []Peer
}

// Unsubscribe stops the stream to Subscriber (the sender when nil).
// Answered with Unsubscribed when it has a sender.
type Unsubscribe struct {
	Subscriber *actor.PID
}

// Unsubscribed answers Unsubscribe.
type Unsubscribed struct{}

// GetPeers asks for the table. Answered with Peers.
type GetPeers struct{}

// Peers answers GetPeers, sorted by ID.
type Peers struct {
	Peers []Peer
}

// SetServices changes the service addresses the agent announces, from the
// next beacon on (which is sent at once). Answered with ServicesSet, or
// CommandFailed with messages.ErrBadCommand when there are too many.
type SetServices struct {
	Services []netip.AddrPort
}

// ServicesSet answers SetServices.
type ServicesSet struct{}
