// Package process is microstack's process pipe: an actor that runs a child
// program and speaks for it in messages (package messages/procmsg), as
// MicroStack's ILibProcessPipe does for MeshAgent's helper processes and
// terminal sessions.
//
// Spawn starts the child; its output arrives at the handler as Stdout and
// Stderr events, in order, each at most Options.ReadSize bytes; Exited is
// the last event. Output is flow-controlled: the handler holds read credits
// (Options.Credits at Spawn) and grants more with messages.ResumeReading;
// the actor reads at most Options.MaxBuffered bytes ahead of delivery, so a
// child that writes faster than its handler reads is slowed down by its own
// pipe rather than filling memory. Stdin writes are acknowledged on request
// and refused past Options.MaxStdin; after a refusal every write is refused
// until the writer asks messages.ResumeWriting (the back-pressure protocol
// of package messages).
//
// The child runs in a process group of its own (a session of its own under
// a pseudo-terminal). When the actor stops or restarts, the group gets
// SIGTERM, then SIGKILL once Options.Grace has passed, and the actor waits
// for the child before it is gone: no child outlives its actor. Pipes are
// read, written and waited on by goroutines the actor owns; Receive never
// blocks on them, except when stopping, for at most the grace period.
//
// On Windows the actor runs children on pipes through os/exec: output
// events, stdin with back-pressure, CloseStdin, exit codes and Timeout work
// as on Unix, but there are no signals or process groups. A timeout, the
// actor's stop and Signal{Sig: SIGKILL} kill the child at once
// (os.Process.Kill, reported as SIGKILL in Exited), and its own children
// survive it, since only a Job object could reach them. PTY, Credential and
// any other signal are refused with procmsg.ErrUnsupported.
package process

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/internal/inbox"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Kind is the process actor's kind in the runtime's tree.
const Kind = "process"

// Props returns the props of a process pipe actor configured by opts.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &procActor{opts: opts} })
}

// ChildSpec returns a supervisor child spec that runs a process pipe actor
// named name. With opts.Start set the child is transient (restarted when
// the program fails, not when it exits cleanly); without, temporary. Its
// shutdown timeout covers the grace period between SIGTERM and SIGKILL.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	restart := supervisor.Temporary
	if opts.Start != nil {
		restart = supervisor.Transient
	}
	grace := opts.withDefaults().Grace
	return supervisor.ChildSpec{
		Name:     name,
		Kind:     Kind,
		Props:    func() *actor.Props { return Props(opts) },
		Restart:  restart,
		Shutdown: grace + time.Second,
	}
}

type request struct {
	from *actor.PID
	cmd  any
}

type stdinReq struct {
	request
	job stdinJob
	ack any
}

type procActor struct {
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	stats *inspect.Entry
	self  *actor.PID
	root  *actor.RootContext

	handler    *actor.PID
	registered bool
	closing    bool

	gen      int
	starting *request
	stash    []request // commands that arrived while a Spawn was starting
	spawn    *procmsg.Spawn
	c        *child
	fromOpts bool

	// output flow
	queue       []output
	credits     int
	unlimited   bool
	suspended   bool
	passiveSent bool
	ended       int
	reaped      *reaped
	peak        int

	// stdin
	stdinQ      []stdinReq
	stdinQueued int
	stdinBusy   bool
	stdinClosed bool
	wSuspended  bool         // a write was refused: refuse all until ResumeWriting
	resumers    []*actor.PID // asked ResumeWriting, not yet told WritingResumed

	// termination
	timedOut     bool
	timeoutTimer clock.Timer
	killTimer    clock.Timer

	wg      sync.WaitGroup
	results *inbox.Inbox // delivered by the child's goroutines, handled by drain
}

type (
	nudge       struct{}
	timeoutTick struct{ gen int }
	killTick    struct{ gen int }
	started     struct {
		gen int
		c   *child
		err error
	}
)

