package http

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/lesismal/nbio/nbhttp"
	"golang.org/x/net/http/httpguts"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/transports"
)

// An evConn is one connection of the event-loop engine. The stream pushes
// bytes to OnData, on the stream's goroutine (an event loop's, on
// transports/evloop), which feeds them to nbhttp's parser; the parser calls
// back the Processor methods below, which build requests and queue them.
// The request at the head of the queue goes to its route's actor with the
// connection's reply process as sender; the actor's answer reaches
// onReply on the actor's own goroutine, which writes the response to the
// stream and sends the next request. Everything is under mu; nothing
// blocks, and no goroutine belongs to the connection.
type evConn struct {
	ev     *evServer
	s      transports.Stream
	p      *nbhttp.Parser
	remote netip.AddrPort
	local  netip.AddrPort
	raddr  string
	tls    *tls.ConnectionState
	// The stream's optional interfaces, when it has them.
	direct transports.DirectWriter
	queuer transports.QueueWriter
	inLoop bool // in OnData, on the transport's goroutine

	mu       sync.Mutex
	cur      *evRequest // being parsed
	hdrBytes int        // of cur's header so far
	inBody   bool       // cur's header is complete
	bodyLeft int        // bytes of cur's Content-Length body not yet fed to the parser
	hs       headScan   // where scanHead is in the current request's head
	hsLen    int        // bytes of the line scanHead is in, while a request line
	stop     bool       // parse no more requests: the connection ends once the queue is answered
	queue    []*evRequest
	qbuf     [4]*evRequest // the queue's first array, reused when it empties
	readOff  bool          // reading suspended: the queue or the unwritten bytes are full
	started  time.Time
	active   time.Time // last request answered (or accept): for the idle timeout
	now      time.Time // of the current event (OnData, a reply, a sweep)

	// The request with its handler actor.
	busy      bool
	streaming bool
	inflight  bool // counted in the server's MaxInFlight
	req       *evRequest
	handler   *actor.PID
	extra     nethttp.Header // header fields set by middleware
	deadline  time.Time
	reply     *actor.PID // the reply process's PID, as registered
	replyReq  uint32     // the current request's number: its PID's RequestId
	outbox    evSend     // a request to send once mu is released (to set)
	later     []delivery // messages to send once mu is released
	hr        nethttp.Request
	url       url.URL // hr's URL for a plain path
	rw        routeWriter

	// Writing.
	queued, written int64 // bytes passed to Write; reported by OnWritten
	outs            []evOut
	waitingSince    time.Time // when unwritten bytes last made progress
	acks            []evAck
	suspended       bool
	resumers        []*actor.PID

	last     bool // the response written says Connection: close
	draining bool // the server stops: the next response is the last
	closing  bool // CloseWrite sent: lingering until the client closes
	lingerAt time.Time
	ended    bool // OnClosed seen

	// The last sniffed body's first bytes and their Content-Type (sniff).
	sniffed   []byte
	sniffType string
}

// evRequest is a parsed request waiting for its turn, or an error to answer
// in its place (status set).
type evRequest struct {
	// msg is the message for the handler: the parser fills its Method,
	// Target, Proto, Host, Header, Body and Trailer; routing the rest.
	msg           httpmsg.Request
	url           *url.URL // nil for a plain path (see parseTarget)
	minor         int
	vals          []string // backing array of header values
	cl, te, hosts int
	keepAlive     bool
	head          bool

	status int // an error answered in the request's place; the connection ends
	reason string

	// Allocated with the request: the first values, the envelope and the
	// reply PID.
	valsArr [8]string
	env     actor.MessageEnvelope
	reply   actor.PID
}

// evSend is a request for a handler actor, sent outside the connection's
// lock: a dead handler's dead letter answers synchronously, to onReply.
type evSend struct {
	rt  *evRoute               // the route, whose actor is the addressee
	env *actor.MessageEnvelope // the request, with as its sender
}

