package http

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	nethttp "net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/netconn"
)

// Kinds of the server's actors in the runtime's tree.
const (
	// Kind is the server actor's kind.
	Kind = "http.server"
	// SessionKind is the kind of a connection's session actor.
	SessionKind = "http.session"
)

// Props returns the props of a server actor configured by opts. The server
// listens when it starts and fails (panics, for its supervisor to decide)
// when an endpoint cannot be bound or a route is invalid.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &server{opts: opts} })
}

// ChildSpec returns a supervisor child spec of a permanent server actor
// named name, whose shutdown timeout covers its graceful drain.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	drain := opts.withDefaults().ShutdownTimeout
	return supervisor.ChildSpec{
		Name:     name,
		Kind:     Kind,
		Props:    func() *actor.Props { return Props(opts) },
		Restart:  supervisor.Permanent,
		Shutdown: drain + 3*time.Second,
	}
}

// shared is what net/http's goroutines share with the server actor: set
// before the first connection, then only read, but for the atomics.
type shared struct {
	opts      Options
	log       *slog.Logger
	root      *actor.RootContext
	self      *actor.PID
	guard     bool
	maxHeader int
	inflight  chan struct{} // a semaphore of MaxInFlight
	ids       atomic.Uint64
	handlers  sync.WaitGroup // handler calls in progress
}

type server struct {
	opts  Options
	sh    *shared
	log   *slog.Logger
	stats *inspect.Entry

	srv      *nethttp.Server
	ev       *evServer // the event-loop engine, when Options.Engine selects it
	lns      []*listener
	roots    []*os.Root
	bound    []httpmsg.Endpoint
	serving  sync.WaitGroup
	sessions int
	seq      int
	stopping bool
}

type (
	// spawnSession asks the server for a connection's session actor.
	spawnSession struct{ conn *conn }
	// connEnded and connHijacked come from net/http's ConnState hook.
	connEnded    struct{}
	connHijacked struct{}
	// upgrade hands a WebSocket to a session, to spawn as its child.
	upgrade struct{ socket *websocket.Upgraded }
)

func (*spawnSession) IgnoreDeadLetterLogging() {}
func (*connEnded) IgnoreDeadLetterLogging()    {}
func (*connHijacked) IgnoreDeadLetterLogging() {}
func (*upgrade) IgnoreDeadLetterLogging()      {}

type connKey struct{}

// Receive is the table of contents of the server actor.
func (s *server) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.drain()
	case *actor.Stopped, *actor.ReceiveTimeout:
	case *spawnSession:
		s.spawnSession(ctx, m)
	case *actor.Terminated:
		s.sessions--
		s.stats.Set("sessions", int64(s.sessions))
	case *httpmsg.GetBound:
		ctx.Respond(&httpmsg.Bound{Endpoints: append([]httpmsg.Endpoint(nil), s.bound...)})
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("http: %T: %w", m, messages.ErrUnknownCommand)})
		}
	}
}

func (s *server) start(ctx actor.Context) {
	s.log = s.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind)
	s.stats = inspect.Of(ctx)
	s.sh = &shared{
		opts:      s.opts,
		log:       s.log,
		root:      ctx.ActorSystem().Root,
		self:      ctx.Self(),
		guard:     !s.opts.AllowAmbiguousFraming,
		maxHeader: s.opts.MaxHeaderBytes,
		inflight:  make(chan struct{}, s.opts.MaxInFlight),
	}
	if s.opts.Engine == EngineEventLoop {
		if err := s.startEventLoop(ctx); err != nil {
			s.drain()
			panic(err)
		}
		if s.opts.Events != nil {
			ctx.Send(s.opts.Events, &httpmsg.Bound{Endpoints: append([]httpmsg.Endpoint(nil), s.bound...)})
		}
		return
	}
	mux, err := s.routes()
	if err != nil {
		s.drain()
		panic(err)
	}
	s.srv = &nethttp.Server{
		Handler:           s.sh.top(mux),
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ConnState:         s.sh.connState,
		ConnContext:       func(c context.Context, nc net.Conn) context.Context { return context.WithValue(c, connKey{}, nc) },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	for _, ep := range s.opts.Endpoints {
		if err := s.listen(ep); err != nil {
			s.drain()
			panic(err)
		}
	}
	if s.opts.Events != nil {
		ctx.Send(s.opts.Events, &httpmsg.Bound{Endpoints: append([]httpmsg.Endpoint(nil), s.bound...)})
	}
}

