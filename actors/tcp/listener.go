package tcp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
)

// Internal messages of the listener.
type (
	acceptedIn struct {
		ln *lnEvents
		s  transports.Stream
	}
	acceptErrIn struct {
		ln  *lnEvents
		err error
	}
	lnClosedIn struct {
		ln  *lnEvents
		err error
	}
	// stopListener is the StopMessage of a listener's child spec: stop
	// accepting, close every connection after it flushed, then stop.
	stopListener struct{}
)

func (*acceptedIn) IgnoreDeadLetterLogging()  {}
func (*acceptErrIn) IgnoreDeadLetterLogging() {}
func (*lnClosedIn) IgnoreDeadLetterLogging()  {}

// acceptBacklog bounds the accepted sockets waiting in the listener's
// mailbox; past it the listener stops accepting (the kernel's backlog
// holds the rest) until it catches up.
const acceptBacklog = 64

// lnEvents is a listener's handler: it runs on the transport's goroutines
// and only sends messages to the listener actor, accepting while fewer
// than acceptBacklog accepted sockets wait in its mailbox.
type lnEvents struct {
	l    transports.Listener
	root *actor.RootContext
	self *actor.PID
	gate
	closed chan struct{}
}

func (e *lnEvents) OnAccept(s transports.Stream) {
	e.arrived(e)
	e.root.Send(e.self, &acceptedIn{e, s})
}

func (e *lnEvents) OnAcceptError(err error) { e.root.Send(e.self, &acceptErrIn{e, err}) }

func (e *lnEvents) OnClosed(err error) {
	e.root.Send(e.self, &lnClosedIn{e, err})
	close(e.closed)
}

// deliver implements switcher: the listener accepts or not.
func (e *lnEvents) deliver(on bool) { e.l.SetAccepting(on) }

// bindMemo keeps the port a listener spec first bound, so that a restarted
// listener binds the same address even when port 0 was asked.
type bindMemo struct {
	mu   sync.Mutex
	port uint16
}

type listener struct {
	opts  ListenerOptions
	memo  *bindMemo
	log   *slog.Logger
	stats *inspect.Entry

	ln      *lnEvents
	local   netip.AddrPort
	handler *actor.PID // gets Accepted when there is no factory

	conns        int                        // live connection actors (children)
	copts        *Options                   // shared by every connection
	sock         *tcpmsg.SocketOptions      // shared by every connection
	connProps    *actor.Props               // shared by every connection
	pending      atomic.Pointer[connection] // the connection connProps makes, during its Spawn
	accepted     int64
	rejected     int64
	acceptErrors int64

	stopping bool
}

// ListenerProps returns the props of a listener actor: it waits for a
// tcpmsg.Bind (or carries out opts.Bind at start) and runs each accepted
// socket as a connection actor, its child. A connection actor that crashes
// is stopped without harm to the listener or its other connections.
func ListenerProps(opts ListenerOptions) *actor.Props {
	return listenerProps(opts, nil)
}

func listenerProps(opts ListenerOptions, memo *bindMemo) *actor.Props {
	return actor.PropsFromProducer(
		func() actor.Actor { return &listener{opts: opts, memo: memo} },
		actor.WithSupervisor(actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })),
	)
}

// ListenerSpec returns a permanent child spec of a listener named name
// that binds opts.Bind (required) when it starts: a listener that crashes
// is restarted by its supervisor and binds the same address again, the
// port first bound included. Stopping it stops accepting and closes every
// connection once it has sent what it had accepted.
func ListenerSpec(name string, opts ListenerOptions) supervisor.ChildSpec {
	memo := &bindMemo{}
	return supervisor.ChildSpec{
		Name:        name,
		Kind:        ListenerKind,
		Props:       func() *actor.Props { return listenerProps(opts, memo) },
		Restart:     supervisor.Permanent,
		Shutdown:    closeShutdown(opts.CloseWait) + closeShutdown(opts.CloseWait),
		StopMessage: &stopListener{},
	}
}

// Receive is the table of contents of the listener.
func (l *listener) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		l.started(ctx)
	case *actor.Stopping, *actor.Restarting:
		l.closeSocket()
	case *actor.Stopped:
	case *actor.Terminated:
		l.connEnded(ctx, m.Who)
	case *acceptedIn:
		l.acceptedSocket(ctx, m)
	case *acceptErrIn:
		l.acceptError(m)
	case *lnClosedIn:
		l.socketClosed(ctx, m)
	case *tcpmsg.Bind:
		l.bindCmd(ctx, m)
	case *tcpmsg.Unbind:
		l.unbind(ctx, m)
	case *stopListener:
		l.stop(ctx)
	case *tcpmsg.GetStats:
		l.getStats(ctx)
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("tcp listener: %T: %w", m, messages.ErrUnknownCommand)})
		}
	}
}