// evOut is a pooled buffer given to the stream, returned to the pool once
// OnWritten covers its last byte (end).
type evOut struct {
	end int64
	b   *[]byte
}

// evAck is a WriteBody acknowledgement due once the bytes up to end are
// written.
type evAck struct {
	end int64
	ack any
	to  *actor.PID
}

var (
	errBadVersion    = errors.New("malformed HTTP version")
	errVersion       = errors.New("unsupported HTTP version")
	errHeaderTooLong = errors.New("header too large")
	errBodyTooLong   = errors.New("body too large")
)

var outPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxPooled is the largest buffer returned to the pool.
const maxPooled = 64 << 10

func newEvConn(ev *evServer, s transports.Stream) *evConn {
	now := time.Now()
	c := &evConn{ev: ev, s: s, remote: s.RemoteAddr(), local: s.LocalAddr(), tls: s.TLS(), active: now}
	c.raddr = c.remote.String()
	c.direct, _ = s.(transports.DirectWriter)
	c.queuer, _ = s.(transports.QueueWriter)
	c.p = nbhttp.NewParser(nil, ev.hdrLimit, c, false, nil)
	c.register()
	return c
}

// register gives the connection its reply process. Each request has a
// PID of its own: the process's, with the request's number as RequestId (a
// field protoactor keeps for this, and carries between nodes), so that an
// answer to a request that is over (after its 504, or a second answer) is
// refused, never taken for the next request's.
func (c *evConn) register() {
	id := fmt.Sprintf("%s/ev%d", c.ev.sh.self.Id, c.ev.connSeq.Add(1))
	c.reply, _ = c.ev.system.ProcessRegistry.Add(evReply{c}, id)
}

// replyPID sets pid, a new request's, to the reply process's with the
// request's number (with mu held), and returns it.
func (c *evConn) replyPID(pid *actor.PID) *actor.PID {
	c.replyReq = nextRequest(c.replyReq)
	return requestPID(pid, c.reply, c.replyReq)
}

// nextRequest is the number of the request after number n; 0, the
// RequestId of a PID that names no request, is skipped when it wraps.
func nextRequest(n uint32) uint32 {
	if n++; n == 0 {
		n = 1
	}
	return n
}

// requestPID sets pid to the PID of request number n of the reply process
// registered as reg, and returns it. Both engines give each request such a
// PID, and refuse a command that names another request.
func requestPID(pid, reg *actor.PID, n uint32) *actor.PID {
	pid.Address, pid.Id, pid.RequestId = reg.Address, reg.Id, n
	return pid
}

// leaveLoop ends OnData: the request waiting for the lock is sent, and a
// handler actor run in place answers within that, still on the stream's
// goroutine (inLoop), so its answer is written directly; then inLoop ends.
// (Should the handler be busy and answer from its own goroutine before
// inLoop ends, that answer is written directly too: allowed, only not the
// usual way.)
func (c *evConn) leaveLoop() {
	c.unlock()
	c.mu.Lock()
	c.inLoop = false
	c.mu.Unlock()
}

// send sends msg to pid once mu is released; called with mu held.
func (c *evConn) send(pid *actor.PID, msg any) {
	c.later = append(c.later, delivery{pid, msg})
}

// unlock releases mu and sends what was waiting for it.
func (c *evConn) unlock() {
	out, later := c.outbox, c.later
	c.outbox, c.later = evSend{}, nil
	c.mu.Unlock()
	deliver(c.ev.system.Root, later)
	if out.rt == nil {
		return
	}
	if mb := out.rt.inPlace.Mailbox(c.ev.system, out.rt.actor); mb != nil {
		// As RequestWithCustomSender sends it, run here if idle.
		mb.PostHere(out.env)
		return
	}
	c.ev.system.Root.RequestWithCustomSender(out.rt.actor, out.env.Message, out.env.Sender)
}

// BorrowsData implements transports.Borrower: OnData's bytes are used
// during the call only. The parser copies what it keeps (strings, a partial
// token) and a body is appended to its request.
func (c *evConn) BorrowsData() {}