func (s *server) listen(ep Endpoint) error {
	cfg := ep.TLS
	if cfg != nil {
		cfg = cfg.Clone()
		// Connections are served by net/http's HTTP/1.1 server only.
		cfg.NextProtos = []string{"http/1.1"}
	}
	l, err := s.opts.Network.Listen(ep.Addr, transports.ListenOptions{TLS: cfg})
	if err != nil {
		return fmt.Errorf("http: listen %v: %w", ep.Addr, err)
	}
	nl, err := netconn.Listen(l, 0)
	if err != nil {
		_ = l.Close()
		return fmt.Errorf("http: listen %v: %w", ep.Addr, err)
	}
	wl := &listener{Listener: nl, srv: s.sh, tls: cfg != nil, done: make(chan struct{})}
	s.lns = append(s.lns, wl)
	s.bound = append(s.bound, httpmsg.Endpoint{Addr: l.Addr(), TLS: cfg != nil})
	s.log.Info("listening", "addr", l.Addr(), "tls", cfg != nil)
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = s.srv.Serve(wl)
	}()
	return nil
}

func (s *server) spawnSession(ctx actor.Context, m *spawnSession) {
	defer close(m.conn.ready)
	if s.stopping || s.sessions >= s.opts.MaxSessions {
		s.stats.Add("sessions_refused", 1)
		return
	}
	s.seq++
	props := actor.PropsFromProducer(func() actor.Actor {
		return &session{conn: m.conn, events: s.opts.Events}
	})
	pid, err := inspect.Spawn(ctx, props, fmt.Sprintf("session-%d", s.seq), SessionKind, nil)
	if err != nil {
		s.log.Warn("session", "err", err)
		return
	}
	m.conn.session = pid
	m.conn.stats = inspect.From(ctx.ActorSystem()).Lookup(pid.Id)
	s.sessions++
	s.stats.Set("sessions", int64(s.sessions))
	s.stats.Add("sessions_total", 1)
}

// drain is the graceful stop: listeners close, requests in progress get the
// shutdown timeout to finish, then every connection closes. It returns once
// net/http's goroutines have ended (handlers that ignore their request's
// context are waited for up to another shutdown timeout).
func (s *server) drain() {
	if s.stopping {
		return
	}
	s.stopping = true
	if s.ev != nil {
		s.ev.drain()
	}
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		if err := s.srv.Shutdown(ctx); err != nil {
			s.log.Info("drain timed out: closing connections", "err", err)
			_ = s.srv.Close()
		}
		cancel()
	}
	for _, l := range s.lns {
		_ = l.Close()
	}
	s.serving.Wait()
	if s.sh != nil && !waitTimeout(&s.sh.handlers, s.opts.ShutdownTimeout) {
		s.log.Warn("handlers still running after drain")
	}
	for _, r := range s.roots {
		_ = r.Close()
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// routes builds the server's ServeMux.
func (s *server) routes() (mux *nethttp.ServeMux, err error) {
	mux = nethttp.NewServeMux()
	defer func() {
		// ServeMux panics on an invalid or conflicting pattern.
		if r := recover(); r != nil {
			err = fmt.Errorf("http: routes: %v: %w", r, messages.ErrBadCommand)
		}
	}()
	for _, rt := range s.opts.Routes {
		h, err := s.handler(rt)
		if err != nil {
			return nil, fmt.Errorf("http: route %q: %w", rt.Pattern, err)
		}
		for i := len(s.opts.Middleware) - 1; i >= 0; i-- {
			h = s.opts.Middleware[i](rt.Pattern, h)
		}
		mux.Handle(rt.Pattern, h)
	}
	return mux, nil
}

func (s *server) handler(rt Route) (nethttp.Handler, error) {
	limit := s.opts.MaxBodyBytes
	if rt.MaxBodyBytes > 0 {
		limit = rt.MaxBodyBytes
	}
	set := 0
	for _, b := range []bool{rt.Actor != nil, rt.Handler != nil, rt.Dir != "", rt.WebSocket != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, fmt.Errorf("set exactly one of Actor, Handler, Dir, WebSocket: %w", messages.ErrBadCommand)
	}
	switch {
	case rt.Actor != nil:
		return s.sh.actorRoute(rt.Actor, limit), nil
	case rt.Handler != nil:
		return limitBody(rt.Handler, limit), nil
	case rt.Dir != "":
		root, err := os.OpenRoot(rt.Dir)
		if err != nil {
			return nil, err
		}
		s.roots = append(s.roots, root)
		return nethttp.StripPrefix(pathPrefix(rt.Pattern), nethttp.FileServerFS(noListing{root.FS()})), nil
	default:
		if rt.WebSocket.Handler == nil && rt.WebSocket.NewHandler == nil {
			return nil, fmt.Errorf("websocket route without a handler: %w", messages.ErrBadCommand)
		}
		return s.sh.socketRoute(*rt.WebSocket), nil
	}
}

// pathPrefix is the literal path of a pattern, up to its first wildcard and
// without the trailing slash: what a file route strips.
func pathPrefix(pattern string) string {
	p := pattern
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		p = strings.TrimSpace(p[i:])
	}
	if i := strings.IndexByte(p, '/'); i > 0 {
		p = p[i:] // drop a host
	}
	if i := strings.IndexByte(p, '{'); i >= 0 {
		p = p[:i]
	}
	return strings.TrimSuffix(p, "/")
}

