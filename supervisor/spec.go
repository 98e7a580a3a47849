package supervisor

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// RestartType says when a stopped child is started again (Erlang/OTP's
// restart values).
type RestartType int

const (
	// Permanent children are always restarted: after a failure and after
	// stopping on their own.
	Permanent RestartType = iota
	// Transient children are restarted only after a failure; a child that
	// stops on its own is left stopped.
	Transient
	// Temporary children are never restarted.
	Temporary
)

// String returns the OTP name of the restart type.
func (r RestartType) String() string {
	switch r {
	case Permanent:
		return "permanent"
	case Transient:
		return "transient"
	case Temporary:
		return "temporary"
	}
	return "unknown"
}

// Brutal, as a ChildSpec.Shutdown, stops the child at once (protoactor's
// Stop, which drops the messages still queued) instead of letting it drain.
const Brutal time.Duration = -1

// DefaultShutdown is the time a child gets to drain its mailbox and stop
// when its spec sets no Shutdown.
const DefaultShutdown = 5 * time.Second

// ChildSpec describes one child of a supervisor: how to build it, when to
// restart it and how long it may take to stop.
type ChildSpec struct {
	// Name is the child's name under its supervisor; its actor path is the
	// supervisor's path, a slash, and Name. A restarted child keeps its
	// name, so a PID held by others reaches the new incarnation.
	Name string
	// Kind is a short word shown in the tree ("tcp.listener", "store").
	// Empty means "actor".
	Kind string
	// Props builds the child's props. It is called at every start, so each
	// incarnation gets fresh props; it must not block.
	Props func() *actor.Props
	// Restart says when the child is restarted. The zero value is Permanent.
	Restart RestartType
	// Shutdown is how long the child may take to stop gracefully (drain its
	// mailbox, flush its sockets) before it is stopped by force. Zero means
	// DefaultShutdown; Brutal stops it at once.
	Shutdown time.Duration
	// StopMessage, when not nil, is sent to ask the child to stop gracefully
	// instead of protoactor's poison pill; the child finishes what it
	// accepted (flushes a socket, drains its own children) and stops itself.
	// Child specs of supervisors send Shutdown; a TCP connection's spec sends
	// its Close command.
	StopMessage any
	// Mailbox, when not nil, is the child's mailbox. Set it here rather than
	// on the props: the supervisor wraps the mailbox to report its length,
	// and a mailbox set on the props is not used (props made by
	// dispatch.HereProps keep theirs: they choose it as they are spawned).
	Mailbox actor.MailboxProducer
}

func (s ChildSpec) kind() string {
	if s.Kind == "" {
		return "actor"
	}
	return s.Kind
}

func (s ChildSpec) shutdown() time.Duration {
	if s.Shutdown == 0 {
		return DefaultShutdown
	}
	return s.Shutdown
}
