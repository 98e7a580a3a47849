package http

import (
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
)

// An exchange is one request to a handler actor. net/http's goroutine for
// the request reads the body, sends the request with the exchange as its
// ReplyTo and sender, and writes what the exchange passes it through a
// bounded channel of parts. The exchange checks the handler's commands and
// accounts for back-pressure as they arrive, on the sending goroutine,
// under its lock: a process rather than an actor, so that a request costs
// no spawn, mailbox or stop (they were an eighth of this engine's CPU per
// request). The goroutine owns the timeouts.
//
// A connection's requests come one at a time, and one exchange serves them
// all: it is registered once, at the connection's first request to an
// actor, and removed when the connection closes (registering a process for
// each request was a twentieth of a request's CPU, and its channel most of
// what a request allocated). Each request has a PID of its own, the
// exchange's with the request's number as RequestId (a field protoactor
// keeps for this, and carries between nodes): a command sent to the PID of
// a request that is over is refused, never taken for the next one's.

type partKind int

const (
	partFull partKind = iota // a whole Response
	partHead                 // StreamResponse
	partData                 // WriteBody
	partEnd                  // EndResponse
	partFail                 // the server answers status itself
)

type part struct {
	kind   partKind
	status int
	header nethttp.Header
	body   []byte
	ack    any
	to     *actor.PID
}

// maxParts bounds the parts queued between the exchange and the writer.
// The channel holds pointers: a part is 72 bytes, and a channel of 64 of
// them made for every request was most of what a request allocated.
const maxParts = 64

type exchangeState int

const (
	awaiting exchangeState = iota
	streaming
	answered
)

type exchange struct {
	sh     *shared
	parts  chan *part // never full: a slot is kept for every part that may come
	id     *actor.PID // as registered
	single bool       // serves one request: removed once it is over

	// Set under mu for each request.
	handler *actor.PID
	self    *actor.PID // the request's: id with the request's number

	mu        sync.Mutex
	over      bool // no request in progress: commands are refused
	state     exchangeState
	queued    int          // bytes of WriteBody queued and not yet written
	pending   int          // WriteBody parts queued and not yet written
	suspended bool         // a WriteBody was refused: refuse all until ResumeWriting
	resumers  []*actor.PID // asked ResumeWriting, not yet told WritingResumed
	later     []delivery   // messages to send once mu is released
}

// delivery is a message to send once a lock is released. A process that
// handles its messages on the sender's goroutine under a lock of its own
// (an exchange, a connection's reply process) sends nothing while holding
// it: a receiver of the same kind that answered at once would deadlock
// against it.
type delivery struct {
	to  *actor.PID
	msg any
}

// deliver sends ds in order.
func deliver(root *actor.RootContext, ds []delivery) {
	for _, d := range ds {
		root.Send(d.to, d.msg)
	}
}

// send sends msg to pid once mu is released; called with mu held.
func (x *exchange) send(pid *actor.PID, msg any) {
	x.later = append(x.later, delivery{pid, msg})
}

// unlock releases mu and sends what was waiting for it.
func (x *exchange) unlock() {
	later := x.later
	x.later = nil
	x.mu.Unlock()
	deliver(x.sh.root, later)
}

// startExchange sends req to handler with the connection's exchange (one
// made for c's first request to an actor) as its sender and ReplyTo, under
// the request's own PID. A handler spawned with dispatch.HereProps
// (inPlace finds its mailbox) is run on the calling goroutine, net/http's
// for the connection, when it is idle: a handler that answers at once has
// then answered when startExchange returns, with no thread hand-off either
// way.
func (sh *shared) startExchange(c *conn, req *httpmsg.Request, handler *actor.PID, inPlace *dispatch.Here) *exchange {
	var x *exchange
	if c != nil {
		x = c.x // written by this goroutine only
	}
	system := sh.root.ActorSystem()
	if x == nil {
		x = &exchange{sh: sh, parts: make(chan *part, maxParts), over: true}
		x.id, _ = system.ProcessRegistry.Add(x, "http-exchange"+system.ProcessRegistry.NextId())
		if c == nil || !c.keep(x) {
			x.single = true
		}
	}
	x.mu.Lock()
	x.handler, x.over, x.state = handler, false, awaiting
	x.self = requestPID(new(actor.PID), x.id, nextRequest(x.self.GetRequestId()))
	x.mu.Unlock()
	req.ReplyTo = x.self
	// Not under mu: a dead handler's dead letter answers at once, here.
	if mb := inPlace.Mailbox(system, handler); mb != nil {
		// As RequestWithCustomSender sends it.
		mb.PostHere(&actor.MessageEnvelope{Message: req, Sender: x.self})
		return x
	}
	sh.root.RequestWithCustomSender(handler, req, x.self)
	return x
}