// OnData implements transports.StreamHandler: bytes go to the parser.
func (c *evConn) OnData(b []byte) {
	c.mu.Lock()
	c.inLoop = true
	defer c.leaveLoop()
	if c.stop || c.ended {
		return // a refused request, a close asked: the rest is dropped
	}
	c.now = time.Now()
	err := c.parse(b)
	if err != nil && !c.stop {
		c.fail(c.parseStatus(err), err.Error())
	}
	c.next()
	c.pace()
}

// parse feeds b to the parser. nbhttp's parser takes a field name with
// whitespace before its colon or inside it ("X-A : v", "X-A B: v") as the
// name up to the space, where RFC 9112 asks for 400, and its callbacks do
// not show the raw line: so a request's head is scanned first (scanHead)
// and fed up to its end, no further. A body is fed in pieces that end where
// it ends, so that the next head is scanned too: a Content-Length body at
// most the bytes it has left, a chunked one a line at a time.
func (c *evConn) parse(b []byte) error {
	for len(b) > 0 && !c.stop {
		n := len(b)
		switch {
		case !c.inBody:
			var err error
			if n, err = c.scanHead(b); err != nil {
				return err
			}
		case c.bodyLeft > 0:
			n = min(n, c.bodyLeft)
			c.bodyLeft -= n
		default: // chunked
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				n = i + 1
			}
		}
		if err := c.p.Parse(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// headScan is where scanHead is in a request's head.
type headScan uint8

const (
	hsRequestLine headScan = iota // the zero value: a head starts with it
	hsLineStart
	hsName
	hsValue
)

var errSpaceInName = errors.New("whitespace in a header field name")

// scanHead follows the lines of a request's head and refuses whitespace in
// a field name or between it and its colon; it returns how many bytes of b
// belong to the head: all of them, or those up to the blank line that ends
// it. Everything else about the head is the parser's to check.
func (c *evConn) scanHead(b []byte) (int, error) {
	for i, ch := range b {
		switch c.hs {
		case hsRequestLine:
			switch ch {
			case '\n':
				if c.hsLen > 0 { // an empty line before the request line is skipped
					c.hs = hsLineStart
				}
				c.hsLen = 0
			case '\r':
			default:
				c.hsLen++
			}
		case hsLineStart:
			switch ch {
			case '\r':
			case '\n': // the blank line that ends the head
				return i + 1, nil
			case ' ', '\t':
				c.hs = hsValue // a folded line, which the parser refuses
			default:
				c.hs = hsName
			}
		case hsName:
			switch ch {
			case ':':
				c.hs = hsValue
			case ' ', '\t':
				return 0, errSpaceInName
			case '\n':
				c.hs = hsLineStart // no colon, which the parser refuses
			}
		case hsValue:
			if ch == '\n' {
				c.hs = hsLineStart
			}
		}
	}
	return len(b), nil
}

func (c *evConn) parseStatus(err error) int {
	switch {
	case errors.Is(err, errVersion):
		return nethttp.StatusHTTPVersionNotSupported
	case errors.Is(err, errBodyTooLong):
		return nethttp.StatusRequestEntityTooLarge
	case errors.Is(err, errHeaderTooLong):
		return nethttp.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, nbhttp.ErrTooLong):
		if c.inBody {
			return nethttp.StatusRequestEntityTooLarge
		}
		return nethttp.StatusRequestHeaderFieldsTooLarge
	}
	return nethttp.StatusBadRequest
}

// fail ends the parsing: what is queued is answered, then status, then the
// connection closes.
func (c *evConn) fail(status int, reason string) {
	c.stop = true
	c.cur = nil
	c.ev.rejected.Add(1)
	c.queue = append(c.queue, &evRequest{status: status, reason: reason, minor: 1})
}

// OnWritten implements transports.StreamHandler: buffers go back to the
// pool, acknowledgements go out, reading and writing resume.
func (c *evConn) OnWritten(n int) {
	c.mu.Lock()
	defer c.unlock()
	c.written += int64(n)
	if c.queued > c.written {
		c.waitingSince = time.Now() // progress, not done
	}
	i := 0
	for ; i < len(c.outs) && c.outs[i].end <= c.written; i++ {
		putOut(c.outs[i].b)
		c.outs[i] = evOut{}
	}
	if i == len(c.outs) {
		c.outs = c.outs[:0] // the common case: keep the array
	} else {
		c.outs = c.outs[i:]
	}
	i = 0
	for ; i < len(c.acks) && c.acks[i].end <= c.written; i++ {
		c.send(c.acks[i].to, &messages.WriteAck{Ack: c.acks[i].ack})
		c.acks[i] = evAck{}
	}
	c.acks = c.acks[i:]
	c.maybeResume()
	c.pace()
}

// OnClosed implements transports.StreamHandler: the connection is over.
func (c *evConn) OnClosed(err error) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	if c.inflight {
		c.inflight = false
		c.ev.inflight.Add(-1)
	}
	c.ev.system.ProcessRegistry.Remove(c.reply)
	c.queue, c.cur, c.req, c.outs, c.acks, c.resumers = nil, nil, nil, nil, nil, nil
	c.p.CloseAndClean(err)
	c.mu.Unlock()
	c.ev.closed(c)
}

