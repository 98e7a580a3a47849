package tcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/transports"
)

type connState uint8

const (
	stIdle connState = iota
	stConnecting
	stAccepted // accepted, waiting for Register
	stOpen
	stClosing
	stClosed
)

// closeKind says who ended the connection, for the Closed reason.
type closeKind uint8

const (
	byNobody closeKind = iota
	byCommand
	byAbort
	bySupervisor
	byIdle
)

// Internal messages of the connection actor.
type (
	dialDone struct {
		run *dialRun
		s   transports.Stream
		err error
	}
	idleTick         struct{ gen int }
	registerTimedOut struct{}
	// stopGracefully is the StopMessage of the connection's child specs:
	// Close, reported as SupervisorStopped.
	stopGracefully struct{}
)

func (*dialDone) IgnoreDeadLetterLogging()         {}
func (*idleTick) IgnoreDeadLetterLogging()         {}
func (*registerTimedOut) IgnoreDeadLetterLogging() {}

// accept describes a socket a listener accepted for a new connection actor.
type accept struct {
	s        transports.Stream
	behavior func() Behavior
	factory  func() *actor.Props
	kind     string
	notify   *actor.PID            // gets Accepted when there is no factory
	sock     *tcpmsg.SocketOptions // with its defaults
	register time.Duration
}

// dialRun is one Connect in progress on the actor's goroutine.
type dialRun struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	abandoned bool
	s         transports.Stream // connected and not yet taken by the actor
}

type pendingAck struct {
	end int64 // total bytes queued when the write was
	ack any
	to  *actor.PID
}

type connection struct {
	// opts and sock are shared by every connection of a listener (which
	// applied their defaults); a client connection has its own. The
	// struct is kept small: an idle connection is mostly this.
	opts        *Options
	acc         *accept
	link        *link // set by ClientSpec: reports reconnections
	sock        *tcpmsg.SocketOptions
	self        *actor.PID
	stats       *inspect.Entry
	*clientSide // &noClient until a Connect

	handler   *actor.PID
	beh       Behavior   // the handler when it runs inside this actor
	origin    *actor.PID // sender of the command being carried out
	behQ      []behMsg   // the behaviour's queue while it runs
	behSender *actor.PID
	s         transports.Stream
	ev        *events
	mb        *dispatch.Mailbox // this actor's, when the listener made it

	// reading
	held      [][]byte
	heldBytes int
	credits   int

	// writing
	queued int   // bytes written and not yet reported by OnWritten
	total  int64 // bytes ever queued
	sent   int64 // bytes ever reported written

	rare *rare // what only some connections ever need

	idle       clock.Timer
	idleGen    int
	lastActive int64 // the clock's UnixNano at the last read or write

	bytesIn, bytesOut int64

	state      connState
	closeKind  closeKind
	inBehavior bool
	byBehavior bool
	suspended  bool
	limited    bool
	wSuspended bool
	told       bool // Closed was sent
	failing    bool
	direct     bool // s is a transports.DirectWriter
	shared     bool // spawned with inspect.SpawnShared: calls inspect.Lifecycle
}

// clientSide is the state of a client connection's Connect.
type clientSide struct {
	connect   *tcpmsg.Connect
	connectTo *actor.PID
	route     *tcpmsg.ProxyRoute
	dial      *dialRun
	here      dispatch.Here // the handler's mailbox, when it runs in place
}

// noClient is the clientSide of every connection that has not connected:
// read, never written.
var noClient clientSide

// rare holds what a connection needs only when acknowledged writes,
// write back-pressure, closes asked by others or a Register wait happen.
type rare struct {
	acks     []pendingAck
	resumers []*actor.PID
	closers  []*actor.PID
	regTimer clock.Timer
	// An accepted connection's (a client's is in clientSide). Looking its
	// handler actor up makes an accepted connection with a handler actor
	// allocate its rare part (96 B) and the lookup's answer (32 B) at its
	// first message: small beside the handler actor it has, and nothing
	// for connections run by a behaviour (EchoSpec's, the idle figures').
	here dispatch.Here
}

// r returns the connection's rare part, made on first use.
func (c *connection) r() *rare {
	if c.rare == nil {
		c.rare = &rare{}
	}
	return c.rare
}