// finish ends the request: what comes later for it is refused (or goes
// to dead letters once the exchange is removed).
func (x *exchange) finish() {
	x.mu.Lock()
	x.over = true
	x.queued, x.pending, x.suspended = 0, 0, false
	clear(x.resumers)
	x.resumers = x.resumers[:0]
	x.mu.Unlock()
	for { // parts nobody wrote (after a timeout); none come once over
		select {
		case <-x.parts:
			continue
		default:
		}
		break
	}
	if x.single {
		x.remove()
	}
}

// remove takes the exchange out of the registry.
func (x *exchange) remove() {
	x.sh.root.ActorSystem().ProcessRegistry.Remove(x.id)
}

// SendUserMessage takes a handler's command for the request, on the
// handler's goroutine. pid is the PID the command was sent to: one of an
// earlier request names a request that is over.
func (x *exchange) SendUserMessage(pid *actor.PID, message any) {
	_, msg, sender := actor.UnwrapEnvelope(message)
	x.mu.Lock()
	defer x.unlock()
	if x.over || pid.GetRequestId() != x.self.RequestId {
		x.refuse(sender, msg, httpmsg.ErrNoResponse)
		return
	}
	switch m := msg.(type) {
	case *httpmsg.Response:
		x.respond(sender, m)
	case *httpmsg.StreamResponse:
		x.stream(sender, m)
	case *httpmsg.WriteBody:
		x.writeBody(sender, m)
	case *httpmsg.EndResponse:
		x.end(sender, m)
	case *messages.ResumeWriting:
		x.resumeWriting(sender)
	case *actor.DeadLetterResponse:
		// The handler is gone: the request was sent to dead letters.
		if x.state == awaiting {
			x.state = answered
			x.parts <- &part{kind: partFail, status: nethttp.StatusServiceUnavailable}
		}
	default:
		x.refuse(sender, m, fmt.Errorf("http: %T: %w", m, messages.ErrUnknownCommand))
	}
}

// SendSystemMessage implements actor.Process: an exchange has no
// lifecycle of its own.
func (x *exchange) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (x *exchange) Stop(*actor.PID) {}

func (x *exchange) respond(sender *actor.PID, m *httpmsg.Response) {
	if x.state != awaiting {
		x.refuse(sender, m, httpmsg.ErrNoResponse)
		return
	}
	x.state = answered
	x.parts <- &part{kind: partFull, status: m.Status, header: m.Header, body: m.Body}
}

func (x *exchange) stream(sender *actor.PID, m *httpmsg.StreamResponse) {
	if x.state != awaiting {
		x.refuse(sender, m, httpmsg.ErrNoResponse)
		return
	}
	x.state = streaming
	x.parts <- &part{kind: partHead, status: m.Status, header: m.Header}
}

// writeBody queues a part of a streamed body unless it would pass the
// high-water mark. A refused WriteBody suspends writing: every later one is
// refused too, until the writer asks ResumeWriting, so that writes in
// flight cannot overtake the refused one.
func (x *exchange) writeBody(sender *actor.PID, m *httpmsg.WriteBody) {
	if x.state != streaming {
		x.refuse(sender, m, httpmsg.ErrNoResponse)
		return
	}
	to := x.replyTo(sender)
	// One slot stays free for EndResponse.
	if x.suspended || (x.queued > 0 && x.queued+len(m.Data) > x.sh.opts.HighWater) || len(x.parts) >= maxParts-1 {
		x.suspended = true
		if to != nil {
			x.send(to, &messages.WriteRefused{Cmd: m, Buffered: x.queued})
		}
		return
	}
	x.queued += len(m.Data)
	x.pending++
	x.parts <- &part{kind: partData, body: m.Data, ack: m.Ack, to: to}
}