// noListing serves a folder's files but not its listings: a folder opens
// only when it has an index.html.
type noListing struct{ fs.FS }

func (n noListing) Open(name string) (fs.File, error) {
	f, err := n.FS.Open(name)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		if _, err := fs.Stat(n.FS, strings.TrimSuffix(name, "/")+"/index.html"); err != nil {
			_ = f.Close()
			return nil, fs.ErrNotExist
		}
	}
	return f, nil
}

func limitBody(h nethttp.Handler, limit int64) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		r.Body = nethttp.MaxBytesReader(w, r.Body, limit)
		h.ServeHTTP(w, r)
	})
}

// top runs before every route: the framing check's verdict, the session's
// counters and the TLS state.
func (sh *shared) top(next nethttp.Handler) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		sh.handlers.Add(1)
		defer sh.handlers.Done()
		c, _ := r.Context().Value(connKey{}).(*conn)
		if c != nil {
			if err := c.verdict(); err != nil {
				c.stats.Add("rejected", 1)
				w.Header().Set("Connection", "close")
				nethttp.Error(w, "400 Bad Request: "+err.Error(), nethttp.StatusBadRequest)
				_ = nethttp.NewResponseController(w).Flush()
				c.refuse()
				return
			}
			c.stats.Add("requests", 1)
			if c.tls {
				r.TLS = c.Stream().TLS()
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (sh *shared) connState(nc net.Conn, st nethttp.ConnState) {
	c, ok := nc.(*conn)
	if !ok || c.session == nil {
		return
	}
	switch st {
	case nethttp.StateHijacked:
		c.stopCheck()
		sh.root.Send(c.session, &connHijacked{})
	case nethttp.StateClosed:
		sh.root.Send(c.session, &connEnded{})
	}
}

// socketRoute upgrades requests to WebSockets and hands each to its
// session, which spawns the socket's actor as its child.
func (sh *shared) socketRoute(opts websocket.Options) nethttp.Handler {
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		c, _ := r.Context().Value(connKey{}).(*conn)
		if c == nil {
			nethttp.Error(w, "no session", nethttp.StatusInternalServerError)
			return
		}
		u, err := websocket.Accept(w, r, opts)
		if err != nil {
			sh.log.Debug("websocket upgrade refused", "err", err)
			return
		}
		res, err := sh.root.RequestFuture(c.session, &upgrade{socket: u}, sh.opts.HandlerTimeout).Result()
		if err == nil {
			if e, ok := res.(error); ok {
				err = e
			}
		}
		if err != nil {
			_ = u.Close()
			sh.root.Send(c.session, &httpmsg.CloseSession{})
		}
	})
}

var errSessionGone = errors.New("http: session closed")
