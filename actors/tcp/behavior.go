package tcp

import (
	"github.com/asynkron/protoactor-go/actor"
)

// Behavior handles a connection's events inside the connection actor
// itself, so that an accepted connection costs one actor and its events
// reach the handler without a second mailbox: the form to use for a
// protocol that lives and dies with its connection (an echo, a line
// protocol, a framing layer), and what EchoSpec uses. A handler that must
// outlive its connection, or be addressed on its own, is a handler actor
// (ListenerOptions.Handler) instead.
//
// Receive gets the messages a handler actor would get, in the same order:
// *tcpmsg.Connected first, then *tcpmsg.Received, *tcpmsg.PeerHalfClosed,
// *messages.Passive, *messages.WriteAck, *messages.WriteRefused,
// *messages.WritingResumed, *messages.CommandFailed, and *messages.Closed
// last; also any message other actors send to the connection that is not
// one of its commands (c.Sender tells who sent it). The connection's
// answers to what Receive does are delivered after Receive returns, never
// inside it.
//
// Receive runs on the connection actor's goroutine and must not block: a
// blocked Behavior stops its connection, as a blocked actor would.
type Behavior interface {
	Receive(c *Conn, msg any)
}

// BehaviorFunc adapts a function to Behavior.
type BehaviorFunc func(c *Conn, msg any)

// Receive calls f.
func (f BehaviorFunc) Receive(c *Conn, msg any) { f(c, msg) }

// Conn is a Behavior's view of its connection. It is valid only during
// Receive and on the connection actor's goroutine.
type Conn struct {
	c   *connection
	ctx actor.Context
}

// Context returns the connection actor's context, to send messages, spawn
// or watch from the behaviour.
func (k *Conn) Context() actor.Context { return k.ctx }

// Self returns the connection actor's PID: other actors send the
// connection's commands (tcpmsg.Write, tcpmsg.Close, ...) to it.
func (k *Conn) Self() *actor.PID { return k.ctx.Self() }

// Sender returns the sender of the message being received when another
// actor sent it, or nil for the connection's own events.
func (k *Conn) Sender() *actor.PID { return k.c.behSender }

// Write queues b to be sent, as a *tcpmsg.Write without Ack would: b
// belongs to the connection from now on. When the connection refuses it
// (past its high-water mark, or closed), Receive gets
// *messages.WriteRefused or *messages.CommandFailed carrying a
// *tcpmsg.Write with b.
func (k *Conn) Write(b []byte) {
	c := k.c
	origin := c.enterBehavior()
	c.writeData(k.ctx, nil, b, nil, nil, false)
	c.leaveBehavior(origin)
}

// WriteRecycle is Write for a b that came from a *tcpmsg.Received of this
// connection and that the behaviour gives up: once the transport has sent
// it, b goes back to the transport's buffer pool (when it has one), so
// that relaying what is read makes no garbage. Nothing may touch b after
// the call; a refused write is not recycled, and its WriteRefused carries
// b back to be sent again.
func (k *Conn) WriteRecycle(b []byte) {
	c := k.c
	origin := c.enterBehavior()
	c.writeData(k.ctx, nil, b, nil, nil, true)
	c.leaveBehavior(origin)
}

// Command carries out one of the connection's commands (*tcpmsg.Write,
// *tcpmsg.Close, *tcpmsg.CloseWrite, *tcpmsg.Abort,
// *messages.SuspendReading, *messages.ResumeReading,
// *messages.ResumeWriting, *tcpmsg.GetStats) at once; what it answers comes
// to Receive. Anything else is answered with *messages.CommandFailed.
func (k *Conn) Command(cmd any) {
	c := k.c
	origin := c.enterBehavior()
	if !c.command(k.ctx, cmd) {
		c.unknown(k.ctx, cmd)
	}
	c.leaveBehavior(origin)
}

// enterBehavior makes what follows a command of the behaviour: its answers
// go back to the behaviour, whoever sent the message being handled.
func (c *connection) enterBehavior() (origin *actor.PID) {
	origin = c.origin
	c.origin, c.byBehavior = nil, true
	return origin
}

func (c *connection) leaveBehavior(origin *actor.PID) { c.origin, c.byBehavior = origin, false }

// toBehavior queues msg for the behaviour and, unless the behaviour is
// already running (msg answers what it is doing), delivers the queue.
func (c *connection) toBehavior(ctx actor.Context, msg any, sender *actor.PID) {
	c.behQ = append(c.behQ, behMsg{msg, sender})
	if c.inBehavior {
		return
	}
	c.inBehavior = true
	k := Conn{c: c, ctx: ctx}
	for i := 0; i < len(c.behQ); i++ {
		m := c.behQ[i]
		c.behQ[i] = behMsg{}
		c.behSender = m.sender
		c.beh.Receive(&k, m.msg)
	}
	c.behQ = c.behQ[:0]
	if cap(c.behQ) > 16 {
		c.behQ = nil
	}
	c.behSender = nil
	c.inBehavior = false
}

type behMsg struct {
	msg    any
	sender *actor.PID
}

// echoBehavior writes every byte received back, in order, honouring write
// back-pressure as the echo handler actor does (see EchoSpec).
type echoBehavior struct{ echo echo }

// EchoBehavior returns the behaviour EchoSpec gives each connection; a
// listener's Behavior factory can use it directly.
func EchoBehavior() Behavior { return &echoBehavior{} }

func (e *echoBehavior) Receive(c *Conn, msg any) { e.echo.receive(c, msg) }
