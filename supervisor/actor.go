package supervisor

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
)

// forceWait is how long a child stopped by force (protoactor's Stop, a system
// message) may take before the supervisor gives up on it: an actor that does
// not stop by then is stuck inside Receive, and no Go code can end it.
const forceWait = time.Second

type child struct {
	spec        ChildSpec
	pid         *actor.PID // current incarnation; nil while down
	alive       bool       // spawned and not yet terminated
	failed      bool       // failed, suspended, awaiting its supervisor's decision
	removed     bool       // spec forgotten (temporary or stopped on request)
	restarts    int
	consecutive int // failures in a row, for backoff
	startedAt   time.Time
}

// stopSeq stops a list of children one at a time, in list order.
type stopSeq struct {
	list       []*child
	i          int
	forced     bool
	timer      clock.Timer
	notStopped []string
	done       func(notStopped []string)
}

// wakeUp and stopTimeout are the supervisor's timer messages; gen tells a
// current timer from a stale one.
type wakeUp struct{ gen int }
type stopTimeout struct{ gen int }
type startTimeout struct{ gen int }

// childReady tells the supervisor that a child has handled Started, so the
// next child may start: children start one after the other, as in OTP, and a
// child can rely on the ones before it being up.
type childReady struct{ who *actor.PID }

func (*wakeUp) IgnoreDeadLetterLogging()       {}
func (*stopTimeout) IgnoreDeadLetterLogging()  {}
func (*startTimeout) IgnoreDeadLetterLogging() {}
func (*childReady) IgnoreDeadLetterLogging()   {}

// startSeq starts a list of children one at a time, in list order.
type startSeq struct {
	list  []*child
	i     int
	timer clock.Timer
	done  func()
}

// StartTimeout is how long a supervisor waits for a child to handle Started
// before it starts the next one anyway.
const StartTimeout = 5 * time.Second

type supervisor struct {
	opts     Options
	initial  []ChildSpec
	ctx      actor.Context
	log      *slog.Logger
	children []*child

	queue []func() // operations waiting to run, one at a time
	busy  bool

	stop     *stopSeq
	start    *startSeq
	wait     func() // continuation of a backoff wait
	waitTmr  clock.Timer
	gen      int
	restarts []time.Time // restart times within the intensity window

	shuttingDown bool
	escalated    bool
	terminating  bool // protoactor is stopping or restarting this actor
}

var _ actor.SupervisorStrategy = (*supervisor)(nil)

// Receive is the supervisor's table of contents.
func (s *supervisor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.started(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.terminate()
	case *actor.Terminated:
		s.childTerminated(m.Who)
	case *stopTimeout:
		s.stopTimedOut(m.gen)
	case *childReady:
		s.childStarted(m.who)
	case *startTimeout:
		s.startTimedOut(m.gen)
	case *wakeUp:
		s.wokeUp(m.gen)
	case *StartChild:
		s.startChildCmd(ctx.Sender(), m)
	case *StopChild:
		s.stopChildCmd(ctx.Sender(), m)
	case *RestartAll:
		s.restartAllCmd(ctx.Sender(), m)
	case *Shutdown:
		s.shutdownCmd(ctx.Sender())
	case *WhichChildren:
		s.whichChildren(ctx)
	case *Exec:
		s.exec(ctx, m)
	case *Sync:
		s.sync(ctx.Sender())
	}
}

func (s *supervisor) started(ctx actor.Context) {
	s.ctx = ctx
	s.log = s.opts.Logger
	if s.log == nil {
		s.log = ctx.Logger()
	}
	s.log = s.log.With("actor", ctx.Self().Id)
	for _, spec := range s.initial {
		s.children = append(s.children, &child{spec: spec})
	}
	s.enqueue(func() { s.startChildren(s.live(), s.next) })
}

// terminate releases timers when protoactor stops or restarts the
// supervisor; protoactor stops the children itself.
func (s *supervisor) terminate() {
	s.terminating = true
	s.queue = nil
	s.gen++
	if s.stop != nil && s.stop.timer != nil {
		s.stop.timer.Stop()
	}
	if s.start != nil && s.start.timer != nil {
		s.start.timer.Stop()
	}
	if s.waitTmr != nil {
		s.waitTmr.Stop()
	}
}