// Receive is the table of contents of the connection actor.
func (c *connection) Receive(ctx actor.Context) {
	c.origin = ctx.Sender()
	switch m := ctx.Message().(type) {
	case *dataIn:
		c.data(ctx, m)
	case *writtenIn:
		c.written(ctx, m)
	case *actor.Started:
		c.lifecycle(ctx)
		c.started(ctx)
	case *actor.Stopping, *actor.Restarting:
		c.lifecycle(ctx)
		c.stopping(ctx)
	case *actor.Stopped:
		c.lifecycle(ctx)
	case *messages.Crash:
		c.lifecycle(ctx)
		c.unknown(ctx, m)
	case *actor.Terminated:
	case *dialDone:
		c.dialed(ctx, m)
	case *peerClosedIn:
		c.peerClosed(ctx, m)
	case *closedIn:
		c.streamClosed(ctx, m)
	case *idleTick:
		c.idleCheck(ctx, m)
	case *registerTimedOut:
		c.registerTimeout(ctx)
	case *messages.Register:
		c.register(ctx, m)
	case *stopGracefully:
		c.close(ctx, bySupervisor)
	default:
		if !c.command(ctx, m) {
			c.unknown(ctx, m)
		}
	}
}

// lifecycle keeps the registry's entry of a connection spawned from its
// listener's shared props (the others are tracked by inspect.Spawn).
func (c *connection) lifecycle(ctx actor.Context) {
	if c.shared {
		inspect.Lifecycle(ctx)
	}
}

// command carries out one of the connection's commands; false when m is
// not one.
func (c *connection) command(ctx actor.Context, m any) bool {
	switch m := m.(type) {
	case *tcpmsg.Write:
		c.write(ctx, m)
	case *messages.ResumeWriting:
		c.resumeWriting(ctx)
	case *messages.SuspendReading:
		c.suspendReading()
	case *messages.ResumeReading:
		c.resumeReading(ctx, m.Credits)
	case *tcpmsg.Close:
		c.close(ctx, byCommand)
	case *tcpmsg.Abort:
		c.abort(ctx)
	case *tcpmsg.CloseWrite:
		c.closeWrite(ctx, m)
	case *tcpmsg.GetStats:
		c.getStats(ctx)
	case *tcpmsg.Connect:
		c.connectCmd(ctx, m)
	default:
		return false
	}
	return true
}

// unknown passes a message that is not a command to the behaviour, or
// answers that it is unknown.
func (c *connection) unknown(ctx actor.Context, m any) {
	if c.beh != nil && !c.byBehavior {
		c.toBehavior(ctx, m, c.origin)
		return
	}
	c.fail(ctx, nil, m, fmt.Errorf("tcp: %T: %w", m, messages.ErrUnknownCommand))
}

func (c *connection) started(ctx actor.Context) {
	if c.acc == nil {
		o := c.opts.withDefaults(ctx.ActorSystem())
		c.opts = &o
	}
	c.self = ctx.Self()
	if c.clientSide == nil {
		c.clientSide = &noClient
	}
	if c.sock == nil {
		c.sock = &defaultSocket
	}
	c.stats = inspect.Of(ctx)
	switch {
	case c.acc != nil:
		c.startAccepted(ctx)
	case c.opts.Connect != nil:
		if c.opts.Connect.Handler == nil {
			panic(errors.New("tcp: Options.Connect without a Handler"))
		}
		c.link.started(ctx, c.opts.Connect.Handler)
		c.connectCmd(ctx, c.opts.Connect)
	}
}

// startAccepted adopts the listener's socket: with a factory it spawns the
// handler and starts reading; without, it offers the socket to the
// listener's handler and waits for Register.
func (c *connection) startAccepted(ctx actor.Context) {
	a := c.acc
	c.sock = a.sock
	c.s = a.s
	if a.notify == nil || a.behavior != nil || a.factory != nil {
		c.acc = nil // only the Register timeout needs it
	}
	if a.behavior != nil || a.factory != nil {
		if err := c.startHandler(ctx, a); err != nil {
			c.logger().Error("handler did not start", "err", err)
			_ = c.s.Abort()
			c.s = nil
			c.state = stClosed
			ctx.Stop(ctx.Self())
			return
		}
		c.open(ctx)
		c.tell(ctx, c.connectedEvent(ctx, nil))
		return
	}
	c.state = stAccepted
	ctx.Send(a.notify, &tcpmsg.Accepted{Conn: ctx.Self(), Local: c.s.LocalAddr(), Remote: c.s.RemoteAddr(), TLS: c.s.TLS()})
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.r().regTimer = c.opts.Clock.AfterFunc(a.register, func() { root.Send(self, &registerTimedOut{}) })
}

