// Package remotemsg holds the messages an agent's remote gateway
// (runtime/remote) answers itself, and the errors a caller on another
// process can tell apart with errors.Is: a message refused at the process
// boundary, an actor path that names nothing, a target the gateway does not
// let remote callers reach.
//
// Everything else a remote caller sends is one of the module messages
// (storemsg.Get, logmsg.Query, tcpmsg.Write, ...) that runtime/remote
// registers as remote-safe; the gateway forwards it to the actor and sends
// the typed answer back.
package remotemsg

import (
	"errors"
	"time"

	"github.com/microstack-go/microstack/runtime/inspect"
)

// Errors a remote caller can test for with errors.Is.
var (
	// ErrNotRemotable refuses a message whose type is not registered as
	// remote-safe: it lives only inside a process (it holds a PID, a
	// channel, a function, a path on the agent's disk) and is not sent.
	ErrNotRemotable = errors.New("remote: message type not remotable")
	// ErrNoActor answers a message whose target path names no live actor
	// of the agent's tree.
	ErrNoActor = errors.New("remote: no actor at path")
	// ErrForbidden answers a message the agent's gateway does not let
	// remote callers send to that target.
	ErrForbidden = errors.New("remote: forbidden")
	// ErrUnreachable means the remote agent could not be reached (not
	// listening, refused the TLS handshake, no answer in time).
	ErrUnreachable = errors.New("remote: agent unreachable")
)

// GetTree asks an agent's gateway for a snapshot of the agent's actor
// tree. Answered with Tree.
type GetTree struct{}

// Tree answers GetTree: every live actor of the agent's chain, sorted by
// path so that each actor comes right after its parent (what
// runtime.Runtime.Tree returns inside the process).
type Tree struct {
	Agent  string         `json:"agent"`
	Actors []inspect.Info `json:"actors"`
}

// GetHealth asks an agent's gateway how the agent is. Answered with Health.
type GetHealth struct{}

// Health answers GetHealth.
type Health struct {
	// Agent is the agent's id (ServeOptions.AgentID).
	Agent string `json:"agent"`
	// Address is the agent's remote address (host:port).
	Address string `json:"address"`
	// StartedAt is when the agent's gateway started.
	StartedAt time.Time `json:"startedAt"`
	// Actors counts the live actors of the chain.
	Actors int `json:"actors"`
	// Restarts sums the restarts of every live actor.
	Restarts int `json:"restarts"`
	// NotRunning lists the paths of actors that are not running (starting,
	// restarting, stopping).
	NotRunning []string `json:"notRunning,omitempty"`
}