// HandleFailure implements actor.SupervisorStrategy: protoactor calls it on
// the supervisor's goroutine when a child panics. The child stays suspended
// until the supervisor has decided.
func (s *supervisor) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, pid *actor.PID, _ *actor.RestartStatistics, reason, _ any) {
	c := s.byPID(pid)
	if c == nil || s.terminating {
		sup.StopChildren(pid)
		return
	}
	err := AsError(reason)
	c.failed = true
	s.log.Warn("child failed", "child", pid.Id, "err", err)
	s.publish(&messages.ChildFailed{Path: pid.Id, Kind: c.spec.kind(), Reason: err})
	if s.shuttingDown || s.escalated || s.inStopSeq(c) {
		// It is being stopped already; a suspended child cannot drain, so
		// stop it now rather than wait for its shutdown timeout.
		s.ctx.Stop(pid)
		return
	}
	s.queue = append(s.queue, func() { s.restartAfter(c, pid, err) })
	if s.isStarting(c) {
		// It failed before its Started was acknowledged: stop waiting.
		s.start.timer.Stop()
		s.start.i++
		s.startNext()
		return
	}
	if !s.busy {
		s.next()
	}
}

func (s *supervisor) childTerminated(who *actor.PID) {
	c := s.byPID(who)
	if c == nil {
		return
	}
	c.alive = false
	c.pid = nil
	if s.isStarting(c) {
		s.start.timer.Stop()
		s.start.i++
		defer s.startNext()
	}
	if s.stop != nil && s.stop.i < len(s.stop.list) && s.stop.list[s.stop.i] == c {
		if s.stop.timer != nil {
			s.stop.timer.Stop()
		}
		s.stop.i++
		s.stopNext()
		return
	}
	if c.failed || s.terminating || s.shuttingDown || s.escalated || s.inStopSeq(c) {
		return
	}
	// The child stopped on its own: a normal exit.
	s.enqueue(func() { s.exited(c, who) })
}

// exited handles a child that stopped on its own.
func (s *supervisor) exited(c *child, pid *actor.PID) {
	if c.removed || c.alive {
		s.next()
		return
	}
	if c.spec.Restart == Permanent {
		s.publish(&messages.ChildFailed{Path: pid.Id, Kind: c.spec.kind(), Reason: ErrExited})
		s.restartAfter(c, nil, ErrExited)
		return
	}
	s.remove(c, pid.Id, nil)
	s.next()
}

// restartAfter applies the strategy after c failed with err. pid is the
// failed incarnation (nil after a normal exit); a failure of an incarnation
// that was already replaced is ignored.
func (s *supervisor) restartAfter(c *child, pid *actor.PID, err error) {
	if c.removed || s.shuttingDown || s.escalated || (pid != nil && (c.pid != pid || !c.failed)) {
		s.next()
		return
	}
	path := s.childPath(c)
	if c.spec.Restart == Temporary {
		s.stopChildren([]*child{c}, func([]string) {
			s.remove(c, path, err)
			s.next()
		})
		return
	}
	now := s.opts.Clock.Now()
	if s.intensityExceeded(now) {
		s.escalate(fmt.Errorf("%w: more than %d restarts in %v; last failure of %s: %w",
			ErrIntensity, max(s.opts.Intensity, 0), s.opts.Period, path, err))
		return
	}
	affected := s.affected(c)
	delay := s.backoff(c, now)
	s.stopChildren(reversed(affected), func([]string) {
		var again []*child
		for _, a := range affected {
			if a != c && a.spec.Restart == Temporary {
				s.remove(a, s.childPath(a), nil)
				continue
			}
			a.restarts++
			again = append(again, a)
			s.publish(&messages.ChildRestarted{Path: s.childPath(a), Kind: a.spec.kind(), Count: a.restarts, Delay: delay})
		}
		s.log.Info("restarting", "child", path, "strategy", s.opts.Strategy.String(), "delay", delay, "count", c.restarts)
		s.after(delay, func() { s.startChildren(again, s.next) })
	})
}

// failStart treats a child that could not be spawned as failed; its restart
// runs after the current operation.
func (s *supervisor) failStart(c *child, err error) {
	s.log.Error("child did not start", "child", s.childPath(c), "err", err)
	s.publish(&messages.ChildFailed{Path: s.childPath(c), Kind: c.spec.kind(), Reason: err})
	s.queue = append(s.queue, func() { s.restartAfter(c, nil, err) })
}

func (s *supervisor) intensityExceeded(now time.Time) bool {
	if s.opts.Intensity < 0 {
		return true
	}
	cut := now.Add(-s.opts.Period)
	kept := s.restarts[:0]
	for _, t := range s.restarts {
		if t.After(cut) {
			kept = append(kept, t)
		}
	}
	s.restarts = append(kept, now)
	return len(s.restarts) > s.opts.Intensity
}

