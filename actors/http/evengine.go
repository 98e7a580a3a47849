package http

import (
	"errors"
	"fmt"
	nethttp "net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lesismal/nbio/nbhttp"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/transports"
)

// Engine selects how a server speaks HTTP/1.1 on its connections.
type Engine int

const (
	// EngineNetHTTP serves every kind of route with net/http's own server
	// over transports/netconn, with a session actor per connection: a
	// goroutine per connection, and net/http's behaviour everywhere. It is
	// the default.
	EngineNetHTTP Engine = iota
	// EngineEventLoop serves actor routes with an event-driven HTTP/1.1
	// engine: requests are parsed by nbio's nbhttp parser as the stream
	// pushes bytes (no goroutine per connection, none per request), routed
	// by a net/http ServeMux, and answered from the handler actor's own
	// goroutine straight onto the stream. On transports/evloop it is what
	// meets the performance issue's HTTP target. See the package
	// documentation, "Event-loop engine", for what it does not serve.
	EngineEventLoop
)

// String names the engine.
func (e Engine) String() string {
	switch e {
	case EngineNetHTTP:
		return "net/http"
	case EngineEventLoop:
		return "event-loop"
	}
	return fmt.Sprintf("Engine(%d)", int(e))
}

// ErrUnsupportedRoute reports a route the event-loop engine cannot serve
// (a mounted Handler, a Dir or a WebSocket); the server refuses to start.
var ErrUnsupportedRoute = errors.New("http: route not served by the event-loop engine")

// lingerTimeout is how long a connection we ended with CloseWrite waits for
// the client to close before it is closed from our side: reading on in the
// meantime keeps a late pipelined request from turning our close into a
// reset that would destroy the response before the client reads it.
const lingerTimeout = time.Second

// maxQueued bounds the parsed requests a connection holds waiting for their
// turn (pipelining); past it the connection stops reading until the queue
// drains to half.
const maxQueued = 32

// evServer is the event-loop engine of one server actor: its listeners,
// its connections and the sweeper that enforces the timeouts.
type evServer struct {
	sh       *shared
	system   *actor.ActorSystem
	stats    *inspect.Entry
	mux      *nethttp.ServeMux
	maxBody  int64
	hdrLimit *nbhttp.Engine // the parser's cache limit while reading a header
	bodyLim  *nbhttp.Engine // and while reading a body

	mu       sync.Mutex
	conns    map[*evConn]struct{}
	lns      []transports.Listener
	stopping bool

	open      atomic.Int64
	inflight  atomic.Int64
	requests  atomic.Int64
	rejected  atomic.Int64
	connSeq   atomic.Uint64
	listening sync.WaitGroup // listeners not yet closed
	live      sync.WaitGroup // connections not yet closed
	quit      chan struct{}
	swept     chan struct{}
	date      atomic.Pointer[dateLine]
}

// dateLine is the Date header of one second, formatted once.
type dateLine struct {
	sec  int64
	line []byte
}

// startEventLoop builds the event-loop engine for s and listens on every
// endpoint.
func (s *server) startEventLoop(ctx actor.Context) error {
	ev := &evServer{
		sh:     s.sh,
		system: ctx.ActorSystem(),
		stats:  s.stats,
		conns:  map[*evConn]struct{}{},
		quit:   make(chan struct{}),
		swept:  make(chan struct{}),
	}
	s.ev = ev
	mux, err := ev.routes(s.opts)
	if err != nil {
		return err
	}
	ev.mux = mux           // and the sweeper runs: see drain
	const slack = 64 << 10 // a read of the stream beyond the limit, and a partial token
	ev.hdrLimit = &nbhttp.Engine{Config: nbhttp.Config{ReadLimit: s.opts.MaxHeaderBytes + slack}}
	ev.bodyLim = &nbhttp.Engine{Config: nbhttp.Config{ReadLimit: int(min(ev.maxBody, 1<<30)) + s.opts.MaxHeaderBytes + slack}}
	go ev.sweep()
	for _, ep := range s.opts.Endpoints {
		cfg := ep.TLS
		if cfg != nil {
			cfg = cfg.Clone()
			cfg.NextProtos = []string{"http/1.1"}
		}
		l, err := s.opts.Network.Listen(ep.Addr, transports.ListenOptions{TLS: cfg})
		if err != nil {
			return fmt.Errorf("http: listen %v: %w", ep.Addr, err)
		}
		ev.listening.Add(1)
		if err := l.Start(evListener{ev}); err != nil {
			ev.listening.Done()
			_ = l.Close()
			return fmt.Errorf("http: listen %v: %w", ep.Addr, err)
		}
		ev.mu.Lock()
		ev.lns = append(ev.lns, l)
		ev.mu.Unlock()
		s.bound = append(s.bound, httpmsg.Endpoint{Addr: l.Addr(), TLS: cfg != nil})
		s.log.Info("listening", "addr", l.Addr(), "tls", cfg != nil, "engine", EngineEventLoop)
	}
	return nil
}