// The nbhttp.Processor methods: called by c.p.Parse, within OnData, with
// mu held.

// OnMethod starts a request.
func (c *evConn) OnMethod(_ *nbhttp.Parser, method string) {
	if c.stop {
		return
	}
	c.cur = &evRequest{msg: httpmsg.Request{Method: method, Header: make(nethttp.Header, 8)}}
	c.hdrBytes = len(method) + 1
	c.inBody = false
	c.started = c.now
}

// OnURL takes the request target; it is checked when the request is routed.
func (c *evConn) OnURL(_ *nbhttp.Parser, uri string) error {
	if c.cur == nil {
		return nil
	}
	c.cur.msg.Target = uri
	c.hdrBytes += len(uri) + 1
	if c.hdrBytes > c.ev.sh.opts.MaxHeaderBytes {
		return errHeaderTooLong
	}
	if plainPath(uri) {
		return nil // its URL is made when it is routed: parseTarget
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return errors.New("invalid request target")
	}
	c.cur.url = u
	return nil
}

// parseTarget parses an origin-form request target as url.ParseRequestURI
// does. A plain path (unreserved characters and slashes only: nothing to
// unescape, no query) is what url.ParseRequestURI would return as Path and
// nothing else, so it is made directly: that saves the escape pass and an
// allocation on most requests (3% of the engine's CPU per request); it is
// made in dst: the connection's, when the request is routed (OnURL checks
// the target and keeps only a URL url.ParseRequestURI made, so that a
// queued request carries no URL of its own). FuzzParseTarget holds the two
// to the same answers.
func parseTarget(dst *url.URL, uri string) (*url.URL, error) {
	if plainPath(uri) {
		*dst = url.URL{Path: uri}
		return dst, nil
	}
	return url.ParseRequestURI(uri)
}

// plainPath reports whether uri is "/" followed by unreserved characters
// (RFC 3986: letters, digits, "-._~") and slashes only.
func plainPath(uri string) bool {
	if len(uri) == 0 || uri[0] != '/' {
		return false
	}
	for i := 1; i < len(uri); i++ {
		switch c := uri[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '/':
		default:
			return false
		}
	}
	return true
}

// OnProto accepts HTTP/1.0 and HTTP/1.1.
func (c *evConn) OnProto(_ *nbhttp.Parser, proto string) error {
	if c.cur == nil {
		return nil
	}
	major, minor, ok := nethttp.ParseHTTPVersion(proto)
	switch {
	case !ok:
		return fmt.Errorf("%w %q", errBadVersion, proto)
	case major != 1 || minor > 1:
		return fmt.Errorf("%w %q", errVersion, proto)
	}
	c.cur.msg.Proto, c.cur.minor = proto, minor
	c.hdrBytes += len(proto) + 2
	return nil
}