// startHandler makes the connection's handler with the listener's
// factory: a behaviour, or a handler actor spawned as the connection's
// child. A factory that panics or makes nothing is an error.
func (c *connection) startHandler(ctx actor.Context, a *accept) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler factory: %v", r)
		}
	}()
	if a.behavior != nil {
		if c.beh = a.behavior(); c.beh == nil {
			return errors.New("behaviour factory returned nil")
		}
		return nil
	}
	props := a.factory()
	if props == nil {
		return errors.New("handler factory returned nil props")
	}
	c.handler, err = inspect.Spawn(ctx, props, "handler", a.kind, nil)
	return err
}

func (c *connection) register(ctx actor.Context, m *messages.Register) {
	if m.Handler == nil {
		c.fail(ctx, nil, m, fmt.Errorf("tcp: register: %w: no handler", messages.ErrBadCommand))
		return
	}
	c.handler = m.Handler
	if c.state != stAccepted {
		return // a new handler for a live connection
	}
	if c.rare != nil && c.rare.regTimer != nil {
		c.rare.regTimer.Stop()
	}
	c.open(ctx)
}

func (c *connection) registerTimeout(ctx actor.Context) {
	if c.state != stAccepted {
		return
	}
	c.logger().Info("no handler registered; closing", "remote", c.s.RemoteAddr())
	_ = c.s.Abort()
	c.s = nil
	c.state = stClosed
	if c.acc.notify != nil {
		c.send(ctx, c.acc.notify, &messages.Closed{Reason: messages.ErrorClosed, Err: tcpmsg.ErrRegisterTimeout})
	}
	ctx.Stop(ctx.Self())
}

// connectCmd starts a Connect on a goroutine the actor owns.
func (c *connection) connectCmd(ctx actor.Context, m *tcpmsg.Connect) {
	if c.state != stIdle {
		c.fail(ctx, nil, m, fmt.Errorf("tcp: connect: %w", tcpmsg.ErrAlreadyConnected))
		return
	}
	to := m.Handler
	if to == nil {
		to = c.origin
	}
	if to == nil {
		c.fail(ctx, nil, m, fmt.Errorf("tcp: connect: %w: no handler and no sender", messages.ErrBadCommand))
		return
	}
	if c.clientSide == &noClient {
		c.clientSide = &clientSide{}
	}
	c.connect, c.connectTo, c.handler = m, to, to
	d, err := c.newDialer(m)
	if err != nil {
		c.connectFailed(ctx, err)
		return
	}
	sock := socketDefaults(m.Options.Socket)
	c.sock = &sock
	c.route = d.route
	c.state = stConnecting
	timeout := m.Options.Timeout
	if timeout <= 0 {
		timeout = DefaultConnectTimeout
	}
	dctx, cancel := context.WithCancel(context.Background())
	run := &dialRun{cancel: cancel, done: make(chan struct{})}
	c.dial = run
	self, root := ctx.Self(), ctx.ActorSystem().Root
	go func() {
		defer close(run.done)
		s, err := d.run(dctx, timeout)
		run.mu.Lock()
		if run.abandoned {
			run.mu.Unlock()
			if s != nil {
				_ = s.Abort()
			}
			return
		}
		run.s = s
		run.mu.Unlock()
		root.Send(self, &dialDone{run: run, s: s, err: err})
	}()
}

