//go:build unix

package process_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/process"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
)

// stopSignal ends a child when the actor stops or times out.
const stopSignal = syscall.SIGTERM

func TestCatRoundTrip(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Credits: -1})
	start(t, sys, pid, "cat")
	sys.Root.Send(pid, &procmsg.WriteStdin{Data: []byte("hello, "), Ack: 1})
	sys.Root.Send(pid, &procmsg.WriteStdin{Data: []byte("world\n"), Ack: 2})
	sys.Root.Send(pid, &procmsg.CloseStdin{})
	r := p.untilExited(t)
	if r.stdout.String() != "hello, world\n" || r.exited.Code != 0 || r.exited.Signal != 0 {
		t.Fatalf("stdout %q, exited %+v", r.stdout.String(), r.exited)
	}
	var acks []any
	for _, m := range r.others {
		if a, ok := m.(*messages.WriteAck); ok {
			acks = append(acks, a.Ack)
		}
	}
	if len(acks) != 2 || acks[0] != 1 || acks[1] != 2 {
		t.Fatalf("acks %v, others %v", acks, r.others)
	}
	// The actor is ready for another child.
	start(t, sys, pid, "true")
	if r := p.untilExited(t); r.exited.Code != 0 {
		t.Fatalf("second child: %+v", r.exited)
	}
}

func TestStderrIsApartFromStdoutAndExitCodeIsReported(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid})
	start(t, sys, pid, "sh", "-c", "echo out; echo err >&2; echo more; exit 3")
	var r *run
	for r == nil || r.exited == nil {
		// Default credits (16) cover this child's few events.
		r = p.untilExited(t)
	}
	if r.stdout.String() != "out\nmore\n" || r.stderr.String() != "err\n" || r.exited.Code != 3 {
		t.Fatalf("stdout %q stderr %q exited %+v", r.stdout.String(), r.stderr.String(), r.exited)
	}
	if r.exited.Duration <= 0 {
		t.Fatalf("duration %v", r.exited.Duration)
	}
}

func TestSignalEndsChild(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid})
	start(t, sys, pid, "sleep", "30")
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGTERM})
	r := p.untilExited(t)
	if r.exited.Code != -1 || r.exited.Signal != syscall.SIGTERM || r.exited.TimedOut {
		t.Fatalf("exited %+v", r.exited)
	}
}

func TestBadCommandsAreRefused(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid})
	failed := func(msg any) error {
		t.Helper()
		f, ok := ask(t, sys, pid, msg).(*messages.CommandFailed)
		if !ok {
			t.Fatalf("%T not refused", msg)
		}
		return f.Err
	}
	if err := failed(&procmsg.Spawn{Path: filepath.Join(t.TempDir(), "missing")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing program: %v", err)
	}
	if err := failed(&procmsg.Spawn{}); !errors.Is(err, messages.ErrBadCommand) {
		t.Errorf("empty path: %v", err)
	}
	if err := failed(&procmsg.WriteStdin{Data: []byte("x")}); !errors.Is(err, procmsg.ErrNotRunning) {
		t.Errorf("write with no child: %v", err)
	}
	if err := failed(&procmsg.Signal{Sig: syscall.SIGTERM}); !errors.Is(err, procmsg.ErrNotRunning) {
		t.Errorf("signal with no child: %v", err)
	}
	start(t, sys, pid, "sleep", "30")
	if err := failed(&procmsg.Spawn{Path: "true"}); !errors.Is(err, procmsg.ErrRunning) {
		t.Errorf("second spawn: %v", err)
	}
	if err := failed("hello"); !errors.Is(err, messages.ErrUnknownCommand) {
		t.Errorf("unknown: %v", err)
	}
}