// OnStatus is for responses: unused by a server.
func (c *evConn) OnStatus(*nbhttp.Parser, int, string) {}

// OnHeader adds a header field, counting the fields that frame the body.
func (c *evConn) OnHeader(_ *nbhttp.Parser, key, value string) {
	r := c.cur
	if c.stop || r == nil {
		return
	}
	c.hdrBytes += len(key) + len(value) + 4
	if c.hdrBytes > c.ev.sh.opts.MaxHeaderBytes {
		c.fail(nethttp.StatusRequestHeaderFieldsTooLarge, errHeaderTooLong.Error())
		return
	}
	if !httpguts.ValidHeaderFieldValue(value) {
		c.fail(nethttp.StatusBadRequest, fmt.Sprintf("invalid value of header field %q", key))
		return
	}
	switch key {
	case "Content-Length":
		r.cl++
	case "Transfer-Encoding":
		r.te++
	case "Host":
		// Kept in Host, not in Header, as net/http does.
		r.hosts++
		r.msg.Host = value
		return
	}
	// One backing array for the values, as net/textproto does; the
	// capacity of each field's slice ends at its value, so that a repeated
	// field's append copies instead of overwriting the next field's value.
	if r.vals == nil {
		r.vals = r.valsArr[:0]
	}
	h := r.msg.Header
	if vs, ok := h[key]; ok {
		h[key] = append(vs, value)
		return
	}
	r.vals = append(r.vals, value)
	n := len(r.vals)
	h[key] = r.vals[n-1 : n : n]
}

// OnContentLength ends the header: the framing is checked here.
// contentLength is -1 without a Content-Length (and for a chunked body).
func (c *evConn) OnContentLength(_ *nbhttp.Parser, contentLength int) {
	r := c.cur
	if c.stop || r == nil {
		return
	}
	switch {
	case r.cl > 1:
		// Even identical values: a proxy may have framed by either one.
		c.fail(nethttp.StatusBadRequest, "repeated Content-Length")
		return
	case r.cl > 0 && r.te > 0:
		// RFC 9112 section 6.1: how requests are smuggled.
		c.fail(nethttp.StatusBadRequest, "both Content-Length and Transfer-Encoding")
		return
	case r.te > 0 && r.minor == 0:
		c.fail(nethttp.StatusBadRequest, "Transfer-Encoding in an HTTP/1.0 request")
		return
	case r.hosts > 1:
		c.fail(nethttp.StatusBadRequest, "repeated Host")
		return
	case r.hosts == 0 && r.minor == 1:
		c.fail(nethttp.StatusBadRequest, "missing required Host header")
		return
	case int64(contentLength) > c.ev.maxBody:
		c.fail(nethttp.StatusRequestEntityTooLarge, errBodyTooLong.Error())
		return
	}
	if ex, ok := r.msg.Header["Expect"]; ok {
		if len(ex) != 1 || !strings.EqualFold(ex[0], "100-continue") || r.minor == 0 {
			c.fail(nethttp.StatusExpectationFailed, "unsupported Expect")
			return
		}
		// Answer 100 only when no earlier response is owed, so that it
		// cannot come before them.
		if (contentLength > 0 || r.te > 0) && !c.busy && len(c.queue) == 0 {
			c.write([]byte("HTTP/1.1 100 Continue\r\n\r\n"), nil)
		}
	}
	if contentLength > 0 {
		r.msg.Body = make([]byte, 0, contentLength)
		c.bodyLeft = contentLength
	}
	c.inBody = true
	c.p.Engine = c.ev.bodyLim
}

// OnBody appends to the body, within the largest body limit of any route;
// the matched route's own limit is checked when the request is routed.
func (c *evConn) OnBody(_ *nbhttp.Parser, data []byte) error {
	r := c.cur
	if c.stop || r == nil {
		return nil
	}
	if int64(len(r.msg.Body)+len(data)) > c.ev.maxBody {
		return errBodyTooLong
	}
	r.msg.Body = append(r.msg.Body, data...)
	return nil
}

