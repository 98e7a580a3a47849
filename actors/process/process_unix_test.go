//go:build unix

package process_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
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

// stdinWriter drives a child's stdin as a writer that pipelines: writes go
// without a sender, so their answers come to the handler, the probe, along
// with the child's output.
type stdinWriter struct {
	sys  *actor.ActorSystem
	p    *probe
	pid  *actor.PID
	out  bytes.Buffer // the child's stdout seen so far
	acks []int
}

// MaxStdin is well above what a stopping child takes in (a 64 KiB pipe,
// and cat may read a 128 KiB block before the stop lands), so that a
// refused writer's queue stays above half of it until the child reads
// again.
const (
	stdinSize  = 32 << 10
	maxStdin   = 1 << 20 // resumed at or below half
	stdinCount = 48      // 1.5 MiB
)

func stdinChunk(i int) *procmsg.WriteStdin {
	data := bytes.Repeat([]byte{'.'}, stdinSize)
	copy(data, fmt.Sprintf("%06d\n", i))
	return &procmsg.WriteStdin{Data: data, Ack: i}
}

// next returns the next message that is not the child's output.
func (w *stdinWriter) next(t *testing.T, d time.Duration) (any, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m := <-w.p.ch:
			if o, ok := m.(*procmsg.Stdout); ok {
				w.out.Write(o.Data)
				continue
			}
			return m, true
		case <-deadline:
			return nil, false
		}
	}
}

// answers reads until the write numbered last is acknowledged or refused,
// and returns the writes refused meanwhile, in order. Writes are answered in
// the order they were made, so the answer to the last one comes after every
// refusal.
func (w *stdinWriter) answers(t *testing.T, last int) []int {
	t.Helper()
	var refused []int
	for {
		m, ok := w.next(t, wait)
		if !ok {
			t.Fatalf("no answer to write %d; acks %v, refused %v", last, w.acks, refused)
		}
		switch m := m.(type) {
		case *messages.WriteAck:
			w.acks = append(w.acks, m.Ack.(int))
			if m.Ack == last {
				return refused
			}
		case *messages.WriteRefused:
			i := m.Cmd.(*procmsg.WriteStdin).Ack.(int)
			if m.Buffered > maxStdin {
				t.Fatalf("write %d refused with %d bytes queued, limit %d", i, m.Buffered, maxStdin)
			}
			refused = append(refused, i)
			if i == last {
				return refused
			}
		default:
			t.Fatalf("writer got %T %+v while writes were in flight", m, m)
		}
	}
}

// onlyAcks reads for d, failing on anything but an acknowledgement.
func (w *stdinWriter) onlyAcks(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, ok := w.next(t, time.Until(deadline))
		if !ok {
			return
		}
		a, ok := m.(*messages.WriteAck)
		if !ok {
			t.Fatalf("writer got %T %+v, want only acks", m, m)
		}
		w.acks = append(w.acks, a.Ack.(int))
	}
}

// untilAcked reads acknowledgements until there are n.
func (w *stdinWriter) untilAcked(t *testing.T, n int) {
	t.Helper()
	for len(w.acks) < n {
		m, ok := w.next(t, wait)
		if !ok {
			t.Fatalf("acks %v, want %d", w.acks, n)
		}
		a, ok := m.(*messages.WriteAck)
		if !ok {
			t.Fatalf("writer got %T %+v, want only acks", m, m)
		}
		w.acks = append(w.acks, a.Ack.(int))
	}
}

// untilResumed reads acknowledgements until WritingResumed, which must not
// come before the queue has drained to half of MaxStdin: of the accepted
// writes, all but that much are acknowledged first.
func (w *stdinWriter) untilResumed(t *testing.T, accepted int) {
	t.Helper()
	for {
		m, ok := w.next(t, wait)
		if !ok {
			t.Fatalf("no WritingResumed; acks %v", w.acks)
		}
		switch m := m.(type) {
		case *messages.WriteAck:
			w.acks = append(w.acks, m.Ack.(int))
		case *messages.WritingResumed:
			if queued := (accepted - len(w.acks)) * stdinSize; queued > maxStdin/2 {
				t.Fatalf("WritingResumed with %d bytes still queued", queued)
			}
			return
		default:
			t.Fatalf("writer got %T %+v while waiting for WritingResumed", m, m)
		}
	}
}