// backoff returns the wait before c's next start and counts the failure.
func (s *supervisor) backoff(c *child, now time.Time) time.Duration {
	if !c.startedAt.IsZero() && now.Sub(c.startedAt) > s.opts.Period {
		c.consecutive = 0
	}
	c.consecutive++
	b := s.opts.Backoff
	d := b.Max
	if c.consecutive <= 32 {
		if x := b.Min << (c.consecutive - 1); x > 0 && x < b.Max {
			d = x
		}
	}
	j := time.Duration(b.Jitter * float64(d) * (2*s.opts.Rand.Float64() - 1))
	return max(d+j, 0)
}

// affected lists, in start order, the children a failure of c stops.
func (s *supervisor) affected(c *child) []*child {
	switch s.opts.Strategy {
	case AllForOne:
		return s.live()
	case RestForOne:
		var out []*child
		seen := false
		for _, x := range s.children {
			if x == c {
				seen = true
			}
			if seen && !x.removed {
				out = append(out, x)
			}
		}
		return out
	}
	return []*child{c}
}

func (s *supervisor) escalate(err error) {
	s.escalated = true
	s.queue = nil
	e := &EscalationError{Path: s.ctx.Self().Id, Cause: err}
	s.log.Error("escalating", "err", err)
	s.publish(&messages.Escalated{Path: e.Path, Reason: e})
	s.stopChildren(reversed(s.live()), func([]string) {
		s.busy = false
		if s.opts.OnEscalate != nil {
			s.opts.OnEscalate(e)
			return
		}
		if esc, ok := s.ctx.(interface{ EscalateFailure(reason, message any) }); ok {
			esc.EscalateFailure(e, nil)
			return
		}
		panic(e)
	})
}

func (s *supervisor) startChildCmd(sender *actor.PID, m *StartChild) {
	s.enqueue(func() {
		switch {
		case s.shuttingDown || s.escalated:
			s.reply(sender, &messages.CommandFailed{Cmd: m, Err: ErrShuttingDown})
			s.next()
			return
		case m.Spec.Name == "" || m.Spec.Props == nil:
			s.reply(sender, &messages.CommandFailed{Cmd: m, Err: fmt.Errorf("%w: a child spec needs a name and props", messages.ErrBadCommand)})
			s.next()
			return
		case s.byName(m.Spec.Name) != nil:
			s.reply(sender, &messages.CommandFailed{Cmd: m, Err: fmt.Errorf("%w: %q", ErrDuplicateChild, m.Spec.Name)})
			s.next()
			return
		}
		c := &child{spec: m.Spec}
		if err := s.startChild(c); err != nil {
			s.reply(sender, &messages.CommandFailed{Cmd: m, Err: err})
			s.next()
			return
		}
		s.children = append(s.children, c)
		s.reply(sender, &ChildAdded{Name: c.spec.Name, PID: c.pid})
		s.start = &startSeq{list: []*child{c}, done: s.next}
		s.awaitStarted()
	})
}

func (s *supervisor) stopChildCmd(sender *actor.PID, m *StopChild) {
	s.enqueue(func() {
		c := s.byName(m.Name)
		if c == nil {
			s.reply(sender, &messages.CommandFailed{Cmd: m, Err: fmt.Errorf("%w: %q", ErrNoChild, m.Name)})
			s.next()
			return
		}
		path := s.childPath(c)
		s.stopChildren([]*child{c}, func(notStopped []string) {
			s.remove(c, path, nil)
			s.reply(sender, &ChildRemoved{Name: m.Name, Stopped: len(notStopped) == 0})
			s.next()
		})
	})
}

func (s *supervisor) restartAllCmd(sender *actor.PID, m *RestartAll) {
	s.enqueue(func() {
		if s.shuttingDown || s.escalated {
			s.reply(sender, &messages.CommandFailed{Cmd: m, Err: ErrShuttingDown})
			s.next()
			return
		}
		s.stopChildren(reversed(s.live()), func(notStopped []string) {
			for _, c := range s.live() {
				if c.spec.Restart == Temporary {
					s.remove(c, s.childPath(c), nil)
					continue
				}
				c.restarts++
				s.publish(&messages.ChildRestarted{Path: s.childPath(c), Kind: c.spec.kind(), Count: c.restarts})
			}
			s.startChildren(s.live(), func() {
				s.reply(sender, &RestartReport{NotStopped: notStopped})
				s.next()
			})
		})
	})
}