func (x *exchange) end(sender *actor.PID, m *httpmsg.EndResponse) {
	if x.state != streaming {
		x.refuse(sender, m, httpmsg.ErrNoResponse)
		return
	}
	x.state = answered
	x.parts <- &part{kind: partEnd, header: m.Trailer}
}

// wrote tells the exchange that the writer wrote a part of n bytes; its
// acknowledgement goes out and writing may resume.
func (x *exchange) wrote(n int, ack any, to *actor.PID) {
	x.mu.Lock()
	defer x.unlock()
	x.queued -= n
	x.pending--
	if ack != nil && to != nil {
		x.send(to, &messages.WriteAck{Ack: ack})
	}
	x.maybeResume()
}

// resumeWriting answers ResumeWriting with WritingResumed once the queue is
// at or below the low-water mark: at once, or when it drains.
func (x *exchange) resumeWriting(sender *actor.PID) {
	if to := x.replyTo(sender); to != nil {
		x.resumers = append(x.resumers, to)
	}
	x.maybeResume()
}

// maybeResume ends a suspension once the queue has drained and somebody
// asked, and tells each writer that asked.
func (x *exchange) maybeResume() {
	if len(x.resumers) == 0 || x.queued > x.sh.opts.LowWater || x.pending > maxParts/2 {
		return
	}
	x.suspended = false
	for _, pid := range x.resumers {
		x.send(pid, &messages.WritingResumed{})
	}
	x.resumers = nil
}

// replyTo is where the answers to a command go: its sender, or the route's
// handler when it was sent without one (ctx.Send from an actor).
func (x *exchange) replyTo(sender *actor.PID) *actor.PID {
	if sender != nil {
		return sender
	}
	return x.handler
}

func (x *exchange) refuse(sender *actor.PID, cmd any, err error) {
	if sender != nil {
		x.send(sender, &messages.CommandFailed{Cmd: cmd, Err: err})
	}
}

// actorRoute is the net/http side of a route served by a handler actor.
func (sh *shared) actorRoute(handler *actor.PID, limit int64) nethttp.Handler {
	inPlace := new(dispatch.Here) // the handler's mailbox, when it runs in place
	return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		select {
		case sh.inflight <- struct{}{}:
			defer func() { <-sh.inflight }()
		default:
			w.Header().Set("Retry-After", "1")
			nethttp.Error(w, "503 Service Unavailable: too many requests in progress", nethttp.StatusServiceUnavailable)
			return
		}
		if r.ContentLength > limit {
			nethttp.Error(w, "413 Content Too Large", nethttp.StatusRequestEntityTooLarge)
			return
		}
		var body []byte
		var err error
		if r.Body != nethttp.NoBody { // ReadAll would allocate for nothing
			body, err = io.ReadAll(nethttp.MaxBytesReader(w, r.Body, limit))
		}
		if err != nil {
			if mbe := (*nethttp.MaxBytesError)(nil); errors.As(err, &mbe) {
				nethttp.Error(w, "413 Content Too Large", nethttp.StatusRequestEntityTooLarge)
			} else {
				nethttp.Error(w, "400 Bad Request: "+err.Error(), nethttp.StatusBadRequest)
			}
			return
		}
		if len(body) == 0 {
			body = nil
		}
		c, _ := r.Context().Value(connKey{}).(*conn)
		x := sh.startExchange(c, sh.request(r, c, body), handler, inPlace)
		defer x.finish()
		sh.write(w, r, x)
	})
}

func (sh *shared) request(r *nethttp.Request, c *conn, body []byte) *httpmsg.Request {
	req := &httpmsg.Request{
		Method:  r.Method,
		Target:  r.RequestURI,
		Header:  r.Header,
		Body:    body,
		ID:      sh.ids.Add(1),
		Proto:   r.Proto,
		Host:    r.Host,
		Path:    r.URL.Path,
		Pattern: r.Pattern,
		Trailer: r.Trailer,
		TLS:     r.TLS,
	}
	req.Remote, _ = netip.ParseAddrPort(r.RemoteAddr)
	if c != nil {
		req.Session = c.session
		req.Local = c.Stream().LocalAddr()
	}
	if names := wildcards(r.Pattern); len(names) > 0 {
		req.PathValues = make(map[string]string, len(names))
		for _, n := range names {
			req.PathValues[n] = r.PathValue(n)
		}
	}
	return req
}

