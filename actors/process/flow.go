package process

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/procmsg"
)

func (p *procActor) output(ctx actor.Context, m output) {
	if p.c == nil || m.gen != p.gen {
		return
	}
	p.queue = append(p.queue, m)
	p.pump(ctx)
}

// pump delivers queued output while the handler has credits, giving each
// chunk's bytes back to the readers' budget once delivered.
func (p *procActor) pump(ctx actor.Context) {
	for len(p.queue) > 0 && !p.suspended && (p.unlimited || p.credits > 0) {
		o := p.queue[0]
		p.queue[0] = output{}
		p.queue = p.queue[1:]
		if o.stream == stdout {
			p.stats.Add("stdout_bytes", int64(len(o.data)))
			p.tell(ctx, &procmsg.Stdout{Data: o.data})
		} else {
			p.stats.Add("stderr_bytes", int64(len(o.data)))
			p.tell(ctx, &procmsg.Stderr{Data: o.data})
		}
		if !p.unlimited {
			p.credits--
			if p.credits == 0 && !p.passiveSent {
				p.passiveSent = true
				p.tell(ctx, &messages.Passive{})
			}
		}
		p.c.budget.release(len(o.data))
	}
	if p.c != nil {
		inUse := p.c.budget.inUse()
		p.stats.Set("buffered", int64(inUse))
		if inUse > p.peak {
			p.peak = inUse
			p.stats.Set("buffered_peak", int64(inUse))
		}
	}
	p.maybeExited(ctx)
}

func (p *procActor) resumeReading(ctx actor.Context, m *messages.ResumeReading) {
	if m.Credits <= 0 {
		p.unlimited = true
	} else {
		if p.unlimited {
			p.unlimited, p.credits = false, 0
		}
		p.credits += m.Credits
	}
	p.suspended = false
	p.passiveSent = false
	if p.c != nil {
		p.pump(ctx)
	}
}

func (p *procActor) outputEnded(ctx actor.Context, m outputEnded) {
	if p.c == nil || m.gen != p.gen {
		return
	}
	p.ended++
	p.maybeExited(ctx)
}

func (p *procActor) childReaped(ctx actor.Context, m reaped) {
	if p.c == nil || m.gen != p.gen {
		return
	}
	p.reaped = &m
	p.stopTimers()
	p.maybeExited(ctx)
}

// maybeExited sends Exited once the child is reaped and all its output is
// delivered, then frees the child.
func (p *procActor) maybeExited(ctx actor.Context) {
	c := p.c
	if c == nil || p.reaped == nil || p.ended < len(c.output) || len(p.queue) > 0 || p.closing {
		return
	}
	c.close()
	p.c = nil
	code, sig := c.exitStatus()
	p.stats.Add("exits", 1)
	p.tell(ctx, &procmsg.Exited{Code: code, Signal: sig, Duration: p.reaped.at.Sub(c.started), TimedOut: p.timedOut})
	for _, r := range p.stdinQ {
		if !r.job.close {
			p.fail(ctx, r.request, procmsg.ErrNotRunning)
		}
	}
	p.stdinQ, p.stdinQueued = nil, 0
	p.maybeResume(ctx) // nothing is queued any more
	if p.fromOpts {
		if code == 0 && sig == 0 {
			ctx.Stop(ctx.Self())
			return
		}
		panic(fmt.Errorf("process: %s exited with code %d, signal %v", p.spawn.Path, code, sig))
	}
}

// writeStdin queues a write unless it would pass MaxStdin. A refused write
// suspends writing: every later write is refused too, until the writer asks
// ResumeWriting, so that writes in flight cannot overtake the refused one.
func (p *procActor) writeStdin(ctx actor.Context, r request, m *procmsg.WriteStdin) {
	switch {
	case p.stdinClosed:
		p.fail(ctx, r, procmsg.ErrStdinClosed)
		return
	case p.wSuspended || (p.stdinQueued > 0 && p.stdinQueued+len(m.Data) > p.opts.MaxStdin):
		p.wSuspended = true
		p.stats.Add("stdin_refused", 1)
		p.replyOrTell(ctx, r.from, &messages.WriteRefused{Cmd: m, Buffered: p.stdinQueued})
		return
	}
	p.stdinQ = append(p.stdinQ, stdinReq{request: r, job: stdinJob{data: m.Data}, ack: m.Ack})
	p.stdinQueued += len(m.Data)
	p.pumpStdin()
}

// resumeWriting answers ResumeWriting with WritingResumed once the stdin
// queue is at or below half of MaxStdin: at once, or when it drains. While a
// Spawn is starting it waits behind the writes sent before it.
func (p *procActor) resumeWriting(ctx actor.Context, r request) {
	if p.starting != nil {
		p.stash = append(p.stash, r)
		return
	}
	to := r.from
	if to == nil {
		to = p.handler
	}
	if to != nil {
		p.resumers = append(p.resumers, to)
	}
	p.maybeResume(ctx)
}

// maybeResume ends a suspension once the queue has drained and somebody
// asked, and tells each writer that asked.
func (p *procActor) maybeResume(ctx actor.Context) {
	if len(p.resumers) == 0 || p.stdinQueued > p.opts.MaxStdin/2 {
		return
	}
	p.wSuspended = false
	for _, to := range p.resumers {
		ctx.Send(to, &messages.WritingResumed{})
	}
	p.resumers = nil
}

func (p *procActor) closeStdin(ctx actor.Context, r request) {
	if p.stdinClosed {
		return
	}
	p.stdinClosed = true
	job := stdinJob{close: true}
	if p.c.pty {
		// A terminal has no end of file to close: send its EOF character
		// (VEOF, ^D), as a user at the keyboard would.
		job = stdinJob{data: []byte{4}}
	}
	p.stdinQ = append(p.stdinQ, stdinReq{request: r, job: job})
	p.pumpStdin()
}

// pumpStdin hands the next write to the writer goroutine; one at a time, so
// the hand-off never blocks.
func (p *procActor) pumpStdin() {
	if p.stdinBusy || len(p.stdinQ) == 0 || p.c == nil {
		return
	}
	p.stdinBusy = true
	p.c.writes <- p.stdinQ[0].job
}

func (p *procActor) stdinDone(ctx actor.Context, m stdinDone) {
	if p.c == nil || m.gen != p.gen || len(p.stdinQ) == 0 {
		return
	}
	p.stdinBusy = false
	r := p.stdinQ[0]
	p.stdinQ = p.stdinQ[1:]
	p.stdinQueued -= len(r.job.data)
	switch {
	case m.err != nil && !r.job.close:
		// The child closed its stdin (or exited): nothing more can be
		// written.
		p.stdinClosed = true
		p.fail(ctx, r.request, fmt.Errorf("%w: %w", procmsg.ErrStdinClosed, m.err))
		for _, q := range p.stdinQ {
			p.fail(ctx, q.request, procmsg.ErrStdinClosed)
		}
		p.stdinQ, p.stdinQueued = nil, 0
	case !r.job.close:
		p.stats.Add("stdin_bytes", int64(len(r.job.data)))
		if r.ack != nil {
			p.replyOrTell(ctx, r.from, &messages.WriteAck{Ack: r.ack})
		}
	}
	p.maybeResume(ctx)
	p.pumpStdin()
}