// OnTrailerHeader adds a trailer field of a chunked body.
func (c *evConn) OnTrailerHeader(_ *nbhttp.Parser, key, value string) {
	r := c.cur
	if c.stop || r == nil {
		return
	}
	c.hdrBytes += len(key) + len(value) + 4
	if c.hdrBytes > c.ev.sh.opts.MaxHeaderBytes {
		c.fail(nethttp.StatusRequestHeaderFieldsTooLarge, errHeaderTooLong.Error())
		return
	}
	if r.msg.Trailer == nil {
		r.msg.Trailer = nethttp.Header{}
	}
	r.msg.Trailer.Add(key, value)
}

// OnComplete queues a whole request.
func (c *evConn) OnComplete(*nbhttp.Parser) {
	r := c.cur
	if c.stop || r == nil {
		return
	}
	c.cur = nil
	c.inBody, c.hs = false, hsRequestLine
	c.p.Engine = c.ev.hdrLimit
	conn := r.msg.Header["Connection"]
	if r.minor == 0 {
		r.keepAlive = httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	} else {
		r.keepAlive = !httpguts.HeaderValuesContainsToken(conn, "close")
	}
	r.head = r.msg.Method == nethttp.MethodHead
	if len(r.msg.Body) == 0 {
		r.msg.Body = nil
	}
	c.queue = append(c.queue, r)
	c.ev.requests.Add(1)
	if !r.keepAlive {
		c.stop = true // what follows a last request is not read
	}
}

// Close and Clean are the parser's end and upgrade hooks: nothing to do.
func (c *evConn) Close(*nbhttp.Parser, error) {}

// Clean implements nbhttp.Processor.
func (c *evConn) Clean(*nbhttp.Parser) {}

// next answers or sends the queued requests in order while none is with
// its handler actor, and ends the connection when it has nothing more to
// do.
func (c *evConn) next() {
	for !c.busy && len(c.queue) > 0 && !c.ended && !c.closing && !c.last {
		r := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		if r.status != 0 {
			c.writeError(r, r.status, r.reason)
		} else {
			c.dispatch(r)
		}
		if c.last {
			c.queue = nil // nothing after a response that closes
		}
	}
	if len(c.queue) == 0 || c.last {
		clear(c.queue)
		c.queue = c.qbuf[:0]
	}
	if c.stop && !c.busy && len(c.queue) == 0 && !c.closing && !c.ended {
		c.closeWrite()
	}
}

// dispatch routes r: a request for an actor is handed over (busy), any
// other is answered at once (404, 405, a redirect, middleware's answer).
func (c *evConn) dispatch(r *evRequest) {
	req := &r.msg
	// The connection's Request, URL and writer serve each of its requests
	// in turn: ServeMux and middleware may not keep them past ServeHTTP.
	u := r.url
	if u == nil {
		u, _ = parseTarget(&c.url, req.Target) // a plain path: no error
	}
	hr := &c.hr
	*hr = nethttp.Request{
		Method:        req.Method,
		URL:           u,
		Proto:         req.Proto,
		ProtoMajor:    1,
		ProtoMinor:    r.minor,
		Header:        req.Header,
		Host:          req.Host,
		RequestURI:    req.Target,
		RemoteAddr:    c.raddr,
		ContentLength: int64(len(req.Body)),
		Trailer:       req.Trailer,
		TLS:           c.tls,
	}
	rw := &c.rw
	*rw = routeWriter{}
	c.ev.mux.ServeHTTP(rw, hr)
	rt := rw.route
	switch {
	case rw.status != 0 || rt == nil:
		c.writeFull(r, rw.status, rw.header, rw.body, nil)
		return
	case int64(len(req.Body)) > rt.limit:
		c.stop = true
		c.writeError(r, nethttp.StatusRequestEntityTooLarge, errBodyTooLong.Error())
		return
	}
	if c.ev.inflight.Add(1) > int64(c.ev.sh.opts.MaxInFlight) {
		c.ev.inflight.Add(-1)
		c.writeFull(r, nethttp.StatusServiceUnavailable, nethttp.Header{"Retry-After": {"1"}},
			[]byte("503 Service Unavailable: too many requests in progress\n"), nil)
		return
	}
	hr = rw.req // as the route saw it, after middleware
	req.ID = c.ev.sh.ids.Add(1)
	req.Path = u.Path
	req.Pattern = hr.Pattern
	req.Remote, req.Local, req.TLS = c.remote, c.local, c.tls
	req.ReplyTo = c.replyPID(&r.reply)
	if names := wildcards(hr.Pattern); len(names) > 0 {
		req.PathValues = make(map[string]string, len(names))
		for _, n := range names {
			req.PathValues[n] = hr.PathValue(n)
		}
	}
	c.busy, c.streaming, c.inflight = true, false, true
	c.req, c.handler, c.extra = r, rt.actor, rw.header
	c.deadline = c.now.Add(c.ev.sh.opts.HandlerTimeout)
	r.env = actor.MessageEnvelope{Message: req, Sender: req.ReplyTo}
	c.outbox = evSend{rt: rt, env: &r.env}
}