// Receive is the table of contents of the process actor.
func (p *procActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		p.release(ctx)
	case *actor.Stopped, *actor.ReceiveTimeout:
	case nudge:
		p.drain(ctx)
	case timeoutTick:
		p.timeout(ctx, m)
	case killTick:
		p.kill(ctx, m)
	case *procmsg.Spawn:
		p.spawnChild(ctx, request{from: ctx.Sender(), cmd: m})
	case *procmsg.WriteStdin, *procmsg.CloseStdin, *procmsg.Signal:
		p.toChild(ctx, request{from: ctx.Sender(), cmd: m})
	case *messages.ResumeWriting:
		p.resumeWriting(ctx, request{from: ctx.Sender(), cmd: m})
	case *messages.ResumeReading:
		p.resumeReading(ctx, m)
	case *messages.SuspendReading:
		p.suspended = true
	case *messages.Register:
		p.handler, p.registered = m.Handler, true
	default:
		p.fail(ctx, request{from: ctx.Sender(), cmd: m}, fmt.Errorf("process: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (p *procActor) start(ctx actor.Context) {
	if stale(ctx) {
		p.closing = true
		return
	}
	p.log = p.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind)
	p.clk = p.opts.Clock
	p.stats = inspect.Of(ctx)
	p.self = ctx.Self()
	p.root = ctx.ActorSystem().Root
	self, root := p.self, p.root
	p.results = inbox.New(func() { root.Send(self, nudge{}) })
	if p.opts.Start != nil {
		p.fromOpts = true
		p.spawnChild(ctx, request{cmd: p.opts.Start})
	}
}

// stale reports whether this incarnation was started after its actor had
// stopped: protoactor handles a Restart queued behind a Stop (a failure
// racing with a stop request) by incarnating the stopped actor again, out of
// the process registry. Such an incarnation must not start a child nobody
// could stop.
func stale(ctx actor.Context) bool {
	_, ok := ctx.ActorSystem().ProcessRegistry.Get(ctx.Self())
	return !ok
}

// toChild handles the commands meant for a running child.
func (p *procActor) toChild(ctx actor.Context, r request) {
	if p.starting != nil {
		p.stash = append(p.stash, r)
		return
	}
	if p.c == nil || p.closing {
		p.fail(ctx, r, procmsg.ErrNotRunning)
		return
	}
	switch m := r.cmd.(type) {
	case *procmsg.WriteStdin:
		p.writeStdin(ctx, r, m)
	case *procmsg.CloseStdin:
		p.closeStdin(ctx, r)
	case *procmsg.Signal:
		p.signal(ctx, r, m)
	}
}

func (p *procActor) spawnChild(ctx actor.Context, r request) {
	m := r.cmd.(*procmsg.Spawn)
	switch {
	case p.closing:
		p.fail(ctx, r, fmt.Errorf("process: %w", messages.ErrClosed))
		return
	case p.starting != nil || p.c != nil:
		p.fail(ctx, r, procmsg.ErrRunning)
		return
	case m.Path == "":
		p.fail(ctx, r, fmt.Errorf("process: empty path: %w", messages.ErrBadCommand))
		return
	}
	if !p.registered {
		p.handler = p.opts.Handler
		if p.handler == nil {
			p.handler = r.from
		}
	}
	p.gen++
	p.starting = &r
	p.spawn = m
	p.resetFlow()
	gen, opts := p.gen, p.opts
	p.goDo(func() any {
		c, err := startChild(gen, m, opts)
		return started{gen: gen, c: c, err: err}
	})
}

func (p *procActor) resetFlow() {
	p.queue = nil
	p.credits = p.opts.Credits
	p.unlimited = p.opts.Credits < 0
	p.suspended = false
	p.passiveSent = false
	p.ended = 0
	p.reaped = nil
	p.stdinQ = nil
	p.stdinQueued = 0
	p.stdinBusy = false
	p.stdinClosed = false
	p.wSuspended = false
	p.timedOut = false
}

func (p *procActor) started(ctx actor.Context, m started) {
	r := *p.starting
	p.starting = nil
	stash := p.stash
	p.stash = nil
	if m.err != nil {
		p.fail(ctx, r, m.err)
		for _, s := range stash {
			if _, ok := s.cmd.(*messages.ResumeWriting); ok {
				p.resumeWriting(ctx, s) // nothing is queued: answered at once
				continue
			}
			p.fail(ctx, s, procmsg.ErrNotRunning)
		}
		if p.fromOpts && !p.closing {
			panic(m.err)
		}
		return
	}
	p.c = m.c
	m.c.serve(p.opts.ReadSize, p.results.Put)
	p.stats.Add("spawns", 1)
	p.log.Debug("process: started", "path", p.spawn.Path, "pid", m.c.pid)
	if p.closing {
		return // release stops it
	}
	p.replyOrTell(ctx, r.from, &procmsg.Started{PID: m.c.pid})
	if p.opts.Timeout > 0 {
		root, self, gen := p.root, p.self, p.gen
		p.timeoutTimer = p.clk.AfterFunc(p.opts.Timeout, func() { root.Send(self, timeoutTick{gen: gen}) })
	}
	for _, s := range stash {
		if _, ok := s.cmd.(*messages.ResumeWriting); ok {
			p.resumeWriting(ctx, s)
			continue
		}
		p.toChild(ctx, s)
	}
}

// goDo runs f in a goroutine the actor owns and delivers its result.
func (p *procActor) goDo(f func() any) { p.results.Go(&p.wg, f) }

func (p *procActor) drain(ctx actor.Context) {
	for _, r := range p.results.Take() {
		switch m := r.(type) {
		case started:
			p.started(ctx, m)
		case output:
			p.output(ctx, m)
		case outputEnded:
			p.outputEnded(ctx, m)
		case reaped:
			p.childReaped(ctx, m)
		case stdinDone:
			p.stdinDone(ctx, m)
		}
	}
}

func (p *procActor) replyOrTell(ctx actor.Context, to *actor.PID, msg any) {
	if to == nil {
		to = p.handler
	}
	if to != nil {
		ctx.Send(to, msg)
	}
}

func (p *procActor) tell(ctx actor.Context, msg any) {
	if p.handler != nil {
		ctx.Send(p.handler, msg)
	}
}

func (p *procActor) fail(ctx actor.Context, r request, err error) {
	p.stats.Add("failures", 1)
	p.replyOrTell(ctx, r.from, &messages.CommandFailed{Cmd: r.cmd, Err: err})
}

func (p *procActor) signal(ctx actor.Context, r request, m *procmsg.Signal) {
	if p.reaped != nil {
		p.fail(ctx, r, procmsg.ErrNotRunning)
		return
	}
	if err := p.c.signal(m.Sig, m.Group); err != nil {
		p.fail(ctx, r, fmt.Errorf("process: signal %v: %w", m.Sig, err))
	}
}

func (p *procActor) timeout(ctx actor.Context, m timeoutTick) {
	if m.gen != p.gen || p.c == nil || p.reaped != nil || p.closing {
		return
	}
	p.timedOut = true
	p.log.Info("process: timed out", "pid", p.c.pid, "after", p.opts.Timeout)
	_ = p.c.terminateGroup()
	root, self, gen := p.root, p.self, p.gen
	p.killTimer = p.clk.AfterFunc(p.opts.Grace, func() { root.Send(self, killTick{gen: gen}) })
}

func (p *procActor) kill(ctx actor.Context, m killTick) {
	if m.gen != p.gen || p.c == nil || p.closing {
		return
	}
	_ = p.c.killGroup()
}

func (p *procActor) stopTimers() {
	for _, t := range []clock.Timer{p.timeoutTimer, p.killTimer} {
		if t != nil {
			t.Stop()
		}
	}
	p.timeoutTimer, p.killTimer = nil, nil
}

// release ends the child and its process group (SIGTERM, SIGKILL after the
// grace period; on Windows, a kill at once), waits for every goroutine and closes every file.
func (p *procActor) release(ctx actor.Context) {
	if p.self == nil {
		return // never started, or a stale incarnation
	}
	p.closing = true
	p.stopTimers()
	p.wg.Wait() // a Spawn in progress
	p.drain(ctx)
	if c := p.c; c != nil {
		p.terminate(c)
		c.close()
		code, sig := c.exitStatus()
		p.tell(ctx, &procmsg.Exited{Code: code, Signal: sig, Duration: time.Since(c.started), TimedOut: p.timedOut})
		p.c = nil
	}
	closed := fmt.Errorf("process: %w", messages.ErrClosed)
	for _, r := range p.stdinQ {
		p.fail(ctx, r.request, closed)
	}
	p.stdinQ = nil
	for _, r := range p.stash {
		p.fail(ctx, r, closed)
	}
	p.stash = nil
	if p.results != nil {
		p.results.Take() // output of a child that is gone
	}
	p.stats.Set("buffered", 0)
}

// terminate sends SIGTERM to the child's group, waits up to the grace
// period for the child to be reaped and the group to empty, then sends
// SIGKILL and waits for the child. On Windows the first step kills the
// child already, and its "group" is the child alone.
func (p *procActor) terminate(c *child) {
	if !reapedYet(c) || c.groupAlive() {
		_ = c.terminateGroup()
	}
	grace := make(chan struct{})
	t := p.clk.AfterFunc(p.opts.Grace, func() { close(grace) })
	defer t.Stop()
	select {
	case <-c.exited:
	case <-grace:
	}
	// Members of the group other than the child are not ours to reap:
	// poll until they are gone or the grace period ends.
	for c.groupAlive() {
		select {
		case <-grace:
		case <-time.After(10 * time.Millisecond):
			continue
		}
		break
	}
	if !reapedYet(c) || c.groupAlive() {
		p.log.Warn("process: still running after the grace period, killing", "pid", c.pid)
		_ = c.killGroup()
	}
	<-c.exited
}

func reapedYet(c *child) bool {
	select {
	case <-c.exited:
		return true
	default:
		return false
	}
}