func (l *listener) started(ctx actor.Context) {
	l.opts = l.opts.withDefaults(ctx.ActorSystem())
	l.log = l.opts.Logger.With("actor", ctx.Self().Id, "kind", ListenerKind)
	l.stats = inspect.Of(ctx)
	l.copts = &Options{Network: l.opts.Network, Clock: l.opts.Clock, Logger: l.opts.Logger, CloseWait: l.opts.CloseWait}
	sock := socketDefaults(l.opts.Socket)
	l.sock = &sock
	// One props for every connection: the actor it makes is the one
	// acceptedSocket prepared just before spawning (Spawn calls the
	// producer at once, on this goroutine). Connections are stopped, never
	// restarted, when they fail (see listenerProps), so the producer is
	// not called again; if it were, it would make an idle connection.
	// Its mailbox (made right after the actor, in the same Spawn) is a
	// dispatch.Mailbox, which the connection's stream events post to with
	// PostHere: a read is handled on the event loop's goroutine when the
	// actor is idle, without waking another goroutine.
	l.connProps = dispatch.Props(ctx.ActorSystem(), actor.PropsFromProducer(func() actor.Actor {
		if c := l.pending.Load(); c != nil {
			return c
		}
		return &connection{}
	}, actor.WithMailbox(func() actor.Mailbox {
		mb := dispatch.NewMailbox()
		if c := l.pending.Load(); c != nil {
			c.mb = mb
		}
		return mb
	})))
	if b := l.opts.Bind; b != nil {
		local := b.Local
		if l.memo != nil {
			l.memo.mu.Lock()
			if local.Port() == 0 && l.memo.port != 0 {
				local = netip.AddrPortFrom(local.Addr(), l.memo.port)
			}
			l.memo.mu.Unlock()
		}
		if err := l.bind(ctx, local, b.Handler); err != nil {
			panic(err) // the supervisor's backoff decides when to try again
		}
		if b.Handler != nil {
			ctx.Send(b.Handler, &tcpmsg.Bound{Local: l.local})
		}
	}
}

func (l *listener) bindCmd(ctx actor.Context, m *tcpmsg.Bind) {
	if l.ln != nil {
		l.fail(ctx, m, fmt.Errorf("tcp: bind %v: %w (on %v)", m.Local, tcpmsg.ErrAlreadyBound, l.local))
		return
	}
	h := m.Handler
	if h == nil {
		h = ctx.Sender()
	}
	if err := l.bind(ctx, m.Local, h); err != nil {
		l.fail(ctx, m, err)
		return
	}
	if ctx.Sender() != nil {
		ctx.Respond(&tcpmsg.Bound{Local: l.local})
	}
}

func (l *listener) bind(ctx actor.Context, local netip.AddrPort, handler *actor.PID) error {
	if !local.IsValid() {
		return fmt.Errorf("tcp: bind: %w: no address", messages.ErrBadCommand)
	}
	if l.opts.Handler == nil && l.opts.Behavior == nil && handler == nil {
		return fmt.Errorf("tcp: bind %v: %w: no handler factory and no handler", local, messages.ErrBadCommand)
	}
	lo := transports.ListenOptions{Stream: streamOptions(socketDefaults(l.opts.Socket))}
	if l.opts.TLS != nil {
		cfg, err := serverTLS(l.opts.TLS, l.log)
		if err != nil {
			return fmt.Errorf("tcp: bind %v: tls: %w", local, err)
		}
		lo.TLS, lo.HandshakeTimeout = cfg, l.opts.TLS.HandshakeTimeout
	}
	tl, err := l.opts.Network.Listen(local, lo)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			err = fmt.Errorf("%w: %w", tcpmsg.ErrPermission, err)
		}
		return fmt.Errorf("tcp: bind %v: %w", local, err)
	}
	ev := &lnEvents{l: tl, root: ctx.ActorSystem().Root, self: ctx.Self(), gate: newGate(acceptBacklog), closed: make(chan struct{})}
	if err := tl.Start(ev); err != nil {
		_ = tl.Close()
		return fmt.Errorf("tcp: bind %v: %w", local, err)
	}
	l.ln, l.local, l.handler = ev, tl.Addr(), handler
	if l.memo != nil {
		l.memo.mu.Lock()
		l.memo.port = l.local.Port()
		l.memo.mu.Unlock()
	}
	l.stats.Set("listening", 1)
	l.log.Info("bound", "local", l.local, "tls", l.opts.TLS != nil)
	return nil
}