func (c *connection) newDialer(m *tcpmsg.Connect) (*dialer, error) {
	if m.Remote.IsValid() == (m.Host != "") {
		return nil, fmt.Errorf("%w: set one of Remote and Host", messages.ErrBadCommand)
	}
	d := &dialer{
		network: c.opts.Network, resolver: c.opts.Resolver, clock: c.opts.Clock,
		fallback: c.opts.FallbackDelay, cmd: m,
	}
	host, port, err := d.target()
	if err != nil {
		return nil, err
	}
	target := net.JoinHostPort(host, fmt.Sprint(port))
	if d.proxy, d.route, err = c.opts.chooseProxy(m, target); err != nil {
		return nil, err
	}
	if d.tls, err = clientTLS(m, host); err != nil {
		return nil, err
	}
	return d, nil
}

func (c *connection) dialed(ctx actor.Context, m *dialDone) {
	if m.run != c.dial {
		if m.s != nil {
			_ = m.s.Abort()
		}
		return
	}
	m.run.mu.Lock()
	m.run.s = nil // taken
	m.run.mu.Unlock()
	c.dial = nil
	if m.err != nil {
		c.connectFailed(ctx, m.err)
		return
	}
	c.s = m.s
	c.open(ctx)
	if c.state != stOpen {
		return
	}
	c.link.connected()
	c.logger().Debug("connected", "local", c.s.LocalAddr(), "remote", c.s.RemoteAddr(), "proxy", c.route)
	c.tell(ctx, c.connectedEvent(ctx, c.route))
}

func (c *connection) connectedEvent(ctx actor.Context, route *tcpmsg.ProxyRoute) *tcpmsg.Connected {
	ev := &tcpmsg.Connected{Conn: ctx.Self(), Local: c.s.LocalAddr(), Remote: c.s.RemoteAddr(), Proxy: route, TLS: c.s.TLS()}
	if c.connect != nil {
		ev.Host = c.connect.Host
	}
	return ev
}

func (c *connection) connectFailed(ctx actor.Context, err error) {
	what := c.connect.Host
	if what == "" {
		what = c.connect.Remote.String()
	}
	err = fmt.Errorf("tcp: connect %s: %w", what, err)
	c.state = stClosed
	c.stats.Add("connect_failed", 1)
	c.send(ctx, c.connectTo, &messages.CommandFailed{Cmd: c.connect, Err: err})
	c.told = true
	c.endActor(ctx, err)
}

// open starts the stream and its reading.
func (c *connection) open(ctx actor.Context) {
	c.state = stOpen
	c.suspended = c.sock.StartSuspended
	c.ev = newEvents(c.s, ctx.ActorSystem().Root, ctx.Self())
	if c.mb == nil {
		// A client connection: its props made a dispatch.Mailbox without
		// telling the actor (props may spawn many actors at once).
		c.mb, _, _ = dispatch.Find(ctx.ActorSystem(), ctx.Self())
	}
	c.ev.mb = c.mb
	_, c.direct = c.s.(transports.DirectWriter)
	if err := c.ev.start(c.sock.KeepOpenOnPeerClosed); err != nil {
		c.ev = nil
		c.state = stClosed
		c.closeWith(ctx, messages.ErrorClosed, err)
		return
	}
	c.stats.Set("connections", 1)
	c.touch()
	c.armIdle(ctx, c.sock.IdleTimeout)
}

// data holds what was read and delivers it as credits allow.
func (c *connection) data(ctx actor.Context, m *dataIn) {
	m.ev.handled(m.ev)
	if m.ev != c.ev {
		return
	}
	c.touch()
	c.bytesIn += int64(len(m.data))
	c.stats.Add("bytes_in", int64(len(m.data)))
	if len(c.held) == 0 && c.readable() {
		// Nothing waits before it: delivered at once, without a held
		// list (an allocation per read otherwise).
		c.hand(ctx, m.data)
		c.want()
		return
	}
	c.held = append(c.held, m.data)
	c.heldBytes += len(m.data)
	c.deliver(ctx)
}

func (c *connection) readable() bool {
	return (c.handler != nil || c.beh != nil) && !c.suspended && (!c.limited || c.credits > 0)
}

// deliver sends held data while credits last. While reading is stopped the
// stream still reads until one chunk is held, so that a peer's close after
// a short message is seen at once.
func (c *connection) deliver(ctx actor.Context) {
	for len(c.held) > 0 && c.readable() {
		b := c.held[0]
		c.held[0] = nil
		c.held = c.held[1:]
		c.heldBytes -= len(b)
		c.hand(ctx, b)
	}
	if len(c.held) == 0 {
		c.held = nil
	}
	c.want()
}

