package http

import (
	"bytes"
	nethttp "net/http"
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/net/http/httpguts"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
)

// routeWriter is the ResponseWriter the engine's ServeMux writes to: a
// route's handler records itself (route, req); ServeMux's own answers (404,
// 405, redirects) and middleware's are kept in status, header and body.
type routeWriter struct {
	route  *evRoute
	req    *nethttp.Request
	header nethttp.Header
	status int
	body   []byte
}

func (w *routeWriter) Header() nethttp.Header {
	if w.header == nil {
		w.header = nethttp.Header{}
	}
	return w.header
}

func (w *routeWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *routeWriter) Write(b []byte) (int, error) {
	w.WriteHeader(nethttp.StatusOK)
	w.body = append(w.body, b...)
	return len(b), nil
}

// findRouteWriter finds the routeWriter under middleware's wrappers, which
// unwrap as nethttp.ResponseController expects.
func findRouteWriter(w nethttp.ResponseWriter) *routeWriter {
	for {
		switch x := w.(type) {
		case *routeWriter:
			return x
		case interface{ Unwrap() nethttp.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

var (
	crlf          = []byte("\r\n")
	lastChunk     = []byte("0\r\n\r\n")
	newlineSpaces = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")
)

// inlineBody is the largest body copied into the header's buffer; a larger
// one is written from the handler's own slice, which the message gave us.
const inlineBody = 8 << 10

func getOut() *[]byte { return outPool.Get().(*[]byte) }

func putOut(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		outPool.Put(b)
	}
}

// write hands b to the stream; a pooled buffer returns to the pool once
// the stream is done with it: at once when a DirectWriter took it all,
// else when OnWritten covers it.
func (c *evConn) write(b []byte, pooled *[]byte) {
	if len(b) == 0 || c.ended {
		if pooled != nil {
			putOut(pooled)
		}
		return
	}
	took := 0
	var err error
	switch {
	case c.queuer != nil && !c.inLoop:
		// An answer from the handler actor, which may answer every
		// connection: the connection's loop makes the system call. (A
		// HereProps handler run in place answers on the loop itself,
		// within OnData: inLoop, written directly below.)
		err = c.queuer.QueueWrite(b)
	case c.direct != nil:
		took, err = c.direct.WriteDirect(b)
	default:
		err = c.s.Write(b)
	}
	if err != nil {
		if pooled != nil {
			putOut(pooled)
		}
		return
	}
	if c.queued == c.written {
		c.waitingSince = c.now
	}
	c.queued += int64(len(b))
	c.written += int64(took) // OnWritten reports only the rest
	if pooled != nil {
		if took == len(b) {
			putOut(pooled)
		} else {
			c.outs = append(c.outs, evOut{end: c.queued, b: pooled})
		}
	}
}

// appendHead appends the status line and the header fields of h and extra
// but those that frame the message, which the engine writes itself.
func appendHead(b []byte, status int, h, extra nethttp.Header) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := nethttp.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	b = append(b, crlf...)
	b = appendFields(b, extra, h)
	return appendFields(b, h, nil)
}

// appendFields appends h's fields, skipping the framing fields and those
// also in shadow (which wins); a field name that is not a token is dropped
// and line breaks in values become spaces, as net/http does.
func appendFields(b []byte, h, shadow nethttp.Header) []byte {
	for k, vs := range h {
		switch k {
		case "Content-Length", "Transfer-Encoding", "Connection":
			continue
		}
		if _, ok := shadow[k]; ok || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				v = newlineSpaces.Replace(v)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, crlf...)
		}
	}
	return b
}

// closes reports whether a handler's header asks to close the connection.
func closes(h nethttp.Header) bool {
	return h != nil && httpguts.HeaderValuesContainsToken(h["Connection"], "close")
}

// appendConnection ends the head with the connection's fate: closed after
// a last request, kept alive (said explicitly to an HTTP/1.0 client).
func (c *evConn) appendConnection(b []byte, r *evRequest, h nethttp.Header) []byte {
	if !r.keepAlive || c.draining || closes(h) {
		c.stop, c.last = true, true
		return append(b, "Connection: close\r\n"...)
	}
	if r.minor == 0 {
		return append(b, "Connection: keep-alive\r\n"...)
	}
	return b
}

// writeFull writes a whole response to r.
func (c *evConn) writeFull(r *evRequest, status int, h nethttp.Header, body []byte, extra nethttp.Header) {
	status = statusOrOK(status)
	now := c.now
	bp := getOut()
	b := appendHead((*bp)[:0], status, h, extra)
	bodyAllowed := status >= 200 && status != nethttp.StatusNoContent && status != nethttp.StatusNotModified
	if bodyAllowed {
		if len(body) > 0 && h.Get("Content-Type") == "" && extra.Get("Content-Type") == "" {
			b = append(b, "Content-Type: "...)
			b = append(b, c.sniff(body)...)
			b = append(b, crlf...)
		}
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, crlf...)
	}
	b = append(b, c.ev.dateHeader(now)...)
	b = c.appendConnection(b, r, h)
	b = append(b, crlf...)
	send := bodyAllowed && !r.head && len(body) > 0
	if send && len(body) <= inlineBody {
		b = append(b, body...)
		send = false
	}
	*bp = b
	c.write(b, bp)
	if send {
		c.write(body, nil)
	}
	c.active = now
}

