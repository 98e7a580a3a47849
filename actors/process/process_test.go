package process_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/actors/process"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
	"github.com/microstack-go/microstack/supervisor"
)

// helperEnv, when set in the environment, makes the test binary a child
// program for the tests (see helperMain) instead of running tests: the
// portable tests need no shell, so they run on Windows too.
const helperEnv = "PROCESS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode))
	}
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter throttle keeps a one-second timer
		// goroutine that ends by itself after the system is gone.
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	)
}

const wait = 10 * time.Second

func newSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	t.Cleanup(sys.Shutdown)
	return sys
}

// probe records the messages it receives.
type probe struct {
	pid *actor.PID
	ch  chan any
}

func newProbe(t testing.TB, sys *actor.ActorSystem) *probe {
	p := &probe{ch: make(chan any, 1024)}
	p.pid = sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
			return
		}
		p.ch <- ctx.Message()
	}))
	t.Cleanup(func() { _ = sys.Root.StopFuture(p.pid).Wait() })
	return p
}

func (p *probe) next(t testing.TB) any {
	t.Helper()
	select {
	case m := <-p.ch:
		return m
	case <-time.After(wait):
		t.Fatal("probe: nothing received")
		return nil
	}
}

// run is what a probe saw of one child, up to its Exited.
type run struct {
	stdout, stderr bytes.Buffer
	exited         *procmsg.Exited
	others         []any
}

func (p *probe) untilExited(t testing.TB) *run {
	t.Helper()
	r := &run{}
	for r.exited == nil {
		switch m := p.next(t).(type) {
		case *procmsg.Stdout:
			r.stdout.Write(m.Data)
		case *procmsg.Stderr:
			r.stderr.Write(m.Data)
		case *procmsg.Exited:
			r.exited = m
		default:
			r.others = append(r.others, m)
		}
	}
	return r
}

// spawnActor starts a process actor that is stopped when the test ends.
func spawnActor(t testing.TB, sys *actor.ActorSystem, opts process.Options) *actor.PID {
	t.Helper()
	pid := sys.Root.Spawn(process.Props(opts))
	t.Cleanup(func() { _ = sys.Root.StopFuture(pid).Wait() })
	return pid
}

func ask(t testing.TB, sys *actor.ActorSystem, pid *actor.PID, msg any) any {
	t.Helper()
	res, err := sys.Root.RequestFuture(pid, msg, wait).Result()
	if err != nil {
		t.Fatalf("%T: %v", msg, err)
	}
	return res
}

func start(t testing.TB, sys *actor.ActorSystem, pid *actor.PID, path string, args ...string) int {
	t.Helper()
	res := ask(t, sys, pid, &procmsg.Spawn{Path: path, Args: args})
	s, ok := res.(*procmsg.Started)
	if !ok {
		t.Fatalf("Spawn %s answered %+v", path, res)
	}
	return s.PID
}

func untilReady(t testing.TB, p *probe) {
	t.Helper()
	var out bytes.Buffer
	for !strings.Contains(out.String(), "ready") {
		if m, ok := p.next(t).(*procmsg.Stdout); ok {
			out.Write(m.Data)
		}
	}
}

func TestChildSpecShutdownCoversGrace(t *testing.T) {
	spec := process.ChildSpec("helper", process.Options{Start: &procmsg.Spawn{Path: "true"}, Grace: 2 * time.Second})
	if spec.Name != "helper" || spec.Kind != process.Kind || spec.Restart != supervisor.Transient || spec.Shutdown <= 2*time.Second || spec.Props == nil {
		t.Fatalf("spec = %+v", spec)
	}
	if s := process.ChildSpec("shell", process.Options{}); s.Restart != supervisor.Temporary {
		t.Fatalf("spec without Start restarts %v", s.Restart)
	}
}

// helperMain is the child program the portable tests run.
func helperMain(mode string) int {
	switch mode {
	case "cat":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			return 1
		}
		return 0
	case "streams":
		fmt.Fprint(os.Stdout, "out\n")
		fmt.Fprint(os.Stderr, "err\n")
		fmt.Fprint(os.Stdout, "more\n")
		return 3
	case "sleep":
		fmt.Fprint(os.Stdout, "ready\n")
		time.Sleep(time.Minute)
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}

// helper returns a Spawn that runs the test binary as the helper mode.
func helper(t testing.TB, mode string) *procmsg.Spawn {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &procmsg.Spawn{Path: exe, Env: append(os.Environ(), helperEnv+"="+mode)}
}

func startHelper(t testing.TB, sys *actor.ActorSystem, pid *actor.PID, mode string) int {
	t.Helper()
	res := ask(t, sys, pid, helper(t, mode))
	s, ok := res.(*procmsg.Started)
	if !ok {
		t.Fatalf("Spawn helper %s answered %+v", mode, res)
	}
	return s.PID
}