// hand gives the handler one read, spending a credit.
func (c *connection) hand(ctx actor.Context, b []byte) {
	c.tell(ctx, &tcpmsg.Received{Data: b})
	if c.limited {
		c.credits--
		if c.credits == 0 {
			c.tell(ctx, &messages.Passive{})
		}
	}
}

// want tells the stream whether to read on.
func (c *connection) want() {
	if c.ev != nil {
		c.ev.setWant(c.ev, c.readable() || c.heldBytes == 0)
	}
}

// flushHeld delivers what is held whatever the credits: the socket has
// ended, so holding back relieves nobody, and nothing is dropped.
func (c *connection) flushHeld(ctx actor.Context) {
	held := c.held
	c.held, c.heldBytes = nil, 0
	for _, b := range held {
		c.tell(ctx, &tcpmsg.Received{Data: b})
	}
}

func (c *connection) suspendReading() {
	c.suspended = true
	if c.ev != nil {
		c.ev.setWant(c.ev, c.heldBytes == 0)
	}
}

// resumeReading restarts delivery: credits > 0 add up (Erlang's {active,
// N}), zero or less means unlimited.
func (c *connection) resumeReading(ctx actor.Context, credits int) {
	c.suspended = false
	switch {
	case credits <= 0:
		c.limited, c.credits = false, 0
	case c.limited:
		c.credits += credits
	default:
		c.limited, c.credits = true, credits
	}
	c.deliver(ctx)
}

// write queues a Write unless it would pass the high-water mark.
func (c *connection) write(ctx actor.Context, m *tcpmsg.Write) {
	c.writeData(ctx, c.origin, m.Data, m.Ack, m, false)
}

// writeData is write without the need for a *tcpmsg.Write: the behaviour's
// writes build one (cmd) only when they are refused. Answers go to to, the
// handler when nil. With recycle, data came from the stream's OnData and is
// given back to its pool once the kernel took all of it at once.
func (c *connection) writeData(ctx actor.Context, to *actor.PID, data []byte, ack any, cmd *tcpmsg.Write, recycle bool) {
	if to == nil {
		to = c.handler
	}
	refuse := func(err error) {
		if cmd == nil {
			cmd = &tcpmsg.Write{Data: data, Ack: ack}
		}
		if err != nil {
			c.fail(ctx, to, cmd, err)
			return
		}
		c.wSuspended = true
		c.stats.Add("write_refused", 1)
		c.send(ctx, to, &messages.WriteRefused{Cmd: cmd, Buffered: c.queued})
	}
	switch c.state {
	case stOpen:
	case stClosing, stClosed:
		refuse(fmt.Errorf("tcp: write: %w", messages.ErrClosed))
		return
	default:
		refuse(fmt.Errorf("tcp: write: %w", messages.ErrNotConnected))
		return
	}
	if c.wSuspended || (c.queued > 0 && c.queued+len(data) > c.sock.HighWater) || (c.rare != nil && len(c.rare.acks) >= maxPendingAcks) {
		refuse(nil)
		return
	}
	if len(data) > 0 {
		direct := 0
		var err error
		if c.direct {
			direct, err = c.s.(transports.DirectWriter).WriteDirect(data)
		} else {
			err = c.s.Write(data)
		}
		if err != nil {
			refuse(fmt.Errorf("tcp: write: %w: %w", messages.ErrClosed, err))
			return
		}
		c.queued += len(data) - direct
		c.total += int64(len(data))
		c.touch()
		if recycle && direct == len(data) {
			if r, ok := c.s.(transports.Recycler); ok {
				r.Recycle(data)
			}
		}
		if direct > 0 {
			c.sent += int64(direct)
			c.bytesOut += int64(direct)
			c.stats.Add("bytes_out", int64(direct))
		}
		c.stats.Set("buffered", int64(c.queued))
	}
	if ack == nil {
		return
	}
	if c.sent == c.total {
		c.send(ctx, to, &messages.WriteAck{Ack: ack})
		return
	}
	r := c.r()
	r.acks = append(r.acks, pendingAck{end: c.total, ack: ack, to: to})
	c.releaseAcks(ctx)
}