// A writer sends many stdin writes without waiting; those refused it sends
// again, in order, after ResumeWriting. The child reads every byte once, in
// order, and the acknowledgements come in order.
func TestStdinWriterKeepsOrderAcrossRefusals(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Credits: -1, MaxStdin: maxStdin})
	start(t, sys, pid, "cat")
	// A stopped child reads nothing: its pipe fills, then the actor's queue.
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGSTOP}) // answers nothing on success
	w := &stdinWriter{sys: sys, p: p, pid: pid}
	const n = stdinCount
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	accepted := 0
	for round := 0; len(pending) > 0; round++ {
		if round > 100 {
			t.Fatalf("still %d writes refused after %d rounds", len(pending), round)
		}
		for _, i := range pending {
			sys.Root.Send(pid, stdinChunk(i))
		}
		refused := w.answers(t, pending[len(pending)-1])
		accepted += len(pending) - len(refused)
		if len(refused) == 0 {
			if round == 0 {
				t.Fatal("nothing was refused: the stopped child did not hold the writer back")
			}
			break
		}
		// Once a write is refused every later one is, so the refused ones
		// are the tail of those sent.
		if tail := pending[len(pending)-len(refused):]; !slices.Equal(refused, tail) {
			t.Fatalf("round %d: refused %v, want the tail %v of %v", round, refused, tail, pending)
		}
		sys.Root.Send(pid, &messages.ResumeWriting{})
		if round == 0 {
			// The child is stopped, the queue stays full: WritingResumed
			// waits for it to drain.
			w.onlyAcks(t, 200*time.Millisecond)
			sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGCONT})
		}
		w.untilResumed(t, accepted)
		pending = refused
	}
	w.untilAcked(t, n)
	for i, a := range w.acks {
		if a != i {
			t.Fatalf("acks out of order: %v", w.acks)
		}
	}
	sys.Root.Send(pid, &procmsg.CloseStdin{})
	r := p.untilExited(t)
	for _, m := range r.others {
		t.Fatalf("unexpected %T %+v", m, m)
	}
	w.out.Write(r.stdout.Bytes())
	var want bytes.Buffer
	for i := range n {
		want.Write(stdinChunk(i).Data)
	}
	if !bytes.Equal(w.out.Bytes(), want.Bytes()) {
		t.Fatalf("the child read %d bytes, not the %d written in order", w.out.Len(), want.Len())
	}
}

// expectNext returns the writer's next message that is not output, failing
// unless it is a T.
func expectNext[T any](t *testing.T, w *stdinWriter) T {
	t.Helper()
	m, ok := w.next(t, wait)
	if !ok {
		var zero T
		t.Fatalf("expected %T, got nothing", zero)
	}
	v, ok := m.(T)
	if !ok {
		var zero T
		t.Fatalf("expected %T, got %T %+v", zero, m, m)
	}
	return v
}

// ResumeWriting is answered at once when writing is not suspended, and
// WritingResumed never comes unasked: after a refusal, writes stay refused
// even once the queue has drained, until ResumeWriting.
func TestStdinWritingResumedOnlyWhenAsked(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, MaxStdin: maxStdin})
	start(t, sys, pid, "sh", "-c", "exec cat >/dev/null")
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGSTOP})
	w := &stdinWriter{sys: sys, p: p, pid: pid}
	sys.Root.Send(pid, &messages.ResumeWriting{})
	expectNext[*messages.WritingResumed](t, w)

	const n = stdinCount
	for i := range n {
		sys.Root.Send(pid, stdinChunk(i))
	}
	refused := w.answers(t, n-1)
	if len(refused) == 0 {
		t.Fatal("nothing was refused: the stopped child did not hold the writer back")
	}
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGCONT})
	w.untilAcked(t, n-len(refused))
	// Drained, but not asked: no WritingResumed, and writes still refused.
	if m, ok := w.next(t, 300*time.Millisecond); ok {
		t.Fatalf("unasked: %T %+v", m, m)
	}
	sys.Root.Send(pid, stdinChunk(n))
	if r := expectNext[*messages.WriteRefused](t, w); r.Buffered != 0 || r.Cmd.(*procmsg.WriteStdin).Ack != n {
		t.Fatalf("refused %+v, want write %d refused with nothing queued", r, n)
	}
	// Two writers, the handler and a future: each gets its own answer.
	sys.Root.Send(pid, &messages.ResumeWriting{})
	if res := ask(t, sys, pid, &messages.ResumeWriting{}); !isResumed(res) {
		t.Fatalf("ResumeWriting asked: %T %+v", res, res)
	}
	expectNext[*messages.WritingResumed](t, w)
	sys.Root.Send(pid, stdinChunk(n))
	if a := expectNext[*messages.WriteAck](t, w); a.Ack != n {
		t.Fatalf("ack %v, want %d", a.Ack, n)
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
