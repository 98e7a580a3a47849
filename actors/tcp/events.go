package tcp

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/transports"
)

// The stream's events as they arrive in the connection actor's mailbox. ev
// tells the current stream's events from a stale one's.
type (
	dataIn struct {
		ev   *events
		data []byte
	}
	writtenIn struct {
		ev *events
		n  int
	}
	peerClosedIn struct{ ev *events }
	closedIn     struct {
		ev  *events
		err error
	}
)

func (*dataIn) IgnoreDeadLetterLogging()       {}
func (*writtenIn) IgnoreDeadLetterLogging()    {}
func (*peerClosedIn) IgnoreDeadLetterLogging() {}
func (*closedIn) IgnoreDeadLetterLogging()     {}

// events is a stream's handler: it runs on the transport's goroutines and
// only sends messages to the connection actor. It also decides whether the
// stream reads: the actor says whether it wants data (want), and events
// stops reading on its own while inboxLimit reads wait in the actor's
// mailbox, so that neither mailbox nor held data grow without bound.
type events struct {
	s    transports.Stream
	root *actor.RootContext
	self *actor.PID
	// mb, when set, is the actor's mailbox: events are posted to it with
	// PostHere, so that the transport's goroutine (an event loop) runs an
	// idle actor itself. Transports call handlers with no lock held, and
	// the connection actor does not block, so that is safe.
	mb *dispatch.Mailbox

	gate                 // reads: inboxLimit in the mailbox, and the actor's want
	closed bool          // OnClosed was called; guarded by gate.mu
	done   chan struct{} // made by waitClosed, closed by OnClosed
}

// halfOpenEvents keeps the stream open for writing after the peer's close.
type halfOpenEvents struct{ *events }

func newEvents(s transports.Stream, root *actor.RootContext, self *actor.PID) *events {
	return &events{s: s, root: root, self: self, gate: newGate(inboxLimit)}
}

// start starts the stream with e (or its half-open variant).
func (e *events) start(halfOpen bool) error {
	if halfOpen {
		return e.s.Start(halfOpenEvents{e})
	}
	return e.s.Start(e)
}

func (e *events) OnData(b []byte) {
	e.arrived(e)
	e.post(&dataIn{e, b})
}

// post delivers an event to the actor.
func (e *events) post(msg any) {
	if e.mb != nil {
		e.mb.PostHere(msg)
		return
	}
	e.root.Send(e.self, msg)
}

func (e *events) OnWritten(n int) { e.post(&writtenIn{e, n}) }

func (e *events) OnClosed(err error) {
	e.post(&closedIn{e, err})
	e.mu.Lock()
	e.closed = true
	if e.done != nil {
		close(e.done)
	}
	e.mu.Unlock()
}

// waitClosed waits up to d for OnClosed and reports whether it came. The
// channel it waits on is made only here, so that a connection that never
// waits does not carry one.
func (e *events) waitClosed(d time.Duration) bool {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return true
	}
	if e.done == nil {
		e.done = make(chan struct{})
	}
	ch := e.done
	e.mu.Unlock()
	return wait(ch, d)
}

func (h halfOpenEvents) OnPeerClosed() { h.post(&peerClosedIn{h.events}) }

// deliver implements switcher: the stream reads or not.
func (e *events) deliver(on bool) { e.s.SetReading(on) }