// maxPendingAcks bounds the acknowledgements waiting for their bytes, so
// that zero-length acked writes cannot grow the list without bound.
const maxPendingAcks = 1 << 16

func (c *connection) written(ctx actor.Context, m *writtenIn) {
	if m.ev != c.ev {
		return
	}
	c.touch()
	c.queued -= m.n
	c.sent += int64(m.n)
	c.bytesOut += int64(m.n)
	c.stats.Add("bytes_out", int64(m.n))
	c.stats.Set("buffered", int64(c.queued))
	c.releaseAcks(ctx)
	c.maybeResume(ctx)
}

// releaseAcks answers the acknowledgements whose bytes are all written.
func (c *connection) releaseAcks(ctx actor.Context) {
	if c.rare == nil {
		return
	}
	r := c.rare
	i := 0
	for i < len(r.acks) && r.acks[i].end <= c.sent {
		i++
	}
	// Taken out before anything is sent: a behaviour runs during send and
	// may write (and acknowledge) again at once.
	ready := r.acks[:i]
	r.acks = r.acks[i:]
	if len(r.acks) == 0 {
		r.acks = nil
	}
	for j := range ready {
		c.send(ctx, ready[j].to, &messages.WriteAck{Ack: ready[j].ack})
		ready[j] = pendingAck{}
	}
}

// resumeWriting answers WritingResumed once the queue is below the
// low-water mark: at once, or when it drains.
func (c *connection) resumeWriting(ctx actor.Context) {
	to := c.origin
	if to == nil {
		to = c.handler
	}
	switch {
	case to != nil:
		c.r().resumers = append(c.r().resumers, to)
	case c.beh != nil && !slices.Contains(c.r().resumers, nil):
		c.r().resumers = append(c.r().resumers, nil) // nil: the behaviour
	}
	c.maybeResume(ctx)
}

func (c *connection) maybeResume(ctx actor.Context) {
	if c.rare == nil || len(c.rare.resumers) == 0 || c.queued > c.sock.LowWater {
		return
	}
	c.wSuspended = false
	// Taken out first: a behaviour runs during send and may ask to resume
	// again at once.
	resumers := c.rare.resumers
	c.rare.resumers = nil
	for _, pid := range resumers {
		c.send(ctx, pid, &messages.WritingResumed{})
	}
}

func (c *connection) close(ctx actor.Context, kind closeKind) {
	if c.origin != nil {
		c.r().closers = append(c.r().closers, c.origin)
	}
	switch c.state {
	case stOpen:
		c.state = stClosing
		c.closeKind = kind
		if err := c.s.Close(); err != nil && !errors.Is(err, transports.ErrClosed) {
			c.logger().Debug("close", "err", err)
		}
	case stClosing:
	default:
		// Nothing open: connecting, waiting for Register, or idle.
		c.closeKind = kind
		c.state = stClosed
		if c.s != nil {
			_ = c.s.Abort()
			c.s = nil
		}
		if c.connect != nil && c.dial != nil {
			c.send(ctx, c.connectTo, &messages.CommandFailed{Cmd: c.connect, Err: fmt.Errorf("tcp: connect: %w", messages.ErrClosed)})
		}
		c.closeWith(ctx, c.reasonFor(nil), nil)
	}
}

func (c *connection) abort(ctx actor.Context) {
	if c.origin != nil {
		c.r().closers = append(c.r().closers, c.origin)
	}
	if c.state == stOpen || c.state == stClosing {
		c.closeKind = byAbort
		c.state = stClosing
		_ = c.s.Abort()
		return
	}
	c.closeKind = byAbort
	c.close(ctx, byAbort)
}

func (c *connection) closeWrite(ctx actor.Context, m *tcpmsg.CloseWrite) {
	if c.state != stOpen {
		c.fail(ctx, nil, m, fmt.Errorf("tcp: close write: %w", messages.ErrNotConnected))
		return
	}
	if err := c.s.CloseWrite(); err != nil {
		c.fail(ctx, nil, m, fmt.Errorf("tcp: close write: %w: %w", messages.ErrClosed, err))
	}
}