// done ends the request with its handler.
func (c *evConn) done() {
	c.busy, c.streaming, c.suspended = false, false, false
	c.req, c.handler, c.extra, c.resumers = nil, nil, nil, nil
	if c.inflight {
		c.inflight = false
		c.ev.inflight.Add(-1)
	}
	c.active = c.now
}

// closeWrite ends our side once the responses are sent, and lingers for
// the client's close (see lingerTimeout).
func (c *evConn) closeWrite() {
	c.closing = true
	c.lingerAt = c.now.Add(lingerTimeout)
	if err := c.s.CloseWrite(); err != nil {
		_ = c.s.Close()
	}
	c.setReading(true) // read on, to drop what comes
}

// pace suspends reading while the queue or the unwritten bytes are full,
// and resumes it once they have drained to half (LowWater).
func (c *evConn) pace() {
	if c.ended || c.stop {
		return
	}
	unwritten := c.queued - c.written
	if !c.readOff && (len(c.queue) >= maxQueued || unwritten > int64(c.ev.sh.opts.HighWater)) {
		c.setReading(false)
	} else if c.readOff && len(c.queue) <= maxQueued/2 && unwritten <= int64(c.ev.sh.opts.LowWater) {
		c.setReading(true)
	}
}

func (c *evConn) setReading(on bool) {
	if c.readOff == !on {
		return
	}
	c.readOff = !on
	c.s.SetReading(on)
}

// check applies the timeouts; the sweeper calls it.
func (c *evConn) check(now time.Time) {
	c.mu.Lock()
	defer c.unlock()
	c.now = now
	o := c.ev.sh.opts
	switch {
	case c.ended:
	case c.closing:
		if now.After(c.lingerAt) {
			_ = c.s.Close()
		}
		if c.queued > c.written && now.Sub(c.waitingSince) > o.WriteTimeout {
			_ = c.s.Abort()
		}
	case c.queued > c.written && now.Sub(c.waitingSince) > o.WriteTimeout:
		_ = c.s.Abort()
	case c.busy && now.After(c.deadline):
		if c.streaming {
			// Ending the chunked body would tell the client it is whole.
			_ = c.s.Abort()
			return
		}
		r := c.req
		c.done()
		c.writeError(r, nethttp.StatusGatewayTimeout, "the handler did not answer in time")
		c.next()
		c.pace()
	case c.cur != nil && (now.Sub(c.started) > o.ReadTimeout || !c.inBody && now.Sub(c.started) > o.ReadHeaderTimeout):
		c.stop = true
		_ = c.s.Close()
	case !c.busy && c.cur == nil && len(c.queue) == 0 && now.Sub(c.active) > o.IdleTimeout:
		c.stop = true
		_ = c.s.Close()
	}
}