// serverTLS returns the server configuration, with a certificate loaded
// from CertDir or made when the configuration has none.
func serverTLS(o *ServerTLS, log *slog.Logger) (*tls.Config, error) {
	var cfg *tls.Config
	if o.Config != nil {
		cfg = o.Config.Clone()
	} else {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if len(cfg.Certificates) > 0 || cfg.GetCertificate != nil || cfg.GetConfigForClient != nil {
		return cfg, nil
	}
	var (
		cert tls.Certificate
		err  error
	)
	if o.CertDir != "" {
		cert, err = certs.LoadOrCreate(o.CertDir, o.Cert)
	} else {
		log.Warn("no certificate and no CertDir: using a self-signed certificate made for this bind only")
		cert, err = certs.SelfSigned(o.Cert)
	}
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

func (l *listener) unbind(ctx actor.Context, m *tcpmsg.Unbind) {
	if l.ln == nil {
		l.fail(ctx, m, fmt.Errorf("tcp: unbind: %w", tcpmsg.ErrNotBound))
		return
	}
	l.closeSocket()
	if ctx.Sender() != nil {
		ctx.Respond(&tcpmsg.Unbound{})
	}
}

// closeSocket stops accepting and releases the port, waiting (bounded) for
// the transport's last event so that the port is free when this returns.
func (l *listener) closeSocket() {
	if l.ln == nil {
		return
	}
	ln := l.ln
	l.ln = nil
	_ = ln.l.Close()
	wait(ln.closed, l.opts.CloseWait)
	l.stats.Set("listening", 0)
}

func (l *listener) acceptedSocket(ctx actor.Context, m *acceptedIn) {
	m.ln.handled(m.ln)
	if m.ln != l.ln || l.stopping {
		_ = m.s.Abort()
		return
	}
	if l.conns >= l.opts.MaxConnections {
		l.rejected++
		l.stats.Add("rejected", 1)
		_ = m.s.Close()
		return
	}
	a := &accept{
		s: m.s, behavior: l.opts.Behavior, factory: l.opts.Handler, kind: l.opts.HandlerKind, notify: l.handler,
		sock: l.sock, register: l.opts.RegisterTimeout,
	}
	c := &connection{opts: l.copts, acc: a, shared: true}
	l.pending.Store(c)
	_, entry, err := inspect.SpawnShared(ctx, l.connProps, "", Kind)
	l.pending.Store(nil)
	if c.mb != nil {
		entry.SetMailbox(c.mb)
	}
	if err != nil {
		l.log.Error("connection actor did not start", "err", err)
		_ = m.s.Abort()
		return
	}
	// No Watch: a parent hears of its children's ends without one, and a
	// watch costs each connection a set of watchers.
	l.conns++
	l.accepted++
	l.stats.Add("accepted", 1)
	l.stats.Set("connections", int64(l.conns))
}

func (l *listener) acceptError(m *acceptErrIn) {
	l.acceptErrors++
	l.stats.Add("accept_errors", 1)
	l.log.Debug("accept failed", "err", m.err)
}

// socketClosed: a listening socket that ends on its own fails the
// listener, so that its supervisor binds again.
func (l *listener) socketClosed(ctx actor.Context, m *lnClosedIn) {
	if m.ln != l.ln {
		return
	}
	l.ln = nil
	err := m.err
	if err == nil {
		err = transports.ErrClosed
	}
	panic(fmt.Errorf("tcp: listener %v: %w", l.local, err))
}

func (l *listener) connEnded(ctx actor.Context, who *actor.PID) {
	l.conns--
	l.stats.Set("connections", int64(l.conns))
	if l.stopping && l.conns == 0 {
		ctx.Stop(ctx.Self())
	}
}

// stop is the graceful stop: no more accepts, every connection flushes and
// closes, then the listener stops (its supervisor's shutdown timeout
// bounds it all).
func (l *listener) stop(ctx actor.Context) {
	l.stopping = true
	l.closeSocket()
	if l.conns == 0 {
		ctx.Stop(ctx.Self())
		return
	}
	for _, pid := range ctx.Children() {
		ctx.Send(pid, &stopGracefully{})
	}
}

func (l *listener) getStats(ctx actor.Context) {
	if ctx.Sender() == nil {
		return
	}
	st := &tcpmsg.ListenerStats{Connections: l.conns, Accepted: l.accepted, Rejected: l.rejected, AcceptErrors: l.acceptErrors}
	if l.ln != nil {
		st.Local = l.local
	}
	ctx.Respond(st)
}

func (l *listener) fail(ctx actor.Context, cmd any, err error) {
	l.stats.Add("failed_commands", 1)
	if ctx.Sender() != nil {
		ctx.Respond(&messages.CommandFailed{Cmd: cmd, Err: err})
	}
}
