// Package websocket is microstack's WebSocket: each socket is an actor that
// exchanges wsmsg.Text and wsmsg.Binary messages with a handler actor, with
// the flow control of a TCP connection (read credits, acknowledged writes, a
// high-water mark past which sends are refused), ping/pong keep-alive, close
// codes and a message size limit. It is MicroStack's WebSocket support of
// ILibWebServer (upgrade) and ILibWebClient (dial).
//
// The protocol is github.com/coder/websocket's; this package adds the actor.
// A server socket comes from Accept, called by the HTTP server actor (package
// actors/http) on a WebSocket route. A client socket dials Options.URL when it
// starts: Props makes one that stops when the connection ends, and ChildSpec
// one that reconnects with the supervisor's backoff, the shape of MeshAgent's
// link to its server (a WebSocket over TLS).
//
// Reads, writes and pings run on goroutines the actor owns; Receive never
// blocks on the network, except when the actor stops, for at most the
// closing handshake (5 s) and the end of those goroutines.
package websocket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	cws "github.com/coder/websocket"

	"github.com/microstack-go/microstack/actors/http/internal/dial"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/wsmsg"
	msruntime "github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Kind is a socket's kind in the runtime's tree.
const Kind = "ws"

// HandlerKind is the kind of a handler spawned by Options.NewHandler.
const HandlerKind = "ws.handler"

// Props returns the props of a client socket that dials opts.URL when it
// starts. When the connection ends, or cannot be made, the handler gets
// wsmsg.Closed and the actor stops.
func Props(opts Options) *actor.Props {
	return props(opts, false)
}

// ChildSpec returns a supervisor child spec of a client socket that
// reconnects: a connection that fails, or that the peer closes, is a failure
// of the child, which the supervisor restarts after its backoff (with
// jitter), so the socket dials again; the handler gets wsmsg.Opened after
// each connection and wsmsg.Closed after each end. A wsmsg.Close ends the
// child for good (it is transient). Give the link a supervisor of its own
// whose intensity tolerates the outages expected, as MeshAgent's agent does
// with its server link.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:        name,
		Kind:        Kind,
		Props:       func() *actor.Props { return props(opts, true) },
		Restart:     supervisor.Transient,
		Shutdown:    7 * time.Second,
		StopMessage: &wsmsg.Close{Code: wsmsg.CodeGoingAway, Reason: "going away"},
	}
}

func props(opts Options, reconnect bool) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor {
		return &socket{opts: opts, reconnect: reconnect}
	})
}

// Upgraded is a server socket whose HTTP upgrade is done and which waits for
// its actor. Exactly one of Props (the actor then owns the connection) or
// Close must be called.
type Upgraded struct {
	conn    *cws.Conn
	opts    Options
	opened  wsmsg.Opened
	claimed atomic.Bool
}

// Accept upgrades an HTTP request to a WebSocket. On failure the response
// has been written (400, 403, 426) and the error says why.
func Accept(w http.ResponseWriter, r *http.Request, opts Options) (*Upgraded, error) {
	opts = opts.withDefaults()
	c, err := cws.Accept(w, r, &cws.AcceptOptions{
		Subprotocols:    opts.Subprotocols,
		OriginPatterns:  opts.OriginPatterns,
		CompressionMode: cws.CompressionDisabled,
	})
	if err != nil {
		return nil, err
	}
	u := &Upgraded{conn: c, opts: opts}
	u.opened.Remote, _ = netip.ParseAddrPort(r.RemoteAddr)
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		u.opened.Local, _ = netip.ParseAddrPort(la.String())
	}
	u.opened.Subprotocol = c.Subprotocol()
	u.opened.Target = r.RequestURI
	u.opened.Header = r.Header.Clone()
	return u, nil
}

// Props returns the props of the socket's actor, which owns the connection
// from then on. It returns nil after Close or a previous Props.
func (u *Upgraded) Props() *actor.Props {
	if !u.claimed.CompareAndSwap(false, true) {
		return nil
	}
	return actor.PropsFromProducer(func() actor.Actor {
		return &socket{opts: u.opts, conn: u.conn, opened: u.opened}
	})
}

