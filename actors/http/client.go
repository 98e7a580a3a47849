package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"net/netip"
	"net/url"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/http/internal/dial"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/osnet"
)

// ClientKind is the client actor's kind in the runtime's tree.
const ClientKind = "http.client"

// ClientOptions configures a client actor. Origin is required; every other
// field has a default: TLS peers verified against the system's roots, four
// connections, 30 s per request, ten redirects.
type ClientOptions struct {
	// Origin is the scheme, host and port the client speaks to:
	// "http://127.0.0.1:8080", "https://example.com". Request targets are
	// relative to it.
	Origin string
	// Network dials. Default osnet.New.
	Network transports.Network
	// Resolve looks up host names. Default net.DefaultResolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// TLS is the base TLS config for https. Verification is on unless it
	// sets InsecureSkipVerify.
	TLS *tls.Config
	// Pins, when set, trust exactly the certificates with these SHA-256 or
	// SHA-384 fingerprints (transports/certs), instead of the roots.
	Pins [][]byte
	// Proxy, when set, is the HTTP proxy every request goes through
	// ("http://proxy:3128"); https goes through CONNECT.
	Proxy *url.URL
	// MaxConns bounds the connections (and requests in flight) to the
	// origin; further requests wait in the client's queue. Default 4.
	// Pipelined requests use one more connection of their own.
	MaxConns int
	// MaxQueue bounds the requests waiting; past it requests are refused
	// with httpmsg.ErrQueueFull. Default 256.
	MaxQueue int
	// Timeout bounds a request, redirects and body included, unless the
	// request sets its own. Default 30 s.
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed; one more fails the
	// request with httpmsg.ErrTooManyRedirects. Default 10; negative
	// follows none (the 3xx response is returned).
	MaxRedirects int
	// MaxBodyBytes bounds a response body read whole; a longer one fails
	// with httpmsg.ErrBodyTooLarge. Default 16 MiB.
	MaxBodyBytes int64
	// IdleTimeout closes a kept-alive connection unused for that long.
	// Default 10 s (MicroStack's HTTP_SESSION_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// ChunkSize is the most bytes one BodyChunk carries; Credits the
	// BodyChunks a streamed response may send before ReadBody. Defaults
	// 32 KiB and 4.
	ChunkSize, Credits int
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 4
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.MaxRedirects == 0 {
		o.MaxRedirects = 10
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 16 << 20
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 32 << 10
	}
	if o.Credits <= 0 {
		o.Credits = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// ClientProps returns the props of a client actor for one origin. The actor
// fails at start when the origin or the pins are invalid.
func ClientProps(opts ClientOptions) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &client{opts: opts} })
}

// ClientChildSpec returns a supervisor child spec of a permanent client
// actor named name.
func ClientChildSpec(name string, opts ClientOptions) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:     name,
		Kind:     ClientKind,
		Props:    func() *actor.Props { return ClientProps(opts) },
		Restart:  supervisor.Permanent,
		Shutdown: 2 * time.Second,
	}
}

type job struct {
	req  *httpmsg.Request
	from *actor.PID
}

type client struct {
	opts   ClientOptions
	log    *slog.Logger
	stats  *inspect.Entry
	origin *url.URL
	self   *actor.PID
	root   *actor.RootContext

	hc, pipe *nethttp.Client
	trs      []*nethttp.Transport
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	active   int   // requests in flight, not pipelined
	queue    []job // waiting, not pipelined
	pipeBusy bool
	pipeQ    []job
	streamID uint64
	streams  map[uint64]*bodyStream
}

type (
	// done reports a request's end (its body read, or its stream ended).
	done struct {
		pipeline bool
	}
	// streamStarted registers a stream before its Response is sent.
	streamStarted struct {
		id uint64
		s  *bodyStream
	}
	streamEnded struct{ id uint64 }
)

func (*done) IgnoreDeadLetterLogging()          {}
func (*streamStarted) IgnoreDeadLetterLogging() {}
func (*streamEnded) IgnoreDeadLetterLogging()   {}

