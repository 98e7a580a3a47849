//go:build windows

package process_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/microstack-go/microstack/actors/process"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
)

// stopSignal is what Exited reports for a child the actor ended: Windows
// has no SIGTERM, the actor kills the child at once.
const stopSignal = syscall.SIGKILL

func TestWindowsRefusesWhatItCannotHonour(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	for name, opts := range map[string]process.Options{
		"PTY":        {Handler: p.pid, PTY: true},
		"Credential": {Handler: p.pid, Credential: &process.Credential{UID: 1000, GID: 1000}},
	} {
		pid := spawnActor(t, sys, opts)
		f, ok := ask(t, sys, pid, helper(t, "streams")).(*messages.CommandFailed)
		if !ok || !errors.Is(f.Err, procmsg.ErrUnsupported) || !errors.Is(f.Err, errors.ErrUnsupported) {
			t.Errorf("%s: Spawn answered %+v, want ErrUnsupported", name, f)
		}
	}

	pid := spawnActor(t, sys, process.Options{Handler: p.pid})
	startHelper(t, sys, pid, "sleep")
	untilReady(t, p)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		f, ok := ask(t, sys, pid, &procmsg.Signal{Sig: sig}).(*messages.CommandFailed)
		if !ok || !errors.Is(f.Err, procmsg.ErrUnsupported) {
			t.Errorf("Signal %v answered %+v, want ErrUnsupported", sig, f)
		}
	}
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGKILL})
	if r := p.untilExited(t); r.exited.Signal != syscall.SIGKILL {
		t.Fatalf("exited %+v", r.exited)
	}
}