// Close drops a socket no actor was started for, without a closing
// handshake.
func (u *Upgraded) Close() error {
	if !u.claimed.CompareAndSwap(false, true) {
		return nil
	}
	return u.conn.CloseNow()
}

type socket struct {
	opts      Options
	reconnect bool
	conn      *cws.Conn
	opened    wsmsg.Opened

	log     *slog.Logger
	stats   *inspect.Entry
	self    *actor.PID
	root    *actor.RootContext
	handler *actor.PID
	child   *actor.PID // handler spawned by NewHandler

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	gate   *gate
	jobs   chan job
	shut   bool // jobs is closed

	open      bool
	closing   bool // Close was asked: the end is ours
	ended     bool // Closed was sent
	closeCode int
	closeText string
	queued    int          // bytes queued for sending and not yet written
	suspended bool         // a send was refused: refuse all until ResumeWriting
	resumers  []*actor.PID // asked ResumeWriting, not yet told WritingResumed
	pinging   bool
	stopPing  msruntime.Cancel
}

type job struct {
	typ   cws.MessageType
	data  []byte
	ack   any
	to    *actor.PID
	close *wsmsg.Close
}

type (
	dialed struct {
		conn *cws.Conn
		resp *http.Response
		err  error
	}
	received struct {
		typ  cws.MessageType
		data []byte
		last bool
	}
	readEnded struct{ err error }
	written   struct {
		n   int
		ack any
		to  *actor.PID
		err error
	}
	pingTick struct{}
	pinged   struct{ err error }
)

func (dialed) IgnoreDeadLetterLogging()    {}
func (received) IgnoreDeadLetterLogging()  {}
func (readEnded) IgnoreDeadLetterLogging() {}
func (written) IgnoreDeadLetterLogging()   {}
func (pingTick) IgnoreDeadLetterLogging()  {}
func (pinged) IgnoreDeadLetterLogging()    {}