// Receive is the table of contents of the client actor.
func (c *client) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		c.release()
	case *actor.Stopped, *actor.ReceiveTimeout:
	case *httpmsg.Request:
		c.request(ctx, job{req: m, from: ctx.Sender()})
	case *done:
		c.done(ctx, m)
	case *streamStarted:
		c.streams[m.id] = m.s
	case *streamEnded:
		delete(c.streams, m.id)
	case *httpmsg.ReadBody:
		c.readBody(ctx, m)
	case *httpmsg.CancelStream:
		if s := c.streams[m.StreamID]; s != nil {
			s.cancel()
		} else {
			c.fail(ctx, ctx.Sender(), m, httpmsg.ErrUnknownStream)
		}
	default:
		c.fail(ctx, ctx.Sender(), m, fmt.Errorf("http: client: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (c *client) start(ctx actor.Context) {
	c.log = c.opts.Logger.With("actor", ctx.Self().Id, "kind", ClientKind)
	c.stats = inspect.Of(ctx)
	c.self, c.root = ctx.Self(), ctx.ActorSystem().Root
	c.streams = make(map[uint64]*bodyStream)
	c.ctx, c.cancel = context.WithCancel(context.Background())
	u, err := url.Parse(c.opts.Origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		panic(fmt.Errorf("http: client origin %q: %w", c.opts.Origin, messages.ErrBadCommand))
	}
	c.origin = u
	cfg := c.opts.TLS
	if len(c.opts.Pins) > 0 {
		if cfg, err = certs.PinnedConfig(cfg, c.opts.Pins); err != nil {
			panic(fmt.Errorf("http: client pins: %w", err))
		}
	}
	var resolve dial.Resolver = dial.DefaultResolve
	if c.opts.Resolve != nil {
		resolve = c.opts.Resolve
	}
	d := &dial.Dialer{Network: c.opts.Network, Resolve: resolve, TLS: cfg}
	transport := func(conns int) *nethttp.Transport {
		tr := &nethttp.Transport{
			DialContext:         d.Dial,
			DialTLSContext:      d.DialTLS,
			TLSClientConfig:     cfg, // used after a proxy's CONNECT
			MaxConnsPerHost:     conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     c.opts.IdleTimeout,
			TLSHandshakeTimeout: 10 * time.Second,
		}
		if c.opts.Proxy != nil {
			tr.Proxy = nethttp.ProxyURL(c.opts.Proxy)
		}
		c.trs = append(c.trs, tr)
		return tr
	}
	redirects := func(req *nethttp.Request, via []*nethttp.Request) error {
		if c.opts.MaxRedirects < 0 {
			return nethttp.ErrUseLastResponse
		}
		if len(via) > c.opts.MaxRedirects {
			return fmt.Errorf("%w: %d", httpmsg.ErrTooManyRedirects, c.opts.MaxRedirects)
		}
		return nil
	}
	c.hc = &nethttp.Client{Transport: transport(c.opts.MaxConns), CheckRedirect: redirects}
	c.pipe = &nethttp.Client{Transport: transport(1), CheckRedirect: redirects}
}

func (c *client) release() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	for _, s := range c.streams {
		s.cancel()
	}
	c.wg.Wait()
	for _, tr := range c.trs {
		tr.CloseIdleConnections()
	}
}

func (c *client) request(ctx actor.Context, j job) {
	if j.req.Method == "" {
		j.req.Method = nethttp.MethodGet
	}
	if j.req.Pipeline {
		if len(c.pipeQ) >= c.opts.MaxQueue {
			c.fail(ctx, j.from, j.req, httpmsg.ErrQueueFull)
			return
		}
		c.pipeQ = append(c.pipeQ, j)
	} else {
		if len(c.queue) >= c.opts.MaxQueue {
			c.fail(ctx, j.from, j.req, httpmsg.ErrQueueFull)
			return
		}
		c.queue = append(c.queue, j)
	}
	c.dispatch()
}

// dispatch starts waiting requests while connections are free.
func (c *client) dispatch() {
	for c.active < c.opts.MaxConns && len(c.queue) > 0 {
		j := c.queue[0]
		c.queue = c.queue[1:]
		c.active++
		c.run(j, c.hc, false)
	}
	if !c.pipeBusy && len(c.pipeQ) > 0 {
		j := c.pipeQ[0]
		c.pipeQ = c.pipeQ[1:]
		c.pipeBusy = true
		c.run(j, c.pipe, true)
	}
	c.stats.Set("in_flight", int64(c.active))
	c.stats.Set("queued", int64(len(c.queue)+len(c.pipeQ)))
}

func (c *client) done(ctx actor.Context, m *done) {
	if m.pipeline {
		c.pipeBusy = false
	} else {
		c.active--
	}
	c.dispatch()
}

func (c *client) readBody(ctx actor.Context, m *httpmsg.ReadBody) {
	s := c.streams[m.StreamID]
	if s == nil {
		c.fail(ctx, ctx.Sender(), m, httpmsg.ErrUnknownStream)
		return
	}
	s.grant(m.Credits)
}

func (c *client) fail(ctx actor.Context, to *actor.PID, cmd any, err error) {
	if to != nil {
		ctx.Send(to, &messages.CommandFailed{Cmd: cmd, Err: err})
	}
}

