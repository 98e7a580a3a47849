package dispatch

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// findAddress marks the watcher of Find's probe.
const findAddress = "dispatch.find"

// probes maps a probe in flight to the slot its mailbox fills in.
var probes sync.Map // *actor.Unwatch -> *probeSlot

type probeSlot struct {
	mb   *Mailbox
	here bool // the mailbox is a HereProps actor's
}

// Find returns the Mailbox of the local actor pid when it has one (it was
// spawned with HereProps, or with NewMailbox as its mailbox producer), and the
// process it belongs to. A caller that keeps the pair can tell whether the
// actor is still there: system.ProcessRegistry.Get(pid) returns the same
// process until the actor stops.
//
// With the mailbox, a caller on an event loop can run the actor with
// PostHere. Find asks the mailbox with a system message that changes
// nothing, an Unwatch from a watcher that does not exist: a Mailbox answers
// it at once, without queueing it; any other mailbox queues it and its
// actor ignores it. Remote and non-actor PIDs are not asked.
func Find(system *actor.ActorSystem, pid *actor.PID) (*Mailbox, actor.Process, bool) {
	mb, proc, _, ok := find(system, pid)
	return mb, proc, ok
}

// FindHere is Find for the actors that agreed to be run in place by their
// senders: those spawned with HereProps. It finds no other Mailbox (the
// TCP connections' own, say), so that a sender on an event loop runs only
// the actors that asked for it.
func FindHere(system *actor.ActorSystem, pid *actor.PID) (*Mailbox, actor.Process, bool) {
	mb, proc, here, ok := find(system, pid)
	if !here {
		return nil, nil, false
	}
	return mb, proc, ok
}

func find(system *actor.ActorSystem, pid *actor.PID) (mb *Mailbox, proc actor.Process, here, ok bool) {
	if pid == nil || pid.Address != system.Address() {
		return nil, nil, false, false
	}
	proc, ok = system.ProcessRegistry.Get(pid)
	ap, isActor := proc.(*actor.ActorProcess)
	if !ok || !isActor {
		return nil, nil, false, false
	}
	probe := &actor.Unwatch{Watcher: actor.NewPID(findAddress, pid.Id)}
	slot := &probeSlot{}
	probes.Store(probe, slot)
	ap.SendSystemMessage(pid, probe) // a Mailbox fills slot before it returns
	probes.Delete(probe)
	if slot.mb == nil {
		return nil, nil, false, false
	}
	return slot.mb, proc, slot.here, true
}

// answerProbe fills in the slot of Find's probe (here: the mailbox is a
// HereProps actor's); it reports whether msg was one.
func (m *Mailbox) answerProbe(msg any, here bool) bool {
	u, ok := msg.(*actor.Unwatch)
	if !ok || u.Watcher == nil || u.Watcher.Address != findAddress {
		return false
	}
	if s, ok := probes.Load(u); ok {
		s.(*probeSlot).mb, s.(*probeSlot).here = m, here
	}
	return true
}

// hereMailbox is the mailbox HereProps gives: a Mailbox that tells Find's
// probe its actor agreed to be run in place. (A field in Mailbox would
// make every connection's 8 bytes larger.)
type hereMailbox struct{ Mailbox }

// PostSystemMessage implements actor.Mailbox.
func (m *hereMailbox) PostSystemMessage(msg any) {
	if m.answerProbe(msg, true) {
		return
	}
	m.Mailbox.PostSystemMessage(msg)
}

// Here remembers, for a sender that runs its receiver in place (an event
// loop with its handler actor), what FindHere found for a PID: its
// Mailbox while the PID names the same HereProps actor. It looks again
// when the PID is another one, when the PID names another process than
// last time (a supervisor restarts a child by spawning a new one under the
// same name), and once a stopped actor's name is taken; an actor found not
// to be a HereProps one is not looked up again, so a send to it costs
// nothing more. The zero Here is ready; it is safe for concurrent use.
type Here struct {
	cur atomic.Pointer[hereFound]
}

// hereFound is one answer of FindHere: proc is nil for an actor that is
// not a HereProps one, dead letters for one that had stopped.
type hereFound struct {
	pid  *actor.PID
	proc actor.Process
	mb   *Mailbox
}

// Mailbox returns pid's Mailbox when its actor was spawned with HereProps
// and is still there, or nil: then the message goes by the usual send.
func (h *Here) Mailbox(system *actor.ActorSystem, pid *actor.PID) *Mailbox {
	if pid == nil || pid.Address != system.Address() {
		return nil // a remote actor
	}
	f := h.cur.Load()
	if f != nil && f.pid == pid && f.proc == nil {
		return nil // looked up: not a HereProps actor
	}
	p, _ := system.ProcessRegistry.Get(pid)
	if f == nil || f.pid != pid || f.proc != p {
		f = &hereFound{pid: pid}
		if mb, proc, ok := FindHere(system, pid); ok {
			f.proc, f.mb = proc, mb
		} else if p == system.DeadLetter {
			f.proc = p // stopped: looked up again once the name is taken
		}
		h.cur.Store(f)
	}
	return f.mb
}