// shutdown is the server's drain: an idle connection closes now, a busy one
// once what it has queued is answered.
func (c *evConn) shutdown() {
	c.mu.Lock()
	defer c.unlock()
	c.now = time.Now()
	if c.ended {
		return
	}
	c.stop, c.draining = true, true
	c.cur = nil
	if !c.busy && len(c.queue) == 0 {
		_ = c.s.Close()
		return
	}
	c.next()
}

// evReply is a connection's reply process: the sender of its requests and
// their ReplyTo. A handler's answers reach it on the handler's goroutine.
type evReply struct{ c *evConn }

// SendUserMessage takes an answer to the connection's request.
func (p evReply) SendUserMessage(pid *actor.PID, message any) {
	_, msg, sender := actor.UnwrapEnvelope(message)
	p.c.onReply(pid, msg, sender)
}

// SendSystemMessage implements actor.Process: a reply process has no
// lifecycle of its own.
func (p evReply) SendSystemMessage(*actor.PID, any) {}

// Stop implements actor.Process.
func (p evReply) Stop(*actor.PID) {}

// onReply handles a handler's command for the connection's current request.
func (c *evConn) onReply(pid *actor.PID, msg any, sender *actor.PID) {
	c.mu.Lock()
	defer c.unlock()
	if !c.inLoop {
		// In OnData (a handler run in place), c.now is OnData's: the same
		// event, a clock read (two per request, ~2% of its CPU) saved.
		c.now = time.Now()
	}
	if c.ended || pid.GetRequestId() != c.replyReq {
		// The request is over (answered, 504, closed connection).
		c.refuse(sender, msg, httpmsg.ErrNoResponse)
		return
	}
	switch m := msg.(type) {
	case *httpmsg.Response:
		if !c.busy || c.streaming {
			c.refuse(sender, m, httpmsg.ErrNoResponse)
			return
		}
		r, extra := c.req, c.extra
		c.done()
		c.writeFull(r, m.Status, m.Header, m.Body, extra)
	case *httpmsg.StreamResponse:
		if !c.busy || c.streaming {
			c.refuse(sender, m, httpmsg.ErrNoResponse)
			return
		}
		c.streamHead(m)
	case *httpmsg.WriteBody:
		if !c.streaming {
			c.refuse(sender, m, httpmsg.ErrNoResponse)
			return
		}
		c.streamBody(m, c.replyTo(sender))
	case *httpmsg.EndResponse:
		if !c.streaming {
			c.refuse(sender, m, httpmsg.ErrNoResponse)
			return
		}
		c.streamEnd(m)
	case *messages.ResumeWriting:
		if to := c.replyTo(sender); to != nil {
			c.resumers = append(c.resumers, to)
		}
		c.maybeResume()
	case *actor.DeadLetterResponse:
		// The handler is gone: the request went to dead letters.
		if c.busy && !c.streaming {
			r := c.req
			c.done()
			c.writeError(r, nethttp.StatusServiceUnavailable, "the handler is gone")
		}
	default:
		c.refuse(sender, m, fmt.Errorf("http: %T: %w", m, messages.ErrUnknownCommand))
		return
	}
	c.next()
	c.pace()
}

// replyTo is where a streaming command's answers go: its sender, or the
// route's handler when it was sent without one.
func (c *evConn) replyTo(sender *actor.PID) *actor.PID {
	if sender != nil {
		return sender
	}
	return c.handler
}

func (c *evConn) refuse(sender *actor.PID, cmd any, err error) {
	if sender != nil {
		c.send(sender, &messages.CommandFailed{Cmd: cmd, Err: err})
	}
}

// maybeResume tells the writers that asked that writing resumes, once the
// unwritten bytes are at or below LowWater.
func (c *evConn) maybeResume() {
	if len(c.resumers) == 0 || c.queued-c.written > int64(c.ev.sh.opts.LowWater) {
		return
	}
	c.suspended = false
	for _, pid := range c.resumers {
		c.send(pid, &messages.WritingResumed{})
	}
	c.resumers = nil
}