// shutdownCmd preempts whatever the supervisor is waiting for: pending
// restarts are dropped and a backoff wait ends at once.
func (s *supervisor) shutdownCmd(sender *actor.PID) {
	if s.shuttingDown {
		return
	}
	s.shuttingDown = true
	s.queue = nil
	if s.wait != nil {
		s.waitTmr.Stop()
		s.gen++
		s.wait = nil
		s.busy = false
	}
	s.enqueue(func() {
		s.stopChildren(reversed(s.live()), func(notStopped []string) {
			for _, c := range s.live() {
				s.remove(c, s.childPath(c), nil)
			}
			s.reply(sender, &ShutdownReport{NotStopped: notStopped})
			s.ctx.Stop(s.ctx.Self())
		})
	})
}

func (s *supervisor) sync(sender *actor.PID) {
	s.enqueue(func() {
		s.reply(sender, &Synced{})
		s.next()
	})
}

func (s *supervisor) whichChildren(ctx actor.Context) {
	out := make([]ChildInfo, 0, len(s.children))
	for _, c := range s.children {
		if c.removed {
			continue
		}
		out = append(out, ChildInfo{
			Name: c.spec.Name, Kind: c.spec.kind(), PID: c.pid, Restart: c.spec.Restart,
			Restarts: c.restarts, Running: c.alive && !c.failed,
		})
	}
	if ctx.Sender() != nil {
		ctx.Respond(&Children{Children: out})
	}
}

func (s *supervisor) exec(ctx actor.Context, m *Exec) {
	if m.Fn == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("function run on the supervisor panicked", "panic", r)
		}
	}()
	m.Fn(ctx)
}

// startChild spawns c's current incarnation.
func (s *supervisor) startChild(c *child) (err error) {
	var props *actor.Props
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("child %q props: %w", c.spec.Name, AsError(r))
			}
		}()
		props = c.spec.Props()
	}()
	if err != nil {
		return err
	}
	if props == nil {
		return fmt.Errorf("%w: child %q has nil props", messages.ErrBadCommand, c.spec.Name)
	}
	parent := s.ctx.Self()
	props = props.Clone(actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(rc actor.ReceiverContext, env *actor.MessageEnvelope) {
			next(rc, env)
			if _, ok := env.Message.(*actor.Started); ok {
				rc.ActorSystem().Root.Send(parent, &childReady{who: rc.Self()})
			}
		}
	}))
	pid, err := inspect.Spawn(s.ctx, props, c.spec.Name, c.spec.kind(), c.spec.Mailbox)
	if err != nil {
		return fmt.Errorf("spawn %q: %w", c.spec.Name, err)
	}
	c.pid, c.alive, c.failed = pid, true, false
	c.startedAt = s.opts.Clock.Now()
	if r := inspect.From(s.ctx.ActorSystem()); r != nil {
		r.Lookup(pid.Id).SetRestarts(c.restarts)
	}
	s.publish(&messages.ChildStarted{Path: pid.Id, Kind: c.spec.kind(), PID: pid, Restarts: c.restarts})
	return nil
}

// startChildren starts list one child at a time, in list order, each once
// the one before it has handled Started, and then calls done. A child that
// cannot be spawned is treated as failed.
func (s *supervisor) startChildren(list []*child, done func()) {
	s.start = &startSeq{list: list, done: done}
	s.startNext()
}

func (s *supervisor) startNext() {
	seq := s.start
	for ; seq.i < len(seq.list); seq.i++ {
		c := seq.list[seq.i]
		if c.removed || c.alive {
			continue
		}
		if err := s.startChild(c); err != nil {
			s.failStart(c, err)
			continue
		}
		s.awaitStarted()
		return
	}
	s.start = nil
	seq.done()
}

func (s *supervisor) awaitStarted() {
	s.gen++
	gen := s.gen
	self := s.ctx.Self()
	root := s.ctx.ActorSystem().Root
	s.start.timer = s.opts.Clock.AfterFunc(StartTimeout, func() { root.Send(self, &startTimeout{gen: gen}) })
}

func (s *supervisor) childStarted(who *actor.PID) {
	if c := s.byPID(who); c != nil && s.isStarting(c) {
		s.start.timer.Stop()
		s.start.i++
		s.startNext()
	}
}

func (s *supervisor) startTimedOut(gen int) {
	if s.start == nil || gen != s.gen {
		return
	}
	s.log.Warn("child did not handle Started in time; starting the next", "child", s.childPath(s.start.list[s.start.i]))
	s.start.i++
	s.startNext()
}

func (s *supervisor) isStarting(c *child) bool {
	return s.start != nil && s.start.i < len(s.start.list) && s.start.list[s.start.i] == c
}

// stopChildren stops list one child at a time, in list order, and then calls
// done with the paths of those that did not stop.
func (s *supervisor) stopChildren(list []*child, done func(notStopped []string)) {
	s.stop = &stopSeq{list: list, done: done}
	s.stopNext()
}