// wildcards lists the wildcard names of a ServeMux pattern.
func wildcards(pattern string) []string {
	var names []string
	for {
		i := strings.IndexByte(pattern, '{')
		if i < 0 {
			return names
		}
		pattern = pattern[i+1:]
		j := strings.IndexByte(pattern, '}')
		if j < 0 {
			return names
		}
		name := pattern[:j]
		name = strings.TrimSuffix(name, "...")
		if name != "$" {
			names = append(names, name)
		}
		pattern = pattern[j+1:]
	}
}

// write writes the parts of an exchange's response as they come, within the
// handler timeout for each, and the write timeout for each write.
func (sh *shared) write(w nethttp.ResponseWriter, r *nethttp.Request, x *exchange) {
	parts := x.parts
	rc := nethttp.NewResponseController(w)
	var timer *time.Timer // made when a part is waited for
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	next := func() (*part, bool) {
		select {
		case p := <-parts: // a handler run in place has answered already
			return p, true
		default:
		}
		if timer == nil {
			timer = time.NewTimer(sh.opts.HandlerTimeout)
		}
		select {
		case p := <-parts:
			return p, true
		case <-timer.C:
			return nil, false
		case <-r.Context().Done():
			// The client went away; net/http closes the connection.
			panic(nethttp.ErrAbortHandler)
		}
	}
	p, ok := next()
	if !ok {
		nethttp.Error(w, "504 Gateway Timeout: the handler did not answer in time", nethttp.StatusGatewayTimeout)
		return
	}
	if timer != nil {
		// The handler took its time: the write timeout net/http set when
		// it read the request starts again. (An answer that was there at
		// once leaves that one, set microseconds ago.)
		_ = rc.SetWriteDeadline(time.Now().Add(sh.opts.WriteTimeout))
	}
	switch p.kind {
	case partFail:
		nethttp.Error(w, fmt.Sprintf("%d %s", p.status, nethttp.StatusText(p.status)), p.status)
		return
	case partFull:
		copyHeader(w.Header(), p.header)
		// A body net/http buffers whole gets its Content-Length from
		// net/http once the handler returns (an empty one too, except for
		// HEAD, where net/http cannot tell it from an omitted one); a
		// longer one would be sent chunked unless its length is declared
		// here. (Declaring it always cost a tenth of what a request
		// allocated: the field, and the copy of the header net/http then
		// makes.)
		declare := len(p.body) > netHTTPBuffered || (len(p.body) == 0 && r.Method == nethttp.MethodHead)
		if declare && w.Header().Get("Content-Length") == "" && w.Header().Get("Transfer-Encoding") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(len(p.body)))
		}
		w.WriteHeader(status(p.status))
		_, _ = w.Write(p.body)
		return
	}
	// A streamed response.
	copyHeader(w.Header(), p.header)
	w.Header().Del("Content-Length")
	w.WriteHeader(status(p.status))
	_ = rc.Flush()
	for {
		if timer != nil {
			timer.Reset(sh.opts.HandlerTimeout)
		}
		p, ok := next()
		if !ok {
			// Ending the chunked body would tell the client it is whole.
			panic(nethttp.ErrAbortHandler)
		}
		_ = rc.SetWriteDeadline(time.Now().Add(sh.opts.WriteTimeout))
		switch p.kind {
		case partData:
			if _, err := w.Write(p.body); err != nil {
				panic(nethttp.ErrAbortHandler)
			}
			if err := rc.Flush(); err != nil {
				panic(nethttp.ErrAbortHandler)
			}
			x.wrote(len(p.body), p.ack, p.to)
		case partEnd:
			for k, v := range p.header {
				w.Header()[nethttp.TrailerPrefix+k] = v
			}
			return
		}
	}
}

// netHTTPBuffered is how many bytes of a body net/http's server buffers
// before it must choose between a declared length and chunking (its
// bufferBeforeChunkingSize): a response written in one Write of at most
// this many bytes gets a Content-Length from net/http.
const netHTTPBuffered = 2048

func status(code int) int {
	if code == 0 {
		return nethttp.StatusOK
	}
	return code
}

func copyHeader(dst, src nethttp.Header) {
	for k, v := range src {
		dst[k] = v
	}
}
