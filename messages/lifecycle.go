package messages

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// LifecycleEvent is implemented by the events a supervisor publishes about
// its children. Path is the child's actor path (its PID's Id).
type LifecycleEvent interface {
	ActorPath() string
}

// ChildStarted is published when a supervisor has started a child, the first
// time or after a restart.
type ChildStarted struct {
	Path     string
	Kind     string
	PID      *actor.PID
	Restarts int // how many times this child was restarted before this start
}

// ChildStopped is published when a child has stopped and will not be
// restarted now (a normal exit, a temporary child's end, or a supervisor's
// shutdown). Reason is nil for a normal exit.
type ChildStopped struct {
	Path   string
	Kind   string
	Reason error
}

// ChildFailed is published when a child failed: it panicked or a permanent
// child stopped on its own. Reason is the panic value as an error.
type ChildFailed struct {
	Path   string
	Kind   string
	Reason error
}

// ChildRestarted is published when a supervisor schedules a child's
// restart; the ChildStarted event follows once it runs. Count is the child's
// restart count including this one; Delay is the backoff before the start.
type ChildRestarted struct {
	Path  string
	Kind  string
	Count int
	Delay time.Duration
}

// Escalated is published when a supervisor gives up (restart intensity
// exceeded) and passes the failure to its own supervisor, or, at the root,
// ends the chain.
type Escalated struct {
	Path   string
	Reason error
}

// ActorPath implements LifecycleEvent.
func (e *ChildStarted) ActorPath() string { return e.Path }

// ActorPath implements LifecycleEvent.
func (e *ChildStopped) ActorPath() string { return e.Path }

// ActorPath implements LifecycleEvent.
func (e *ChildFailed) ActorPath() string { return e.Path }

// ActorPath implements LifecycleEvent.
func (e *ChildRestarted) ActorPath() string { return e.Path }

// ActorPath implements LifecycleEvent.
func (e *Escalated) ActorPath() string { return e.Path }

// Crash is fault injection: an actor tracked by the runtime (every actor a
// supervisor starts, and every actor spawned through inspect.Spawn) panics
// when it receives Crash, so that its supervisor's handling can be watched.
// The web console's crash button sends it. Reason becomes the panic value.
type Crash struct {
	Reason string
}

// Error makes the crash's reason the failure's error text.
func (c *Crash) Error() string {
	if c.Reason == "" {
		return "crashed on purpose"
	}
	return "crashed on purpose: " + c.Reason
}