func (c *connection) peerClosed(ctx actor.Context, m *peerClosedIn) {
	if m.ev != c.ev {
		return
	}
	c.flushHeld(ctx)
	c.tell(ctx, &tcpmsg.PeerHalfClosed{})
}

// streamClosed reports the stream's end and stops the actor.
func (c *connection) streamClosed(ctx actor.Context, m *closedIn) {
	if m.ev != c.ev {
		return
	}
	c.flushHeld(ctx)
	c.state = stClosed
	c.closeWith(ctx, c.reasonFor(m.err), m.err)
}

func (c *connection) reasonFor(err error) messages.CloseReason {
	switch {
	case c.closeKind == byAbort || errors.Is(err, transports.ErrAborted):
		return messages.Aborted
	case err == nil && c.closeKind == bySupervisor:
		return messages.SupervisorStopped
	case err == nil && c.closeKind == byIdle:
		return messages.ErrorClosed
	case err == nil:
		return messages.ClosedByUs
	case errors.Is(err, transports.ErrPeerClosed):
		return messages.PeerClosed
	case errors.Is(err, transports.ErrReset):
		return messages.Aborted
	}
	return messages.ErrorClosed
}

// closeWith tells the handler and those who asked to close, then ends the
// actor.
func (c *connection) closeWith(ctx actor.Context, reason messages.CloseReason, err error) {
	if reason == messages.Aborted && errors.Is(err, transports.ErrAborted) {
		err = nil
	}
	if c.closeKind == byIdle && err == nil {
		err = tcpmsg.ErrIdleTimeout
	}
	if reason == messages.ClosedByUs || reason == messages.SupervisorStopped || reason == messages.PeerClosed {
		err = nil
	}
	c.fanOut(ctx, &messages.Closed{Reason: reason, Err: err})
	c.stats.Set("connections", 0)
	var fail error
	switch reason {
	case messages.ClosedByUs, messages.SupervisorStopped:
	case messages.PeerClosed:
		fail = transports.ErrPeerClosed
	default:
		fail = err
		if fail == nil {
			fail = fmt.Errorf("tcp: connection %v", reason)
		}
	}
	c.endActor(ctx, fail)
}

func (c *connection) fanOut(ctx actor.Context, ev *messages.Closed) {
	if c.told {
		return
	}
	c.told = true
	c.tell(ctx, ev)
	var closers []*actor.PID
	if c.rare != nil {
		closers = c.rare.closers
	}
	for _, pid := range closers {
		if c.handler == nil || !pid.Equal(c.handler) {
			c.send(ctx, pid, ev)
		}
	}
}

// endActor stops the actor; a spec-started connection that ended by
// failure fails instead, so that its supervisor restarts it.
func (c *connection) endActor(ctx actor.Context, err error) {
	c.stopTimers()
	if c.opts.Connect != nil && err != nil && c.closeKind != byCommand && c.closeKind != bySupervisor {
		c.failing = true
		c.link.failed(err)
		panic(err)
	}
	ctx.Stop(ctx.Self())
}

// defaultSocket is the socket options of a connection before Connect
// sets its own; never written.
var defaultSocket = socketDefaults(tcpmsg.SocketOptions{})

// logger returns the connection's logger.
func (c *connection) logger() *slog.Logger {
	// Made at each use, not kept: a connection logs rarely, and a kept
	// logger would cost every idle connection a field.
	return c.opts.Logger.With("actor", c.self.Id, "kind", Kind)
}

// touch records activity for the idle timeout (only when there is one:
// reading the clock costs on every message).
func (c *connection) touch() {
	if c.sock.IdleTimeout > 0 {
		c.lastActive = c.opts.Clock.Now().UnixNano()
	}
}

func (c *connection) armIdle(ctx actor.Context, d time.Duration) {
	if c.sock.IdleTimeout <= 0 {
		return
	}
	c.idleGen++
	gen := c.idleGen
	self, root := ctx.Self(), ctx.ActorSystem().Root
	c.idle = c.opts.Clock.AfterFunc(d, func() { root.Send(self, &idleTick{gen: gen}) })
}

