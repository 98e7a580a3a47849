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
// 6.3 frames it (chunked with net/http/httputil's chunked reader, or
// Content-Length bytes). It runs on a goroutine of its own, fed through a
// pipe; the only code here is the choice of framing, no HTTP parser.
type framing struct {
	pr        *io.PipeReader
	pw        *io.PipeWriter
	maxHeader int
	done      chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond
	parsed   int           // requests whose header block was checked
	bad      map[int]error // verdicts that are not nil, by request number
	finished bool
}

// verdictWait bounds how long a handler waits for the check to reach its
// request; the bytes are already read, so only a check that cannot follow
// the framing makes it wait at all.
const verdictWait = 2 * time.Second

func newFraming(maxHeader int) *framing {
	pr, pw := io.Pipe()
	f := &framing{pr: pr, pw: pw, maxHeader: maxHeader, done: make(chan struct{}), bad: make(map[int]error)}
	f.cond = sync.NewCond(&f.mu)
	go f.run()
	return f
}

// feed hands b to the check; it returns once the check has taken it, or at
// once after the check ended.
func (f *framing) feed(b []byte) { _, _ = f.pw.Write(b) }

func (f *framing) stop() {
	_ = f.pw.Close()
	_ = f.pr.Close()
	<-f.done
}

func (f *framing) verdict(k int) error {
	f.mu.Lock()
	if f.parsed >= k { // the common case: the check is ahead
		err := f.bad[k]
		f.mu.Unlock()
		return err
	}
	f.mu.Unlock()
	deadline := time.AfterFunc(verdictWait, func() {
		f.mu.Lock()
		f.finished = true
		f.mu.Unlock()
		f.cond.Broadcast()
	})
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

func (f *framing) run() {
	defer close(f.done)
	defer func() {
		f.mu.Lock()
		f.finished = true
		f.mu.Unlock()
		f.cond.Broadcast()
		_ = f.pr.Close() // later feeds return at once
	}()
	br := bufio.NewReaderSize(f.pr, 4096)
	var hr headReader
	for {
		hdr, verdict, err := hr.read(br, f.maxHeader)
		if err != nil {
			return
		}
		f.mu.Lock()
		f.parsed++
		if verdict != nil {
			f.bad[f.parsed] = verdict
		}
		f.mu.Unlock()
		f.cond.Broadcast()
		if verdict != nil || skipBody(br, hdr) != nil {
			return // net/http closes this connection, or cannot go on either
		}
	}
}

// headReader reads request heads; what it allocates for one (the block,
// the reader textproto parses it from) serves the next.
type headReader struct {
	block []byte
	src   bytes.Reader
	tr    *bufio.Reader
}

// read reads one request's header block and checks its framing fields.
func (h *headReader) read(br *bufio.Reader, maxHeader int) (textproto.MIMEHeader, error, error) {
	block := h.block[:0]
	defer func() {
		if cap(block) <= 8<<10 { // keep a usual head's array, not a huge one
			h.block = block[:0]
		}
	}()
	var verdict error
	first, partial := true, false
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
		}
		if err != nil {
			return nil, nil, err
		}
		block = append(block, line...)
		if len(block) > maxHeader+4096 {
			return nil, nil, errUnchecked // net/http answers 431
		}
		if line[len(line)-1] != '\n' {
			partial = true // the rest of a long line follows
			continue
		}
		if partial {
			partial = false
			if len(block) < 2 || block[len(block)-2] != '\r' {
				verdict = ErrBareLF
			}
			continue
		}
		if first && (string(line) == "\r\n" || string(line) == "\n") {
			block = block[:0] // an empty line before a request is allowed
			continue
		}
		if !first && (line[0] == ' ' || line[0] == '\t') && verdict == nil {
			verdict = ErrObsFold
		}
		first = false
		if len(line) < 2 || line[len(line)-2] != '\r' {
			verdict = ErrBareLF
		}
		if len(line) <= 2 && strings.TrimRight(string(line), "\r\n") == "" {
			break
		}
	}
	// textproto copies what it returns out of the block.
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
	if cl := hdr.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64)
		if err != nil || n < 0 {
			return errUnchecked
		}
		_, err = br.Discard(int(min(n, int64(^uint(0)>>1))))
		return err
	}
	return nil
}
