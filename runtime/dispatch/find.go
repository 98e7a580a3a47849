package dispatch

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// findAddress marks the watcher of Find's probe.
const findAddress = "dispatch.find"

// probes maps a probe in flight to the slot its mailbox fills in.
var probes sync.Map // *actor.Unwatch -> *probeSlot

type probeSlot struct{ mb *Mailbox }

// Find returns the Mailbox of the local actor pid when it has one (it was
// spawned with Props, or with NewMailbox as its mailbox producer), and the
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
	if pid == nil || pid.Address != system.Address() {
		return nil, nil, false
	}
	proc, ok := system.ProcessRegistry.Get(pid)
	ap, isActor := proc.(*actor.ActorProcess)
	if !ok || !isActor {
		return nil, nil, false
	}
	probe := &actor.Unwatch{Watcher: actor.NewPID(findAddress, pid.Id)}
	slot := &probeSlot{}
	probes.Store(probe, slot)
	ap.SendSystemMessage(pid, probe) // a Mailbox fills slot before it returns
	probes.Delete(probe)
	if slot.mb == nil {
		return nil, nil, false
	}
	return slot.mb, proc, true
}

// answerProbe fills in the slot of Find's probe; it reports whether msg
// was one.
func (m *Mailbox) answerProbe(msg any) bool {
	u, ok := msg.(*actor.Unwatch)
	if !ok || u.Watcher == nil || u.Watcher.Address != findAddress {
		return false
	}
	if s, ok := probes.Load(u); ok {
		s.(*probeSlot).mb = m
	}
	return true
}
