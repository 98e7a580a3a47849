package testkit

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/inspect"
)

// NewInspectedSystem is NewSystem with an inspect registry installed, as a
// chain has one: actors spawned with Spawn appear in it with their kind,
// state and counters. The system shuts down with the test.
func NewInspectedSystem(t testing.TB) (*actor.ActorSystem, *inspect.Registry) {
	t.Helper()
	system := NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	t.Cleanup(system.Shutdown)
	return system, reg
}

// Spawn spawns props under the root as name, of kind, tracked by the
// system's inspect registry when it has one, and stops it when the test
// ends (waiting for its stop). It fails the test when the name is taken.
func Spawn(t testing.TB, system *actor.ActorSystem, props *actor.Props, name, kind string) *actor.PID {
	t.Helper()
	pid, err := inspect.Spawn(system.Root, props, name, kind, nil)
	if err != nil {
		t.Fatalf("spawn %s: %v", name, err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	return pid
}
