package http

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/transports/netconn"
)

// Errors of the framing check; a request that trips one gets 400 and its
// connection is closed.
var (
	// ErrAmbiguousFraming: a request with both Content-Length and
	// Transfer-Encoding (RFC 9112 section 6.1), or with Content-Length
	// repeated (section 6.3).
	ErrAmbiguousFraming = errors.New("http: ambiguous request framing")
	// ErrBareLF: a header line ended by LF without CR (section 2.2).
	ErrBareLF = errors.New("http: bare LF in request header")
	// ErrObsFold: a header field value continued on the next line (obs-fold,
	// section 5.2), which net/http would join silently.
	ErrObsFold = errors.New("http: obsolete line folding in request header")
	// errUnchecked: the framing check could not follow the connection's
	// framing up to this request; the server cannot tell where the request
	// started, so it does not trust it.
	errUnchecked = errors.New("http: request framing not checked")
)

// listener hands net/http connections that each have a session actor.
type listener struct {
	*netconn.Listener
	srv  *shared
	tls  bool
	done chan struct{}
	once sync.Once
}

// Accept returns the next connection once the server actor has spawned its
// session. While the actor stops, Shutdown closes the listener first, which
// ends a wait here.
func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		c := newConn(nc.(*netconn.Conn), l.tls, l.srv.guard, l.srv.maxHeader)
		l.srv.root.Send(l.srv.self, &spawnSession{conn: c})
		select {
		case <-c.ready:
			if c.session != nil {
				return c, nil
			}
			_ = c.Close() // over MaxSessions, or the server is going
		case <-l.done:
			_ = c.Close()
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// conn is a server connection: a netconn.Conn that counts bytes on its
// session's entry and, unless turned off, feeds what it reads to a framing
// check that runs beside net/http's parser.
type conn struct {
	*netconn.Conn
	tls bool

	ready   chan struct{} // closed once session and stats are set
	session *actor.PID
	stats   *inspect.Entry

	requests atomic.Int64 // requests begun, as net/http's handlers see them
	check    *framing
	refused  atomic.Bool // reads end: the connection closes after its answer

	xmu    sync.Mutex
	x      *exchange // the exchange of the connection's actor requests
	closed bool      // no exchange is kept from now on
}

// keep makes x the connection's exchange, unless the connection is closed:
// then x serves one request only.
func (c *conn) keep(x *exchange) bool {
	c.xmu.Lock()
	defer c.xmu.Unlock()
	if c.closed {
		return false
	}
	c.x = x
	return true
}

func newConn(nc *netconn.Conn, tls, guard bool, maxHeader int) *conn {
	c := &conn{Conn: nc, tls: tls, ready: make(chan struct{})}
	if guard {
		c.check = newFraming(maxHeader)
	}
	return c
}

func (c *conn) Read(p []byte) (int, error) {
	if c.refused.Load() {
		return 0, io.EOF
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.stats.Add("bytes_in", int64(n))
		if c.check != nil {
			c.check.feed(p[:n])
		}
	}
	return n, err
}

func (c *conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.stats.Add("bytes_out", int64(n))
	return n, err
}

func (c *conn) Close() error {
	c.stopCheck()
	c.xmu.Lock()
	x := c.x
	c.closed = true
	c.xmu.Unlock()
	if x != nil {
		x.remove()
	}
	return c.Conn.Close()
}

// stopCheck ends the framing check, after a hijack (the bytes that follow
// are not HTTP) or at close.
func (c *conn) stopCheck() {
	if c.check != nil {
		c.check.stop()
	}
}

// refuse ends reading: net/http, which would otherwise read the rest of a
// refused request's body before closing, sees the end of the stream and
// closes the connection once its answer is sent.
func (c *conn) refuse() {
	c.refused.Store(true)
	c.stopCheck()
}

// verdict returns the framing check's verdict on the next request of the
// connection; net/http calls handlers of one connection one at a time.
func (c *conn) verdict() error {
	k := int(c.requests.Add(1))
	if c.check == nil {
		return nil
	}
	return c.check.verdict(k)
}

// framing follows the request framing of a connection on a copy of its
// bytes: it finds each request's header block (the lines up to the empty
// line), parses it with net/textproto, and skips the body as RFC 9112 section
// 6.3 frames it (Content-Length bytes, or chunked with net/http/httputil's
// chunked reader). The only code here is the choice of framing, no HTTP
// parser.
//
// It runs in feed, on the reading goroutine, as long as it can: a head is
// parsed once its blank line has arrived (the bytes of a head still
// incomplete are kept until then) and a Content-Length body is counted
// off. The chunked reader only pulls, so at the first chunked body the
// check moves to a goroutine of its own, fed through a pipe, for the rest
// of the connection. A connection of requests without chunked bodies (most
// of them) costs no goroutine, no pipe and no thread hand-off per read.
type framing struct {
	maxHeader int
	// The feeder's state while the check runs in the reads.
	pending []byte // the start of a head whose blank line has not come
	skip    int64  // body bytes still to pass
	hr      headReader

	// Set (under mu, by the feeder) once the check runs on its goroutine:
	// feed then writes to pw.
	pw   *io.PipeWriter
	pr   *io.PipeReader
	done chan struct{} // closed when the goroutine ends

	mu       sync.Mutex
	cond     *sync.Cond
	parsed   int           // requests whose header block was checked
	bad      map[int]error // verdicts that are not nil, by request number
	finished bool          // nothing more will be checked
}

// verdictWait bounds how long a handler waits for the check to reach its
// request; the bytes are already read, so only a check that cannot follow
// the framing makes it wait at all.
const verdictWait = 2 * time.Second

// maxHeadSlack is how far past MaxHeaderBytes a head may go before the
// check gives up on it: net/http answers 431 near MaxHeaderBytes.
const maxHeadSlack = 4096

func newFraming(maxHeader int) *framing {
	f := &framing{maxHeader: maxHeader}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// feed checks b, the next bytes read from the connection; b is used during
// the call only. On the goroutine it returns once the check has taken b,
// or at once after the check ended.
func (f *framing) feed(b []byte) {
	if f.pw != nil { // the feeder's own field
		_, _ = f.pw.Write(b)
		return
	}
	f.mu.Lock()
	over := f.finished
	f.mu.Unlock()
	if over {
		return
	}
	data := b
	if len(f.pending) > 0 {
		f.pending = append(f.pending, b...)
		data = f.pending
	}
	for len(data) > 0 {
		if f.skip > 0 {
			n := min(f.skip, int64(len(data)))
			f.skip -= n
			data = data[n:]
			continue
		}
		end, complete := headEnd(data)
		if !complete {
			if end > f.maxHeader+maxHeadSlack {
				f.finish()
				return
			}
			break // the rest of the head is still to come
		}
		if end > f.maxHeader+maxHeadSlack {
			f.finish()
			return
		}
		hdr, verdict, err := f.hr.check(data[:end])
		data = data[end:]
		if err != nil {
			f.finish() // net/http rejects it too, and closes
			return
		}
		f.record(verdict)
		if verdict != nil {
			f.finish() // net/http closes this connection
			return
		}
		if te := hdr["Transfer-Encoding"]; len(te) > 0 {
			f.pipe(hdr, data) // the body and all that follows, on the goroutine
			return
		}
		n, err := contentLength(hdr)
		if err != nil {
			f.finish()
			return
		}
		f.skip = n
	}
	// Keep the start of a head (copied: b is the reader's) and drop a
	// large array once it is no longer needed.
	f.pending = append(f.pending[:0], data...)
	if len(f.pending) == 0 && cap(f.pending) > 8<<10 {
		f.pending = nil
	}
}

// record counts a checked head and keeps its verdict.
func (f *framing) record(verdict error) {
	f.mu.Lock()
	f.parsed++
	if verdict != nil {
		if f.bad == nil {
			f.bad = make(map[int]error)
		}
		f.bad[f.parsed] = verdict
	}
	f.mu.Unlock()
	f.cond.Broadcast()
}

// finish ends the check: requests not checked yet get errUnchecked.
func (f *framing) finish() {
	f.mu.Lock()
	f.finished = true
	f.mu.Unlock()
	f.cond.Broadcast()
}

// pipe moves the check to its goroutine, which skips the body of the
// request whose header is hdr, starting with rest, then reads on.
func (f *framing) pipe(hdr textproto.MIMEHeader, rest []byte) {
	f.mu.Lock()
	if f.finished {
		f.mu.Unlock()
		return
	}
	f.pr, f.pw = io.Pipe()
	f.done = make(chan struct{})
	f.mu.Unlock()
	f.pending = nil
	go f.run(hdr)
	if len(rest) > 0 {
		_, _ = f.pw.Write(rest)
	}
}

func (f *framing) stop() {
	f.mu.Lock()
	piped := f.pw != nil
	f.finished = true
	f.mu.Unlock()
	f.cond.Broadcast()
	if piped {
		_ = f.pw.Close()
		_ = f.pr.Close()
		<-f.done
	}
}

func (f *framing) verdict(k int) error {
	f.mu.Lock()
	if f.parsed >= k { // the common case: the check is ahead
		err := f.bad[k]
		f.mu.Unlock()
		return err
	}
	f.mu.Unlock()
	deadline := time.AfterFunc(verdictWait, f.finish)
	defer deadline.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.parsed < k && !f.finished {
		f.cond.Wait()
	}
	if f.parsed < k {
		return errUnchecked
	}
	return f.bad[k]
}

// run is the check on its goroutine: it skips the body framed by first,
// then follows the requests that come after it.
func (f *framing) run(first textproto.MIMEHeader) {
	defer close(f.done)
	defer func() {
		f.finish()
		_ = f.pr.Close() // later feeds return at once
	}()
	br := bufio.NewReaderSize(f.pr, 4096)
	if skipBody(br, first) != nil {
		return
	}
	for {
		hdr, verdict, err := f.hr.read(br, f.maxHeader)
		if err != nil {
			return
		}
		f.record(verdict)
		if verdict != nil || skipBody(br, hdr) != nil {
			return // net/http closes this connection, or cannot go on either
		}
	}
}

// headEnd finds the end of the first header block in b: the index just
// past its blank line, and true; or, while the blank line has not come,
// how many bytes of b the head takes so far, and false. Empty lines before
// a request line are part of its head (net/http skips them, and so does
// the check).
func headEnd(b []byte) (int, bool) {
	first := true
	i := 0
	for {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return len(b), false
		}
		line := b[i : i+j+1]
		i += j + 1
		if isEmptyLine(line) {
			if !first {
				return i, true
			}
			continue
		}
		first = false
	}
}

// isEmptyLine reports whether a whole line, its LF included, is empty.
func isEmptyLine(line []byte) bool {
	return string(line) == "\r\n" || string(line) == "\n"
}

// headReader checks request heads; what it allocates for one (the block,
// the reader textproto parses it from) serves the next.
type headReader struct {
	block []byte
	src   bytes.Reader
	tr    *bufio.Reader
}

// read reads one request's header block from br and checks it (the check
// on its goroutine).
func (h *headReader) read(br *bufio.Reader, maxHeader int) (textproto.MIMEHeader, error, error) {
	block := h.block[:0]
	defer func() {
		if cap(block) <= 8<<10 { // keep a usual head's array, not a huge one
			h.block = block[:0]
		}
	}()
	first := true
	for {
		start := len(block)
		for { // one whole line, however long
			chunk, err := br.ReadSlice('\n')
			block = append(block, chunk...)
			if len(block) > maxHeader+maxHeadSlack {
				return nil, nil, errUnchecked // net/http answers 431
			}
			if err == nil {
				break
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				return nil, nil, err
			}
		}
		if isEmptyLine(block[start:]) {
			if !first {
				break
			}
			continue
		}
		first = false
	}
	return h.check(block)
}

// check checks one request's header block, from its first line (empty
// lines before it included) to its blank line: each line must end in CRLF
// and none may be folded (RFC 9112 sections 2.2 and 5.2), and the framing
// fields must not disagree (section 6.1, 6.3). The header is parsed by
// net/textproto, which copies what it returns out of block.
func (h *headReader) check(block []byte) (textproto.MIMEHeader, error, error) {
	var verdict error
	first := true
	for rest := block; len(rest) > 0; {
		j := bytes.IndexByte(rest, '\n')
		line := rest[:j+1]
		rest = rest[j+1:]
		if first && isEmptyLine(line) {
			block = rest // an empty line before a request is allowed
			continue
		}
		if !first && (line[0] == ' ' || line[0] == '\t') && verdict == nil {
			verdict = ErrObsFold
		}
		first = false
		if len(line) < 2 || line[len(line)-2] != '\r' {
			verdict = ErrBareLF
		}
	}
	if !mentionsFraming(block) {
		// No framing field can be there (textproto matches field names
		// by ASCII case only): nothing to parse. A malformed field that
		// parsing would find gets net/http's 400, and a close.
		return nil, verdict, nil
	}
	h.src.Reset(block)
	if h.tr == nil {
		h.tr = bufio.NewReaderSize(&h.src, 512)
	} else {
		h.tr.Reset(&h.src)
	}
	tp := textproto.NewReader(h.tr)
	if _, err := tp.ReadLine(); err != nil {
		return nil, nil, err
	}
	hdr, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, nil, err // net/http rejects it too, and closes
	}
	if verdict == nil && (len(hdr["Content-Length"]) > 1 || (len(hdr["Content-Length"]) > 0 && len(hdr["Transfer-Encoding"]) > 0)) {
		verdict = ErrAmbiguousFraming
	}
	return hdr, verdict, nil
}

