package runtime

import (
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/inspect"
)

var clockExtensionID = extensions.NextExtensionID()

type clockExtension struct{ c clock.Clock }

func (clockExtension) ExtensionID() extensions.ExtensionID { return clockExtensionID }

func installClock(system *actor.ActorSystem, c clock.Clock) {
	system.Extensions.Register(clockExtension{c})
}

// ClockOf returns the clock of the chain running on system, or the wall
// clock when no chain runs there. Actors that are not given a clock in their
// options use it, so a chain on a Manual clock drives them too.
func ClockOf(system *actor.ActorSystem) clock.Clock {
	if system != nil {
		if ext, ok := system.Extensions.Get(clockExtensionID).(clockExtension); ok {
			return ext.c
		}
	}
	return clock.Real()
}

// Cancel stops a timer; it reports whether the timer was still pending. It is
// safe to call more than once and from any goroutine.
type Cancel func() bool

// SendAfter delivers msg to pid once d has passed on the chain's clock,
// unless cancelled first or pid stops first. It is MicroStack's
// ILibLifeTime_Add.
func (r *Runtime) SendAfter(pid *actor.PID, d time.Duration, msg any) Cancel {
	return SendAfter(r.system, pid, d, msg)
}

// SendEvery delivers msg to pid every period on the chain's clock until
// cancelled or until pid stops.
func (r *Runtime) SendEvery(pid *actor.PID, period time.Duration, msg any) Cancel {
	return SendEvery(r.system, pid, period, msg)
}

// SendAfter is Runtime.SendAfter for any actor system; the clock is
// ClockOf(system).
func SendAfter(system *actor.ActorSystem, pid *actor.PID, d time.Duration, msg any) Cancel {
	t := &timer{system: system, pid: pid, msg: msg, clock: ClockOf(system)}
	t.arm(d, 0)
	return t.tie()
}

// SendEvery is Runtime.SendEvery for any actor system; the clock is
// ClockOf(system). A period of zero or less is taken as one millisecond.
func SendEvery(system *actor.ActorSystem, pid *actor.PID, period time.Duration, msg any) Cancel {
	if period <= 0 {
		period = time.Millisecond
	}
	t := &timer{system: system, pid: pid, msg: msg, clock: ClockOf(system)}
	t.arm(period, period)
	return t.tie()
}

type timer struct {
	system *actor.ActorSystem
	pid    *actor.PID
	msg    any
	clock  clock.Clock

	mu      sync.Mutex
	pending clock.Timer
	done    bool
	onEnd   func() // releases the watcher, if one was needed
}

func (t *timer) arm(d, every time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.pending = t.clock.AfterFunc(d, func() {
		t.system.Root.Send(t.pid, t.msg)
		if every > 0 {
			t.arm(every, every)
		} else {
			t.finish()
		}
	})
}

func (t *timer) cancel() bool {
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		return false
	}
	t.done = true
	stopped := t.pending.Stop()
	end := t.onEnd
	t.onEnd = nil
	t.mu.Unlock()
	if end != nil {
		end()
	}
	return stopped
}

func (t *timer) finish() {
	t.mu.Lock()
	t.done = true
	end := t.onEnd
	t.onEnd = nil
	t.mu.Unlock()
	if end != nil {
		end()
	}
}

// tie cancels the timer when its target stops: through the target's entry
// in the chain's actor table when it has one, otherwise through a small
// watcher actor that lives as long as the timer.
func (t *timer) tie() Cancel {
	if e := inspect.From(t.system).Lookup(t.pid.Id); e != nil {
		remove := e.OnStop(func() { t.cancel() })
		t.mu.Lock()
		if t.done {
			t.mu.Unlock()
			remove()
			return t.cancel
		}
		t.onEnd = remove
		t.mu.Unlock()
		return t.cancel
	}
	watcher := t.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch c.Message().(type) {
		case *actor.Started:
			c.Watch(t.pid)
		case *actor.Terminated:
			t.cancel()
			c.Stop(c.Self())
		}
	}))
	t.mu.Lock()
	if t.done {
		t.mu.Unlock()
		t.system.Root.Stop(watcher)
		return t.cancel
	}
	t.onEnd = func() { t.system.Root.Stop(watcher) }
	t.mu.Unlock()
	return t.cancel
}