func TestPseudoTerminal(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, PTY: true, Credits: -1})
	start(t, sys, pid, "sh", "-c", "tty; stty size; echo $TERM")
	r := p.untilExited(t)
	out := r.stdout.String()
	for _, want := range []string{"/dev/pts/", "25 80", "xterm-256color"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output %q lacks %q", out, want)
		}
	}
	if r.stderr.Len() != 0 || r.exited.Code != 0 {
		t.Fatalf("stderr %q exited %+v", r.stderr.String(), r.exited)
	}
}

func TestRunsAsAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to change user")
	}
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Credential: &process.Credential{UID: 65534, GID: 65534}})
	start(t, sys, pid, "sh", "-c", "id -u; id -g")
	r := p.untilExited(t)
	if r.stdout.String() != "65534\n65534\n" {
		t.Fatalf("ran as %q (stderr %q)", r.stdout.String(), r.stderr.String())
	}
}

func TestTimeoutEndsChild(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Timeout: 200 * time.Millisecond, Grace: time.Second})
	start(t, sys, pid, "sleep", "30")
	r := p.untilExited(t)
	if !r.exited.TimedOut || r.exited.Signal != syscall.SIGTERM {
		t.Fatalf("exited %+v", r.exited)
	}
}

func TestStdinWritesPastTheLimitAreRefusedThenResumed(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, MaxStdin: 64 << 10})
	start(t, sys, pid, "sh", "-c", "exec cat >/dev/null")
	// A stopped child reads nothing: its pipe fills, then the actor's queue.
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGSTOP}) // answers nothing on success
	// Writes sent without a sender answer to the handler, the probe.
	for i := range 64 {
		sys.Root.Send(pid, &procmsg.WriteStdin{Data: make([]byte, 16<<10), Ack: i})
	}
	refused := 0
	for refused == 0 {
		switch m := p.next(t).(type) {
		case *messages.WriteRefused:
			refused = m.Buffered
		case *messages.WriteAck:
		default:
			t.Fatalf("unexpected %+v", m)
		}
	}
	if refused > 64<<10 {
		t.Fatalf("refused with %d bytes queued, limit 64 KiB", refused)
	}
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGCONT})
	deadline := time.After(wait)
	for {
		select {
		case m := <-p.ch:
			if _, ok := m.(*messages.WritingResumed); ok {
				return
			}
		case <-deadline:
			t.Fatal("no WritingResumed after the child read again")
		}
	}
}

// TestFastChildSlowReaderStaysBounded streams 200 MB from a child to a
// handler that reads slowly and grants one credit per event: the actor
// holds at most MaxBuffered bytes and the heap stays small.
func TestFastChildSlowReaderStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MB")
	}
	const total = 200_000_000
	const maxBuffered = 256 << 10
	sys := newSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(sys, reg)

	var got atomic.Int64
	done := make(chan *procmsg.Exited, 1)
	var proc atomic.Pointer[actor.PID]
	events := 0
	handler := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *procmsg.Stdout:
			got.Add(int64(len(m.Data)))
			if events++; events%16 == 0 {
				time.Sleep(2 * time.Millisecond) // a slow reader
			}
			ctx.Send(proc.Load(), &messages.ResumeReading{Credits: 1})
		case *procmsg.Exited:
			done <- m
		}
	}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(handler).Wait() })
	pid, err := inspect.Spawn(sys.Root, process.Props(process.Options{Handler: handler, Credits: 4, MaxBuffered: maxBuffered}), "producer", process.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	proc.Store(pid)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	start(t, sys, pid, "head", "-c", strconv.Itoa(total), "/dev/zero")
	var exited *procmsg.Exited
	deadline := time.After(2 * time.Minute)
	for exited == nil {
		select {
		case exited = <-done:
		case <-time.After(20 * time.Millisecond):
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		case <-deadline:
			t.Fatalf("stream not done after 2 minutes: %d bytes", got.Load())
		}
	}
	if exited.Code != 0 || got.Load() != total {
		t.Fatalf("got %d bytes, exited %+v", got.Load(), exited)
	}
	e := reg.Lookup(pid.Id)
	if bp := e.Counter("buffered_peak"); bp > maxBuffered || bp == 0 {
		t.Fatalf("actor buffered up to %d bytes, cap %d", bp, maxBuffered)
	}
	if grow := int64(peak) - int64(base); grow > 64<<20 {
		t.Fatalf("heap grew by %d MiB while streaming", grow>>20)
	}
	t.Logf("200 MB streamed; actor buffered at most %d KiB; heap grew at most %d KiB", e.Counter("buffered_peak")>>10, (int64(peak)-int64(base))>>10)
}