// run performs one request on its own goroutine, which tells the actor
// when the request (and its body) is done.
func (c *client) run(j job, hc *nethttp.Client, pipeline bool) {
	c.wg.Add(1)
	var id uint64
	if j.req.Stream {
		c.streamID++
		id = c.streamID
	}
	go func() {
		defer c.wg.Done()
		defer c.root.Send(c.self, &done{pipeline: pipeline})
		c.exchange(j, hc, id)
	}()
}

func (c *client) exchange(j job, hc *nethttp.Client, id uint64) {
	timeout := c.opts.Timeout
	if j.req.Timeout > 0 {
		timeout = j.req.Timeout
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	reply := func(msg any) {
		if j.from != nil {
			c.root.Send(j.from, msg)
		}
	}
	failed := func(err error) {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: %w", messages.ErrTimeout, err)
		}
		c.stats.Add("failed", 1)
		reply(&messages.CommandFailed{Cmd: j.req, Err: err})
	}
	target, err := c.origin.Parse(j.req.Target)
	if err != nil {
		failed(fmt.Errorf("http: target %q: %w", j.req.Target, messages.ErrBadCommand))
		return
	}
	var body io.Reader
	if j.req.Body != nil {
		body = bytes.NewReader(j.req.Body)
	}
	hr, err := nethttp.NewRequestWithContext(ctx, j.req.Method, target.String(), body)
	if err != nil {
		failed(fmt.Errorf("http: %w: %w", messages.ErrBadCommand, err))
		return
	}
	for k, v := range j.req.Header {
		hr.Header[k] = v
	}
	if h := j.req.Header.Get("Host"); h != "" {
		hr.Host = h
	}
	resp, err := hc.Do(hr)
	if err != nil {
		failed(unwrapURLError(err))
		return
	}
	defer resp.Body.Close()
	out := &httpmsg.Response{
		Status: resp.StatusCode,
		Header: resp.Header,
		Proto:  resp.Proto,
		URL:    resp.Request.URL.String(),
		Tag:    j.req.Tag,
	}
	c.stats.Add("requests", 1)
	if id == 0 {
		b, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxBodyBytes+1))
		switch {
		case err != nil:
			failed(err)
			return
		case int64(len(b)) > c.opts.MaxBodyBytes:
			failed(fmt.Errorf("%w: more than %d bytes", httpmsg.ErrBodyTooLarge, c.opts.MaxBodyBytes))
			return
		}
		if len(b) > 0 {
			out.Body = b
		}
		out.Trailer = resp.Trailer
		reply(out)
		return
	}
	credits := j.req.Credits
	if credits <= 0 {
		credits = c.opts.Credits
	}
	s := newBodyStream(credits, cancel)
	c.root.Send(c.self, &streamStarted{id: id, s: s})
	defer c.root.Send(c.self, &streamEnded{id: id})
	out.Stream, out.StreamID = true, id
	reply(out)
	end := &httpmsg.BodyEnd{StreamID: id, Tag: j.req.Tag}
	for {
		if !s.take(ctx) {
			end.Err = ctx.Err()
			if errors.Is(end.Err, context.DeadlineExceeded) {
				end.Err = fmt.Errorf("%w: %w", messages.ErrTimeout, end.Err)
			}
			reply(end)
			return
		}
		buf := make([]byte, c.opts.ChunkSize)
		n, err := resp.Body.Read(buf)
		if n > 0 {
			reply(&httpmsg.BodyChunk{StreamID: id, Data: buf[:n], Tag: j.req.Tag})
		} else {
			s.grant(1) // nothing delivered: the credit is not used
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				end.Err = err
			}
			end.Trailer = resp.Trailer
			reply(end)
			return
		}
	}
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("http: %s %s: %w", ue.Op, ue.URL, ue.Err)
	}
	return err
}

// bodyStream holds a streamed body's credits.
type bodyStream struct {
	mu      sync.Mutex
	credits int
	wake    chan struct{}
	cancel  context.CancelFunc
}

func newBodyStream(credits int, cancel context.CancelFunc) *bodyStream {
	return &bodyStream{credits: credits, wake: make(chan struct{}, 1), cancel: cancel}
}

func (s *bodyStream) grant(n int) {
	s.mu.Lock()
	s.credits += max(n, 1)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// take waits for a credit, or for ctx to end.
func (s *bodyStream) take(ctx context.Context) bool {
	for {
		s.mu.Lock()
		if s.credits > 0 {
			s.credits--
			s.mu.Unlock()
			return true
		}
		s.mu.Unlock()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return false
		}
	}
}
