package supervisor

import "github.com/asynkron/protoactor-go/actor"

// The supervisor's own commands live here rather than in messages/ because
// they carry ChildSpec, this package's type; everything else the supervisor
// says is in messages (the lifecycle events and CommandFailed).

// StartChild adds a child at run time, after the children already there. The
// sender gets ChildStarted with the new PID, or messages.CommandFailed.
type StartChild struct {
	Spec ChildSpec
}

// ChildAdded answers StartChild.
type ChildAdded struct {
	Name string
	PID  *actor.PID
}

// StopChild stops a child gracefully and forgets its spec. The sender gets
// ChildRemoved or messages.CommandFailed.
type StopChild struct {
	Name string
}

// ChildRemoved answers StopChild. Stopped is false when the child did not
// stop within its shutdown timeout, even when stopped by force.
type ChildRemoved struct {
	Name    string
	Stopped bool
}

// Shutdown asks a supervisor to stop its children in reverse start order,
// each within its shutdown timeout (then by force), answer ShutdownReport to
// the sender, and stop.
type Shutdown struct{}

// ShutdownReport answers Shutdown. NotStopped lists the paths of children
// that did not stop within their shutdown timeout, nor within a further
// timeout after being stopped by force (an actor stuck inside Receive).
type ShutdownReport struct {
	NotStopped []string
}

// RestartAll stops every child in reverse order and starts them all again
// in order, as the chain's Restart does. The sender gets RestartReport.
type RestartAll struct{}

// RestartReport answers RestartAll.
type RestartReport struct {
	NotStopped []string
}

// WhichChildren asks for the supervisor's children; the answer is Children.
type WhichChildren struct{}

// Children answers WhichChildren, in start order.
type Children struct {
	Children []ChildInfo
}

// ChildInfo describes one child of a supervisor.
type ChildInfo struct {
	Name     string
	Kind     string
	PID      *actor.PID // nil while the child is down
	Restart  RestartType
	Restarts int
	Running  bool
}

// Exec runs Fn on the supervisor's goroutine, between its other messages, as
// MicroStack's ILibChain_RunOnMicrostackThread runs a function on the chain.
// Fn gets the supervisor's context and must not block.
type Exec struct {
	Fn func(ctx actor.Context)
}

// Sync is answered with Synced once every operation the supervisor had
// queued before it (starting its children, restarts in progress) is done.
// The runtime's Start uses it to return only when every child has started.
type Sync struct{}

// Synced answers Sync.
type Synced struct{}