// sniffLen is how much of a body nethttp.DetectContentType reads.
const sniffLen = 512

// sniff is nethttp.DetectContentType(body), remembered with the first
// bytes it depends on: a connection's responses are often alike (a
// keep-alive client asking for the same resource again), and sniffing one
// takes ~0.35 µs, 4% of the CPU of a hello-world request on this engine.
// Called with mu held.
func (c *evConn) sniff(body []byte) string {
	p := body[:min(len(body), sniffLen)]
	if c.sniffType != "" && bytes.Equal(p, c.sniffed) {
		return c.sniffType
	}
	c.sniffType = nethttp.DetectContentType(p)
	c.sniffed = append(c.sniffed[:0], p...)
	return c.sniffType
}

// writeError writes the engine's own answer, net/http's way: plain text,
// not sniffed.
func (c *evConn) writeError(r *evRequest, status int, reason string) {
	if r.status != 0 || status == nethttp.StatusBadRequest || status == nethttp.StatusRequestHeaderFieldsTooLarge {
		r.keepAlive = false // framing is lost: nothing after it can be trusted
	}
	text := strconv.Itoa(status) + " " + nethttp.StatusText(status)
	if reason != "" {
		text += ": " + reason
	}
	h := nethttp.Header{
		"Content-Type":           {"text/plain; charset=utf-8"},
		"X-Content-Type-Options": {"nosniff"},
	}
	c.writeFull(r, status, h, []byte(text+"\n"), nil)
}

// streamHead starts a streamed response: chunked to an HTTP/1.1 client,
// delimited by the connection's close to an HTTP/1.0 one.
func (c *evConn) streamHead(m *httpmsg.StreamResponse) {
	r := c.req
	status := statusOrOK(m.Status)
	bp := getOut()
	b := appendHead((*bp)[:0], status, m.Header, c.extra)
	b = append(b, c.ev.dateHeader(c.now)...)
	if r.minor == 0 {
		r.keepAlive = false
	} else if !r.head {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	b = c.appendConnection(b, r, m.Header)
	b = append(b, crlf...)
	*bp = b
	c.write(b, bp)
	c.streaming = true
	c.deadline = c.now.Add(c.ev.sh.opts.HandlerTimeout)
}

// streamBody writes one part of a streamed body as a chunk, unless the
// unwritten bytes would pass HighWater: then it, and every later part until
// ResumeWriting, is refused, so that none overtakes a refused one.
func (c *evConn) streamBody(m *httpmsg.WriteBody, to *actor.PID) {
	unwritten := c.queued - c.written
	if c.suspended || (unwritten > 0 && unwritten+int64(len(m.Data)) > int64(c.ev.sh.opts.HighWater)) {
		c.suspended = true
		if to != nil {
			c.send(to, &messages.WriteRefused{Cmd: m, Buffered: int(unwritten)})
		}
		return
	}
	c.deadline = c.now.Add(c.ev.sh.opts.HandlerTimeout)
	if len(m.Data) > 0 && !c.req.head {
		if c.req.minor == 0 {
			c.write(m.Data, nil)
		} else {
			bp := getOut()
			b := strconv.AppendInt((*bp)[:0], int64(len(m.Data)), 16)
			b = append(b, crlf...)
			*bp = b
			c.write(b, bp)
			c.write(m.Data, nil)
			c.write(crlf, nil)
		}
	}
	if m.Ack != nil && to != nil {
		if c.queued == c.written {
			c.send(to, &messages.WriteAck{Ack: m.Ack})
		} else {
			c.acks = append(c.acks, evAck{end: c.queued, ack: m.Ack, to: to})
		}
	}
}

// streamEnd ends a streamed response, with its trailer.
func (c *evConn) streamEnd(m *httpmsg.EndResponse) {
	r := c.req
	if r.minor == 1 && !r.head {
		if len(m.Trailer) == 0 {
			c.write(lastChunk, nil)
		} else {
			bp := getOut()
			b := append((*bp)[:0], "0\r\n"...)
			b = appendFields(b, m.Trailer, nil)
			b = append(b, crlf...)
			*bp = b
			c.write(b, bp)
		}
	}
	c.done()
}

func statusOrOK(code int) int {
	if code < 100 || code > 999 {
		return nethttp.StatusOK
	}
	return code
}