func (c *connection) idleCheck(ctx actor.Context, m *idleTick) {
	if m.gen != c.idleGen || c.state != stOpen {
		return
	}
	quiet := time.Duration(c.opts.Clock.Now().UnixNano() - c.lastActive)
	if left := c.sock.IdleTimeout - quiet; left > 0 {
		c.armIdle(ctx, left)
		return
	}
	c.logger().Info("idle timeout", "remote", c.s.RemoteAddr(), "idle", quiet)
	c.stats.Add("idle_timeouts", 1)
	c.close(ctx, byIdle)
}

func (c *connection) stopTimers() {
	c.idleGen++
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.rare != nil && c.rare.regTimer != nil {
		c.rare.regTimer.Stop()
	}
}

// stopping releases everything when the actor stops for any reason: the
// dial is abandoned, and an open socket flushes what it accepted (within
// CloseWait) before it closes; no goroutine of the socket outlives the
// actor.
func (c *connection) stopping(ctx actor.Context) {
	c.stopTimers()
	if c.dial != nil {
		c.abandonDial()
	}
	if c.s != nil && c.ev == nil {
		_ = c.s.Abort() // accepted and never started
		c.s = nil
	}
	if c.ev != nil && c.state != stClosed {
		if c.state == stOpen {
			_ = c.s.Close()
		}
		if !c.ev.waitClosed(c.opts.CloseWait) {
			_ = c.s.Abort()
			c.ev.waitClosed(c.opts.CloseWait)
		}
		c.flushHeld(ctx)
		c.fanOut(ctx, &messages.Closed{Reason: messages.SupervisorStopped})
	}
	c.state = stClosed
	c.stats.Set("connections", 0)
	if !c.failing {
		c.link.stopped()
	}
}

func (c *connection) abandonDial() {
	run := c.dial
	c.dial = nil
	run.mu.Lock()
	run.abandoned = true
	s := run.s
	run.s = nil
	run.mu.Unlock()
	if s != nil {
		_ = s.Abort()
	}
	run.cancel()
	wait(run.done, c.opts.CloseWait)
}

func wait(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func (c *connection) getStats(ctx actor.Context) {
	st := &tcpmsg.ConnectionStats{BytesIn: c.bytesIn, BytesOut: c.bytesOut, Buffered: c.queued, Held: c.heldBytes}
	if c.s != nil {
		st.Local, st.Remote = c.s.LocalAddr(), c.s.RemoteAddr()
	}
	c.send(ctx, c.origin, st)
}

// tell sends an event to the handler with the connection as its sender.
func (c *connection) tell(ctx actor.Context, msg any) { c.send(ctx, c.handler, msg) }

// send sends msg to to, with the connection as its sender; nil means the
// behaviour, when the connection has one.
func (c *connection) send(ctx actor.Context, to *actor.PID, msg any) {
	switch {
	case to != nil:
		if to == c.handler {
			if mb := c.here(ctx); mb != nil {
				mb.PostHere(&actor.MessageEnvelope{Message: msg, Sender: ctx.Self()})
				return
			}
		}
		ctx.Request(to, msg)
	case c.beh != nil:
		c.toBehavior(ctx, msg, nil)
	}
}

// here returns the mailbox of the connection's handler when the handler
// was spawned with dispatch.HereProps and is still there (dispatch.Here
// keeps the lookup): the connection then runs it in place, on its own
// goroutine (the transport's, for a read), instead of handing each message
// over to another goroutine; the handler's answer, a Write, waits in this
// actor's mailbox and is handled as soon as the message in hand is. A
// handler agrees to this by its props: HereProps is for actors that never
// block.
func (c *connection) here(ctx actor.Context) *dispatch.Mailbox {
	if c.clientSide != &noClient {
		return c.clientSide.here.Mailbox(ctx.ActorSystem(), c.handler)
	}
	return c.r().here.Mailbox(ctx.ActorSystem(), c.handler) // accepted, with a handler actor
}

// fail answers cmd with a CommandFailed to to (the sender when nil).
func (c *connection) fail(ctx actor.Context, to *actor.PID, cmd any, err error) {
	c.stats.Add("failed_commands", 1)
	if to == nil {
		to = c.origin
	}
	c.send(ctx, to, &messages.CommandFailed{Cmd: cmd, Err: err})
}