func TestHelperRoundTripStderrAndExitCode(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Credits: -1})
	startHelper(t, sys, pid, "cat")
	sys.Root.Send(pid, &procmsg.WriteStdin{Data: []byte("hello, "), Ack: 1})
	sys.Root.Send(pid, &procmsg.WriteStdin{Data: []byte("world\n"), Ack: 2})
	sys.Root.Send(pid, &procmsg.CloseStdin{})
	r := p.untilExited(t)
	if r.stdout.String() != "hello, world\n" || r.exited.Code != 0 || r.exited.Signal != 0 {
		t.Fatalf("stdout %q, exited %+v", r.stdout.String(), r.exited)
	}
	acks := 0
	for _, m := range r.others {
		if _, ok := m.(*messages.WriteAck); ok {
			acks++
		}
	}
	if acks != 2 {
		t.Fatalf("%d acks, others %v", acks, r.others)
	}
	startHelper(t, sys, pid, "streams")
	r = p.untilExited(t)
	if r.stdout.String() != "out\nmore\n" || r.stderr.String() != "err\n" || r.exited.Code != 3 || r.exited.Signal != 0 {
		t.Fatalf("stdout %q stderr %q exited %+v", r.stdout.String(), r.stderr.String(), r.exited)
	}
}

func TestHelperTimeoutEndsChild(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Timeout: 300 * time.Millisecond, Grace: time.Second})
	startHelper(t, sys, pid, "sleep")
	r := p.untilExited(t)
	if !r.exited.TimedOut || r.exited.Code != -1 || r.exited.Signal != stopSignal {
		t.Fatalf("exited %+v, want timed out by %v", r.exited, stopSignal)
	}
}

func TestHelperStoppingActorEndsChild(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := sys.Root.Spawn(process.Props(process.Options{Handler: p.pid}))
	startHelper(t, sys, pid, "sleep")
	untilReady(t, p)
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	r := p.untilExited(t)
	if r.exited.Code != -1 || r.exited.Signal != stopSignal || r.exited.TimedOut {
		t.Fatalf("exited %+v, want ended by %v", r.exited, stopSignal)
	}
}

func TestHelperSIGKILLEndsChild(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid})
	startHelper(t, sys, pid, "sleep")
	untilReady(t, p)
	sys.Root.Send(pid, &procmsg.Signal{Sig: syscall.SIGKILL})
	r := p.untilExited(t)
	if r.exited.Code != -1 || r.exited.Signal != syscall.SIGKILL {
		t.Fatalf("exited %+v", r.exited)
	}
	// The pid is free for another child.
	if got := startHelper(t, sys, pid, "streams"); got <= 0 {
		t.Fatalf("second child pid %d", got)
	}
	if r := p.untilExited(t); r.exited.Code != 3 {
		t.Fatalf("second child: exited %+v, stderr %s", r.exited, strconv.Quote(r.stderr.String()))
	}
}

func isResumed(m any) bool {
	_, ok := m.(*messages.WritingResumed)
	return ok
}

// ResumeWriting when no write was refused is answered at once: with no
// child, while a child is starting (after the writes sent before it), and
// with one running.
func TestResumeWritingNotSuspendedIsAnsweredAtOnce(t *testing.T) {
	sys := newSystem(t)
	p := newProbe(t, sys)
	pid := spawnActor(t, sys, process.Options{Handler: p.pid, Credits: -1})
	if res := ask(t, sys, pid, &messages.ResumeWriting{}); !isResumed(res) {
		t.Fatalf("no child: ResumeWriting answered %T %+v", res, res)
	}
	sys.Root.Send(pid, helper(t, "cat"))
	sys.Root.Send(pid, &procmsg.WriteStdin{Data: []byte("before\n"), Ack: 1})
	if res := ask(t, sys, pid, &messages.ResumeWriting{}); !isResumed(res) {
		t.Fatalf("starting: ResumeWriting answered %T %+v", res, res)
	}
	if res := ask(t, sys, pid, &messages.ResumeWriting{}); !isResumed(res) {
		t.Fatalf("running: ResumeWriting answered %T %+v", res, res)
	}
	// Without a sender the answer goes to the handler.
	sys.Root.Send(pid, &messages.ResumeWriting{})
	sys.Root.Send(pid, &procmsg.CloseStdin{})
	r := p.untilExited(t)
	if r.stdout.String() != "before\n" || r.exited.Code != 0 {
		t.Fatalf("stdout %q, exited %+v", r.stdout.String(), r.exited)
	}
	// The ack and the answer race each other.
	var got []string
	for _, m := range r.others {
		got = append(got, fmt.Sprintf("%T", m))
	}
	slices.Sort(got)
	if want := []string{"*messages.WriteAck", "*messages.WritingResumed", "*procmsg.Started"}; !slices.Equal(got, want) {
		t.Fatalf("handler got %v, want %v", got, want)
	}
}