// mentionsFraming reports whether block holds "Content-Length" or
// "Transfer-Encoding" in any ASCII case, anywhere: a head without them has
// no framing field.
func mentionsFraming(block []byte) bool {
	for i, c := range block {
		var name []byte
		switch c | 0x20 { // ASCII lower case of a letter
		case 'c':
			name = contentLengthName
		case 't':
			name = transferEncodingName
		default:
			continue
		}
		if len(block)-i >= len(name) && bytes.EqualFold(block[i:i+len(name)], name) {
			return true
		}
	}
	return false
}

var (
	contentLengthName    = []byte("content-length")
	transferEncodingName = []byte("transfer-encoding")
)

// contentLength is the length of a body framed by Content-Length (zero
// without it).
func contentLength(hdr textproto.MIMEHeader) (int64, error) {
	cl := hdr.Get("Content-Length")
	if cl == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64)
	if err != nil || n < 0 {
		return 0, errUnchecked
	}
	return n, nil
}

// skipBody reads past a request body as RFC 9112 section 6.3 frames it.
func skipBody(br *bufio.Reader, hdr textproto.MIMEHeader) error {
	if te := hdr["Transfer-Encoding"]; len(te) > 0 {
		if !strings.EqualFold(strings.TrimSpace(te[len(te)-1]), "chunked") {
			return errUnchecked // net/http answers 501 and closes
		}
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
			return err
		}
		_, err := textproto.NewReader(br).ReadMIMEHeader() // trailer section
		return err
	}
	n, err := contentLength(hdr)
	if err != nil {
		return err
	}
	for n > 0 { // Discard takes an int
		k := int(min(n, 1<<30))
		if _, err := br.Discard(k); err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}