// groupMembers lists the live processes of process group pgid, from /proc.
// Zombies are dead already and are left out.
func groupMembers(t testing.TB, pgid int) []int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // exited meanwhile
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:]) // state, ppid, pgrp, ...
		if len(f) < 3 || f[0] == "Z" || f[2] != strconv.Itoa(pgid) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(d, "/")[2])
		pids = append(pids, pid)
	}
	return pids
}

func TestStoppingActorLeavesNoChild(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := sys.Root.Spawn(process.Props(process.Options{Handler: p.pid}))
	child := start(t, sys, pid, "sh", "-c", "sleep 100 & sleep 100 & echo ready; wait")
	untilReady(t, p)
	if n := len(groupMembers(t, child)); n < 3 {
		t.Fatalf("group %d has %d processes, want sh and two sleeps", child, n)
	}
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if left := groupMembers(t, child); len(left) > 0 {
		t.Fatalf("processes %v survived their actor", left)
	}
	r := p.untilExited(t)
	if r.exited.Signal != syscall.SIGTERM {
		t.Fatalf("exited %+v", r.exited)
	}
}

func TestChildIgnoringSIGTERMIsKilledAfterGrace(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := sys.Root.Spawn(process.Props(process.Options{Handler: p.pid, Grace: 300 * time.Millisecond}))
	// The ignored SIGTERM is inherited by the sleeps too.
	child := start(t, sys, pid, "sh", "-c", `trap "" TERM; echo ready; while :; do sleep 0.1; done`)
	untilReady(t, p)
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	if left := groupMembers(t, child); len(left) > 0 {
		t.Fatalf("processes %v survived their actor", left)
	}
	r := p.untilExited(t)
	if r.exited.Signal != syscall.SIGKILL {
		t.Fatalf("exited %+v, want SIGKILL", r.exited)
	}
}

func TestStartFromOptionsStopsActorAfterCleanExit(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := sys.Root.Spawn(process.Props(process.Options{
		Handler: p.pid,
		Start:   &procmsg.Spawn{Path: "sh", Args: []string{"-c", "echo $GREETING"}, Env: []string{"GREETING=hi"}, Dir: t.TempDir()},
	}))
	if _, ok := p.next(t).(*procmsg.Started); !ok {
		t.Fatal("no Started")
	}
	r := p.untilExited(t)
	if r.stdout.String() != "hi\n" || r.exited.Code != 0 {
		t.Fatalf("stdout %q exited %+v", r.stdout.String(), r.exited)
	}
	deadline := time.Now().Add(wait)
	for {
		if _, alive := sys.ProcessRegistry.Get(pid); !alive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("actor still alive after its program exited")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestCreditsRunOutThenPassiveThenResume(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Credits: 1})
	start(t, sys, pid, "sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.02; done")
	first, ok := p.next(t).(*procmsg.Stdout)
	if !ok {
		t.Fatal("first event is not Stdout")
	}
	if _, ok := p.next(t).(*messages.Passive); !ok {
		t.Fatal("no Passive once the credit was used")
	}
	sys.Root.Send(pid, &messages.ResumeReading{}) // unlimited from now on
	r := p.untilExited(t)
	if out := string(first.Data) + r.stdout.String(); out != "1\n2\n3\n4\n5\n" || r.exited.Code != 0 {
		t.Fatalf("output %q exited %+v", out, r.exited)
	}
}