// routes builds the ServeMux that routes the engine's requests: each actor
// route's handler only records which route matched (see routeWriter);
// middleware wraps it as under the net/http engine.
func (ev *evServer) routes(opts Options) (mux *nethttp.ServeMux, err error) {
	mux = nethttp.NewServeMux()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("http: routes: %v: %w", r, messages.ErrBadCommand)
		}
	}()
	ev.maxBody = opts.MaxBodyBytes
	for i := range opts.Routes {
		rt := &opts.Routes[i]
		if rt.Actor == nil || rt.Handler != nil || rt.Dir != "" || rt.WebSocket != nil {
			return nil, fmt.Errorf("http: route %q: only Actor routes: %w", rt.Pattern, ErrUnsupportedRoute)
		}
		limit := opts.MaxBodyBytes
		if rt.MaxBodyBytes > 0 {
			limit = rt.MaxBodyBytes
		}
		ev.maxBody = max(ev.maxBody, limit)
		target := &evRoute{actor: rt.Actor, limit: limit}
		var h nethttp.Handler = nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if rw := findRouteWriter(w); rw != nil {
				rw.route, rw.req = target, r
			}
		})
		for i := len(opts.Middleware) - 1; i >= 0; i-- {
			h = opts.Middleware[i](rt.Pattern, h)
		}
		mux.Handle(rt.Pattern, h)
	}
	return mux, nil
}

// evRoute is an actor route of the engine.
type evRoute struct {
	actor *actor.PID
	limit int64

	// inPlace finds the actor's dispatch.Mailbox when it was spawned with
	// dispatch.HereProps: the connection's goroutine (its event loop) then
	// runs it in place when it is idle, as a TCP connection's actor is,
	// instead of handing it to another thread for every request; and
	// finds it again after a supervisor restarts the actor.
	inPlace dispatch.Here
}

// evListener takes a listener's events.
type evListener struct{ ev *evServer }

func (l evListener) OnAccept(s transports.Stream) { l.ev.accept(s) }

func (l evListener) OnAcceptError(err error) {
	l.ev.sh.log.Debug("accept", "err", err)
}

func (l evListener) OnClosed(err error) {
	if err != nil {
		l.ev.sh.log.Warn("listener closed", "err", err)
	}
	l.ev.listening.Done()
}

// accept starts serving a new stream, or closes it when the server is
// stopping or has MaxSessions connections.
func (ev *evServer) accept(s transports.Stream) {
	ev.mu.Lock()
	if ev.stopping || ev.open.Load() >= int64(ev.sh.opts.MaxSessions) {
		ev.mu.Unlock()
		ev.stats.Add("sessions_refused", 1)
		_ = s.Close()
		return
	}
	c := newEvConn(ev, s)
	ev.conns[c] = struct{}{}
	n := ev.open.Add(1)
	ev.live.Add(1)
	ev.mu.Unlock()
	ev.stats.Set("sessions", n)
	ev.stats.Add("sessions_total", 1)
	if err := s.Start(c); err != nil {
		c.OnClosed(err)
	}
}

// closed forgets a connection that has ended.
func (ev *evServer) closed(c *evConn) {
	ev.mu.Lock()
	delete(ev.conns, c)
	ev.mu.Unlock()
	ev.stats.Set("sessions", ev.open.Add(-1))
	ev.live.Done()
}

// sweepEvery is the sweeper's period: a quarter of the shortest timeout,
// between 10 ms and 1 s. A timeout fires within that much of its due time.
func (ev *evServer) sweepEvery() time.Duration {
	o := ev.sh.opts
	d := min(o.HandlerTimeout, o.IdleTimeout, o.ReadHeaderTimeout, o.ReadTimeout, o.WriteTimeout, lingerTimeout) / 4
	return min(max(d, 10*time.Millisecond), time.Second)
}

// sweep is the engine's one goroutine: it applies the timeouts to every
// connection, and publishes the counters, until the server stops.
func (ev *evServer) sweep() {
	defer close(ev.swept)
	t := time.NewTicker(ev.sweepEvery())
	defer t.Stop()
	var cs []*evConn
	for {
		select {
		case <-ev.quit:
			return
		case now := <-t.C:
			cs = ev.snapshot(cs[:0])
			for _, c := range cs {
				c.check(now)
			}
			clear(cs)
			ev.stats.Set("requests", ev.requests.Load())
			ev.stats.Set("rejected", ev.rejected.Load())
		}
	}
}

func (ev *evServer) snapshot(cs []*evConn) []*evConn {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for c := range ev.conns {
		cs = append(cs, c)
	}
	return cs
}

// drain is the engine's graceful stop: listeners close, idle connections
// close, requests in progress get the shutdown timeout to be answered, then
// every connection left is reset. It returns once every stream has
// reported its end.
func (ev *evServer) drain() {
	ev.mu.Lock()
	ev.stopping = true
	lns := ev.lns
	ev.lns = nil
	ev.mu.Unlock()
	for _, l := range lns {
		_ = l.Close()
	}
	ev.listening.Wait()
	for _, c := range ev.snapshot(nil) {
		c.shutdown()
	}
	if !waitTimeout(&ev.live, ev.sh.opts.ShutdownTimeout) {
		ev.sh.log.Info("drain timed out: resetting connections")
		for _, c := range ev.snapshot(nil) {
			_ = c.s.Abort()
		}
		if !waitTimeout(&ev.live, ev.sh.opts.ShutdownTimeout) {
			ev.sh.log.Warn("connections still open after drain")
		}
	}
	if ev.mux != nil { // the sweeper runs
		close(ev.quit)
		<-ev.swept
	}
}

// dateHeader returns the "Date: ...\r\n" line of now's second.
func (ev *evServer) dateHeader(now time.Time) []byte {
	sec := now.Unix()
	if d := ev.date.Load(); d != nil && d.sec == sec {
		return d.line
	}
	line := now.UTC().AppendFormat([]byte("Date: "), nethttp.TimeFormat)
	line = append(line, "\r\n"...)
	ev.date.Store(&dateLine{sec: sec, line: line})
	return line
}