// Receive is the table of contents of a socket.
func (s *socket) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping:
		s.release(ctx, messages.SupervisorStopped)
	case *actor.Restarting:
		s.release(ctx, messages.ErrorClosed)
	case *actor.Stopped, *actor.ReceiveTimeout:
	case *actor.Terminated:
		s.handlerStopped(ctx, m)
	case dialed:
		s.dialed(ctx, m)
	case received:
		s.deliver(ctx, m)
	case readEnded:
		s.readEnded(ctx, m)
	case written:
		s.written(ctx, m)
	case pingTick:
		s.ping(ctx)
	case pinged:
		s.pinged(ctx, m)
	case *wsmsg.Text:
		s.send(ctx, m, cws.MessageText, m.Data, m.Ack)
	case *wsmsg.Binary:
		s.send(ctx, m, cws.MessageBinary, m.Data, m.Ack)
	case *wsmsg.Close:
		s.closeCmd(ctx, m)
	case *messages.ResumeWriting:
		s.resumeWriting(ctx)
	case *messages.ResumeReading:
		s.gate.resume(m.Credits)
	case *messages.SuspendReading:
		s.gate.suspend()
	case *messages.Register:
		s.handler = m.Handler
	default:
		s.fail(ctx, m, fmt.Errorf("websocket: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (s *socket) start(ctx actor.Context) {
	s.log = s.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind)
	s.stats = inspect.Of(ctx)
	s.self = ctx.Self()
	s.root = ctx.ActorSystem().Root
	s.handler = s.opts.Handler
	if s.handler == nil {
		s.handler = ctx.Parent()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.gate = newGate(s.opts.Credits)
	if s.conn != nil {
		s.begin(ctx)
		return
	}
	s.wg.Add(1)
	go s.dial()
}

func (s *socket) dial() {
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.DialTimeout)
	defer cancel()
	d := &dial.Dialer{Network: s.opts.Network, Resolve: s.opts.Resolve, TLS: s.opts.TLS}
	tr := &http.Transport{DialContext: d.Dial, DialTLSContext: d.DialTLS, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	c, resp, err := cws.Dial(ctx, s.opts.URL, &cws.DialOptions{
		HTTPClient:      &http.Client{Transport: tr},
		HTTPHeader:      s.opts.Header,
		Subprotocols:    s.opts.Subprotocols,
		CompressionMode: cws.CompressionDisabled,
	})
	if resp != nil && resp.Body != nil && err != nil {
		_ = resp.Body.Close()
	}
	s.root.Send(s.self, dialed{conn: c, resp: resp, err: err})
}

func (s *socket) dialed(ctx actor.Context, m dialed) {
	if m.err != nil {
		s.end(ctx, wsmsg.Closed{Reason: messages.ErrorClosed, Code: wsmsg.CodeAbnormal, Err: fmt.Errorf("websocket: dial %s: %w", s.opts.URL, m.err)})
		return
	}
	s.conn = m.conn
	if u, err := url.Parse(s.opts.URL); err == nil {
		s.opened.Target = u.RequestURI()
	}
	s.opened.Header = m.resp.Header
	s.opened.Subprotocol = m.conn.Subprotocol()
	s.begin(ctx)
}

// begin starts the goroutines of an open connection and tells the handler.
func (s *socket) begin(ctx actor.Context) {
	s.open = true
	s.conn.SetReadLimit(int64(s.opts.MaxMessage))
	if s.opts.NewHandler != nil {
		pid, err := inspect.Spawn(ctx, s.opts.NewHandler(), "handler", HandlerKind, nil)
		if err != nil {
			s.end(ctx, wsmsg.Closed{Reason: messages.ErrorClosed, Code: wsmsg.CodeInternalError, Err: err})
			return
		}
		s.child, s.handler = pid, pid
	}
	s.opened.Socket = s.self
	opened := s.opened
	s.tell(ctx, &opened)
	s.jobs = make(chan job, maxQueuedMessages)
	s.wg.Add(2)
	go s.readLoop()
	go s.writeLoop()
	if s.opts.PingInterval > 0 {
		s.stopPing = msruntime.SendEvery(ctx.ActorSystem(), s.self, s.opts.PingInterval, pingTick{})
	}
	s.stats.Set("open", 1)
}

func (s *socket) readLoop() {
	defer s.wg.Done()
	for {
		ok, last := s.gate.take()
		if !ok {
			return
		}
		typ, data, err := s.conn.Read(s.ctx)
		if err != nil {
			s.root.Send(s.self, readEnded{err})
			return
		}
		s.root.Send(s.self, received{typ: typ, data: data, last: last})
	}
}

func (s *socket) writeLoop() {
	defer s.wg.Done()
	for j := range s.jobs {
		if j.close != nil {
			// Close waits for the peer's close frame, which the read loop
			// reads; it ends the read loop too.
			s.gate.close()
			err := s.conn.Close(cws.StatusCode(j.close.Code), j.close.Reason)
			// The read loop may have been waiting for credits and ended
			// without a word: report the end from here.
			s.root.Send(s.self, readEnded{err})
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.WriteTimeout)
		err := s.conn.Write(ctx, j.typ, j.data)
		cancel()
		s.root.Send(s.self, written{n: len(j.data), ack: j.ack, to: j.to, err: err})
		if err != nil {
			_ = s.conn.CloseNow()
			return
		}
	}
}

func (s *socket) deliver(ctx actor.Context, m received) {
	s.stats.Add("messages_in", 1)
	s.stats.Add("bytes_in", int64(len(m.data)))
	if m.typ == cws.MessageText {
		s.tell(ctx, &wsmsg.Text{Data: m.data})
	} else {
		s.tell(ctx, &wsmsg.Binary{Data: m.data})
	}
	if m.last {
		s.tell(ctx, &messages.Passive{})
	}
}

func (s *socket) send(ctx actor.Context, cmd any, typ cws.MessageType, data []byte, ack any) {
	switch {
	case !s.open || s.closing || s.ended:
		s.fail(ctx, cmd, fmt.Errorf("websocket: %w", messages.ErrNotConnected))
		return
	case len(data) > s.opts.MaxMessage:
		s.fail(ctx, cmd, fmt.Errorf("%w: %d bytes, limit %d", wsmsg.ErrTooLarge, len(data), s.opts.MaxMessage))
		return
	}
	to := s.replyTo(ctx)
	// A message larger than the mark still goes out when the queue is empty.
	// A refused send suspends sending: every later one is refused too, until
	// the writer asks ResumeWriting, so that sends in flight cannot overtake
	// the refused one.
	if s.suspended || (s.queued > 0 && s.queued+len(data) > s.opts.HighWater) || len(s.jobs) == cap(s.jobs) {
		s.suspended = true
		s.stats.Add("refused", 1)
		if to != nil {
			ctx.Send(to, &messages.WriteRefused{Cmd: cmd, Buffered: s.queued})
		}
		return
	}
	s.queued += len(data)
	s.stats.Set("queued", int64(s.queued))
	s.jobs <- job{typ: typ, data: data, ack: ack, to: to}
}

func (s *socket) written(ctx actor.Context, m written) {
	s.queued -= m.n
	s.stats.Set("queued", int64(s.queued))
	if m.err != nil {
		return // the read loop reports the end
	}
	s.stats.Add("messages_out", 1)
	s.stats.Add("bytes_out", int64(m.n))
	if m.ack != nil && m.to != nil {
		ctx.Send(m.to, &messages.WriteAck{Ack: m.ack})
	}
	s.maybeResume(ctx)
}

// resumeWriting answers ResumeWriting with WritingResumed once the send
// queue is at or below the low-water mark: at once, or when it drains.
func (s *socket) resumeWriting(ctx actor.Context) {
	if to := s.replyTo(ctx); to != nil {
		s.resumers = append(s.resumers, to)
	}
	s.maybeResume(ctx)
}

// maybeResume ends a suspension once the queue has drained and somebody
// asked, and tells each writer that asked.
func (s *socket) maybeResume(ctx actor.Context) {
	if len(s.resumers) == 0 || s.queued > s.opts.LowWater || len(s.jobs) > cap(s.jobs)/2 {
		return
	}
	s.suspended = false
	for _, pid := range s.resumers {
		ctx.Send(pid, &messages.WritingResumed{})
	}
	s.resumers = nil
}

func (s *socket) closeCmd(ctx actor.Context, m *wsmsg.Close) {
	if !sendableCode(m.Code) {
		s.fail(ctx, m, fmt.Errorf("%w: %d", wsmsg.ErrBadCloseCode, m.Code))
		return
	}
	if s.closing || s.ended {
		return
	}
	s.closing = true
	s.closeCode, s.closeText = m.Code, m.Reason
	if !s.open {
		s.cancel() // a dial in progress gives up
		s.end(ctx, wsmsg.Closed{Reason: messages.ClosedByUs, Code: m.Code, Text: m.Reason})
		return
	}
	s.jobs <- job{close: m}
	s.closeJobs()
}

func (s *socket) closeJobs() {
	if s.jobs != nil && !s.shut {
		s.shut = true
		close(s.jobs)
	}
}

func (s *socket) readEnded(ctx actor.Context, m readEnded) {
	var ce cws.CloseError
	switch {
	case s.closing:
		s.end(ctx, wsmsg.Closed{Reason: messages.ClosedByUs, Code: s.closeCode, Text: s.closeText})
	case errors.As(m.err, &ce):
		s.end(ctx, wsmsg.Closed{Reason: messages.PeerClosed, Code: int(ce.Code), Text: ce.Reason})
	default:
		s.end(ctx, wsmsg.Closed{Reason: messages.ErrorClosed, Code: wsmsg.CodeAbnormal, Err: m.err})
	}
}

func (s *socket) ping(ctx actor.Context) {
	if !s.open || s.pinging || s.closing || s.ended {
		return
	}
	s.pinging = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		pctx, cancel := context.WithTimeout(s.ctx, s.opts.PongTimeout)
		defer cancel()
		s.root.Send(s.self, pinged{s.conn.Ping(pctx)})
	}()
}

