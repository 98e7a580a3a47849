// Package subscribers keeps the subscribers of an actor that publishes
// events (the interface monitor, discovery): a bounded list of PIDs, each
// watched, so that a subscriber that stops leaves the list when the
// publisher gets its Terminated.
package subscribers

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"
)

// Set is one actor's subscribers; use it from that actor's Receive only.
type Set struct {
	pids []*actor.PID
	max  int
}

// New returns an empty set that holds at most max subscribers.
func New(max int) Set { return Set{max: max} }

// Who is the subscriber a Subscribe or Unsubscribe names: explicit when
// set, else the command's sender (nil when there is neither).
func Who(ctx actor.Context, explicit *actor.PID) *actor.PID {
	if explicit != nil {
		return explicit
	}
	return ctx.Sender()
}

// Add watches pid and adds it. It reports false, adding nothing, when the
// set is full; a member already there is left as it is (true).
func (s *Set) Add(ctx actor.Context, pid *actor.PID) bool {
	if slices.ContainsFunc(s.pids, pid.Equal) {
		return true
	}
	if len(s.pids) >= s.max {
		return false
	}
	s.pids = append(s.pids, pid)
	ctx.Watch(pid)
	return true
}

// Remove unwatches pid and takes it out; false when it was not there.
func (s *Set) Remove(ctx actor.Context, pid *actor.PID) bool {
	if pid == nil || !slices.ContainsFunc(s.pids, pid.Equal) {
		return false
	}
	ctx.Unwatch(pid)
	s.Gone(pid)
	return true
}

// Gone takes out a subscriber that stopped (its Terminated came).
func (s *Set) Gone(pid *actor.PID) {
	s.pids = slices.DeleteFunc(s.pids, pid.Equal)
}

// Len returns how many subscribers there are.
func (s *Set) Len() int { return len(s.pids) }

// All returns the subscribers, to send to; the slice must not be kept.
func (s *Set) All() []*actor.PID { return s.pids }