func (s *supervisor) stopNext() {
	seq := s.stop
	for seq.i < len(seq.list) && !seq.list[seq.i].alive {
		seq.i++
	}
	if seq.i == len(seq.list) {
		s.stop = nil
		seq.done(seq.notStopped)
		return
	}
	c := seq.list[seq.i]
	seq.forced = false
	wait := c.spec.shutdown()
	switch {
	case c.failed || wait < 0:
		seq.forced = true
		wait = forceWait
		s.ctx.Stop(c.pid)
	case c.spec.StopMessage != nil:
		s.ctx.Send(c.pid, c.spec.StopMessage)
	default:
		s.ctx.Poison(c.pid)
	}
	s.gen++
	gen := s.gen
	self := s.ctx.Self()
	root := s.ctx.ActorSystem().Root
	seq.timer = s.opts.Clock.AfterFunc(wait, func() { root.Send(self, &stopTimeout{gen: gen}) })
}

func (s *supervisor) stopTimedOut(gen int) {
	seq := s.stop
	if seq == nil || gen != s.gen || seq.i >= len(seq.list) {
		return
	}
	c := seq.list[seq.i]
	if !seq.forced {
		s.log.Warn("child did not stop in time; stopping it by force", "child", c.pid.Id)
		seq.forced = true
		s.ctx.Stop(c.pid)
		s.gen++
		gen := s.gen
		self := s.ctx.Self()
		root := s.ctx.ActorSystem().Root
		seq.timer = s.opts.Clock.AfterFunc(forceWait, func() { root.Send(self, &stopTimeout{gen: gen}) })
		return
	}
	s.log.Error("child did not stop; abandoning it", "child", c.pid.Id)
	seq.notStopped = append(seq.notStopped, c.pid.Id)
	c.alive = false
	c.pid = nil
	seq.i++
	s.stopNext()
}

// after runs f once d has passed on the supervisor's clock.
func (s *supervisor) after(d time.Duration, f func()) {
	s.gen++
	gen := s.gen
	s.wait = f
	self := s.ctx.Self()
	root := s.ctx.ActorSystem().Root
	s.waitTmr = s.opts.Clock.AfterFunc(d, func() { root.Send(self, &wakeUp{gen: gen}) })
}

func (s *supervisor) wokeUp(gen int) {
	if gen != s.gen || s.wait == nil {
		return
	}
	f := s.wait
	s.wait = nil
	f()
}

// enqueue adds an operation; operations run one at a time, each ending with
// a call to next.
func (s *supervisor) enqueue(op func()) {
	if s.terminating {
		return
	}
	s.queue = append(s.queue, op)
	if !s.busy {
		s.next()
	}
}

func (s *supervisor) next() {
	if len(s.queue) == 0 || s.terminating {
		s.busy = false
		return
	}
	s.busy = true
	op := s.queue[0]
	s.queue = s.queue[1:]
	op()
}

func (s *supervisor) remove(c *child, path string, reason error) {
	c.removed = true
	s.children = slices.DeleteFunc(s.children, func(x *child) bool { return x == c })
	s.publish(&messages.ChildStopped{Path: path, Kind: c.spec.kind(), Reason: reason})
}

func (s *supervisor) publish(ev messages.LifecycleEvent) {
	if s.opts.Events != nil {
		s.opts.Events(ev)
		return
	}
	s.ctx.ActorSystem().EventStream.Publish(ev)
}

func (s *supervisor) reply(to *actor.PID, msg any) {
	if to != nil {
		s.ctx.Send(to, msg)
	}
}

func (s *supervisor) live() []*child {
	var out []*child
	for _, c := range s.children {
		if !c.removed {
			out = append(out, c)
		}
	}
	return out
}

func (s *supervisor) inStopSeq(c *child) bool {
	return s.stop != nil && slices.Contains(s.stop.list[s.stop.i:], c)
}

func (s *supervisor) byPID(pid *actor.PID) *child {
	for _, c := range s.children {
		if c.pid != nil && c.pid.Equal(pid) {
			return c
		}
	}
	return nil
}

func (s *supervisor) byName(name string) *child {
	for _, c := range s.children {
		if !c.removed && c.spec.Name == name {
			return c
		}
	}
	return nil
}

func (s *supervisor) childPath(c *child) string {
	if c.pid != nil {
		return c.pid.Id
	}
	return s.ctx.Self().Id + "/" + c.spec.Name
}

func reversed(list []*child) []*child {
	out := slices.Clone(list)
	slices.Reverse(out)
	return out
}