func (s *socket) pinged(ctx actor.Context, m pinged) {
	s.pinging = false
	if m.err != nil && !s.closing && !s.ended {
		s.log.Info("no pong: closing", "err", m.err)
		_ = s.conn.CloseNow() // the read loop reports the end
	}
}

func (s *socket) handlerStopped(ctx actor.Context, m *actor.Terminated) {
	if s.child == nil || !m.Who.Equal(s.child) || s.ended {
		return
	}
	s.child = nil
	s.handler = nil
	s.closeCmd(ctx, &wsmsg.Close{Code: wsmsg.CodeInternalError, Reason: "handler stopped"})
}

// end sends the last event and stops the actor, or fails it when it is a
// reconnecting client whose connection was not ended by a Close.
func (s *socket) end(ctx actor.Context, closed wsmsg.Closed) {
	if s.ended {
		return
	}
	s.ended = true
	s.stats.Set("open", 0)
	s.tell(ctx, &closed)
	s.shutdown()
	if s.reconnect && closed.Reason != messages.ClosedByUs {
		panic(fmt.Errorf("websocket: %s: %s (code %d): %w", s.opts.URL, closed.Reason, closed.Code, errOrClosed(closed.Err)))
	}
	ctx.Stop(s.self)
}

// sendableCode reports whether an endpoint may send code in a close frame
// (RFC 6455 section 7.4: 1004 to 1006 and 1015 are reserved for reports).
func sendableCode(code int) bool {
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}

func errOrClosed(err error) error {
	if err == nil {
		return messages.ErrClosed
	}
	return err
}

// shutdown ends the connection and waits for the socket's goroutines. After
// a closing handshake or a read error they end at once.
func (s *socket) shutdown() {
	if s.stopPing != nil {
		s.stopPing()
	}
	s.cancel()
	s.gate.close()
	s.closeJobs()
	if s.conn != nil {
		_ = s.conn.CloseNow()
	}
	s.wg.Wait()
}

// release runs when the actor stops or restarts: a socket still open closes
// with 1001 (going away), within the closing handshake's bound.
func (s *socket) release(ctx actor.Context, reason messages.CloseReason) {
	if s.ended || s.cancel == nil {
		if s.cancel != nil {
			s.shutdown()
		}
		return
	}
	s.ended = true
	code := wsmsg.CodeGoingAway
	if s.open && !s.closing {
		s.gate.close()
		_ = s.conn.Close(cws.StatusGoingAway, "going away")
	}
	if s.closing {
		code = s.closeCode
	}
	s.tell(ctx, &wsmsg.Closed{Reason: reason, Code: code})
	s.shutdown()
}

// tell sends an event to the handler with the socket as sender.
func (s *socket) tell(ctx actor.Context, msg any) {
	if s.handler != nil {
		ctx.RequestWithCustomSender(s.handler, msg, s.self)
	}
}

func (s *socket) replyTo(ctx actor.Context) *actor.PID {
	if ctx.Sender() != nil {
		return ctx.Sender()
	}
	return s.handler
}

func (s *socket) fail(ctx actor.Context, cmd any, err error) {
	if to := s.replyTo(ctx); to != nil {
		ctx.Send(to, &messages.CommandFailed{Cmd: cmd, Err: err})
	}
}

// gate holds the handler's read credits; the read loop takes one before each
// message.
type gate struct {
	mu        sync.Mutex
	cond      *sync.Cond
	credits   int
	unlimited bool
	suspended bool
	closed    bool
}

func newGate(credits int) *gate {
	g := &gate{credits: credits, unlimited: credits < 0}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// take waits for a credit; it reports false once the gate is closed, and
// last when the credit taken was the last one.
func (g *gate) take() (ok, last bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for !g.closed && (g.suspended || (!g.unlimited && g.credits == 0)) {
		g.cond.Wait()
	}
	if g.closed {
		return false, false
	}
	if g.unlimited {
		return true, false
	}
	g.credits--
	return true, g.credits == 0
}

func (g *gate) resume(credits int) {
	g.mu.Lock()
	g.suspended = false
	if credits <= 0 {
		g.unlimited = true
	} else {
		g.credits += credits
	}
	g.mu.Unlock()
	g.cond.Broadcast()
}

func (g *gate) suspend() {
	g.mu.Lock()
	g.suspended = true
	g.mu.Unlock()
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cond.Broadcast()
}
