// Package httpmsg holds the messages of microstack's HTTP server and client
// actors (package actors/http), the counterparts of MicroStack's
// ILibWebServer and ILibWebClient.
//
// As in net/http, one Request type and one Response type serve both sides.
// On the server, a handler actor receives a Request for each HTTP request
// routed to it and answers with a Response, or with StreamResponse followed
// by WriteBody commands and EndResponse for a chunked, flushed reply. On the
// client, a Request is a command sent to the client actor of an origin; it is
// answered with a Response (or messages.CommandFailed), and a streamed
// response's body follows as BodyChunk events paced by ReadBody credits.
//
// Byte slices follow the ownership rule of package messages: a Request's or
// Response's Body, and a WriteBody's or BodyChunk's Data, belong to the
// receiver once sent. Headers are net/http's Header maps and are owned the
// same way.
package httpmsg

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Errors a caller can test for with errors.Is on messages.CommandFailed.Err
// or on a BodyEnd's Err.
var (
	// ErrBodyTooLarge reports a body longer than the configured limit: a
	// request body on the server (answered 413), a response body the client
	// was asked to read whole.
	ErrBodyTooLarge = errors.New("http: body too large")
	// ErrTooManyRedirects reports a client request that was redirected more
	// often than the client's limit allows.
	ErrTooManyRedirects = errors.New("http: too many redirects")
	// ErrQueueFull reports a client request refused because the client's
	// queue of waiting requests is full.
	ErrQueueFull = errors.New("http: request queue full")
	// ErrNoResponse reports a server exchange that already has its response
	// (a second Response, a StreamResponse after a Response) or none to
	// continue (WriteBody or EndResponse before StreamResponse).
	ErrNoResponse = errors.New("http: no response in progress")
	// ErrUnknownStream reports a ReadBody for a stream the client does not
	// know (ended or never started).
	ErrUnknownStream = errors.New("http: unknown stream")
)

// Request is an HTTP request.
//
// On the server it is an event: the server sends it to the handler actor of
// the matched route, with the request's exchange as sender, so the handler
// answers with ctx.Respond (or sends to ReplyTo later). The body has been
// read whole, up to the server's limit.
//
// On the client it is a command sent to a client actor: Method, Target,
// Header and Body say what to send, and the Client fields how.
type Request struct {
	// Method is the HTTP method; empty means GET on the client.
	Method string
	// Target is the request target: on the server the request URI as
	// received ("/path?query"); on the client a path and query relative to
	// the client's origin, or an absolute URL.
	Target string
	// Header holds the request's header fields.
	Header http.Header
	// Body is the request body, nil when empty.
	Body []byte

	// Server fields, set by the server.

	// ID numbers the requests of one server, from 1.
	ID uint64
	// Proto is the protocol version, "HTTP/1.1" or "HTTP/1.0".
	Proto string
	// Host is the Host header (or the authority of an absolute target).
	Host string
	// Path is the target's path, unescaped.
	Path string
	// Pattern is the route pattern that matched ("GET /items/{id}").
	Pattern string
	// PathValues are the wildcards of Pattern and their values.
	PathValues map[string]string
	// Trailer holds the trailer fields of a chunked request body.
	Trailer http.Header
	// Remote is the client's address; Local the server's.
	Remote, Local netip.AddrPort
	// TLS is the connection's TLS state, nil on a plain connection.
	TLS *tls.ConnectionState
	// Session is the actor of the client's connection (see SessionOpened).
	Session *actor.PID
	// ReplyTo is the request's exchange: the actor that takes the
	// Response, StreamResponse, WriteBody and EndResponse of this request.
	// It is also the Request's sender.
	ReplyTo *actor.PID

	// Client fields, read by the client.

	// Timeout bounds the whole exchange, redirects and body included;
	// zero takes the client's default.
	Timeout time.Duration
	// Stream asks for the response body as BodyChunk events instead of in
	// Response.Body: the Response then has Stream set and no body.
	Stream bool
	// Credits is how many BodyChunk events a streamed response may deliver
	// before the requester grants more with ReadBody. Zero takes the
	// client's default.
	Credits int
	// Pipeline queues the request behind the client's other pipelined
	// requests on one kept-alive connection: they are sent one after the
	// other, in the order received, each after the previous response has
	// ended (MicroStack's ILibWebClient_PipelineRequest).
	Pipeline bool
	// Tag is echoed in the Response, BodyChunk and BodyEnd events, for the
	// requester to tell its requests apart.
	Tag any
}

// Response is an HTTP response.
//
// On the server it is a handler's complete answer to a Request. On the
// client it answers a Request command.
type Response struct {
	// Status is the status code; zero means 200 on the server.
	Status int
	// Header holds the response's header fields.
	Header http.Header
	// Body is the response body, nil when empty (or when Stream is set).
	Body []byte

	// Client fields, set by the client.

	// Proto is the protocol version of the response.
	Proto string
	// Trailer holds the trailer fields of a chunked response read whole.
	Trailer http.Header
	// URL is the URL that answered, after redirects.
	URL string
	// Stream is set when the request asked for a streamed body: BodyChunk
	// events with StreamID follow, then BodyEnd.
	Stream bool
	// StreamID names the streamed body in BodyChunk, BodyEnd and ReadBody.
	StreamID uint64
	// Tag is the request's Tag.
	Tag any
}

// StreamResponse starts a streamed response to a server Request: the status
// and header are sent at once and the body follows as WriteBody commands,
// each sent as one chunk and flushed, until EndResponse. Content-Length is
// not sent (the body is chunked for HTTP/1.1 clients, and ends with the
// connection for HTTP/1.0 ones).
type StreamResponse struct {
	// Status is the status code; zero means 200.
	Status int
	// Header holds the response's header fields.
	Header http.Header
}

// WriteBody sends Data as the next part of a streamed response and flushes
// it. When Ack is not nil, messages.WriteAck{Ack} follows once the bytes are
// written to the connection. A write that would push the bytes queued and not
// yet written past the server's high-water mark is answered with
// messages.WriteRefused, and so is every later WriteBody of the response,
// until the writer sends messages.ResumeWriting to the exchange (ReplyTo);
// that is answered with messages.WritingResumed once the queue has drained
// to the low-water mark (at once if it has), and the writer then resends the
// refused writes in order. WritingResumed is never sent unasked. WriteAck,
// WriteRefused and WritingResumed go to the command's sender, or to the
// route's handler when it has none.
type WriteBody struct {
	Data []byte
	Ack  any
}

// EndResponse ends a streamed response, with optional trailer fields
// (declare them in StreamResponse's Header "Trailer" field).
type EndResponse struct {
	Trailer http.Header
}

// BodyChunk carries the next part of a streamed client response body.
type BodyChunk struct {
	StreamID uint64
	Data     []byte
	Tag      any
}

// BodyEnd is the last event of a streamed client response body. Err is nil
// when the body was read to its end; otherwise it says why the stream ended
// (a timeout, a reset connection, an ErrBodyTooLarge).
type BodyEnd struct {
	StreamID uint64
	Trailer  http.Header
	Err      error
	Tag      any
}

// ReadBody grants a streamed client response more BodyChunk events. It is
// answered with messages.CommandFailed (ErrUnknownStream) only when the
// stream is unknown.
type ReadBody struct {
	StreamID uint64
	Credits  int
}

// CancelStream stops reading a streamed client response body; BodyEnd
// follows with an error matching context.Canceled.
type CancelStream struct {
	StreamID uint64
}

// Endpoint is an address a server listens on.
type Endpoint struct {
	// Addr is the bound address, with the actual port.
	Addr netip.AddrPort
	// TLS is set when the endpoint speaks HTTPS.
	TLS bool
}

// GetBound asks a server where it listens; it answers with Bound.
type GetBound struct{}

// Bound tells where a server listens. It answers GetBound, and is sent to the
// server's event handler once the server listens.
type Bound struct {
	Endpoints []Endpoint
}

// SessionOpened tells a server's event handler that a client connected
// (MicroStack's OnSession). Session is the connection's actor: it appears in
// the actor tree with its counters and closes on CloseSession.
type SessionOpened struct {
	Session       *actor.PID
	Remote, Local netip.AddrPort
	TLS           bool
}

// SessionClosed tells a server's event handler that a client connection
// ended, and how many requests it carried.
type SessionClosed struct {
	Session  *actor.PID
	Remote   netip.AddrPort
	Requests int64
}

// CloseSession closes a server session's connection at once: a request in
// progress is abandoned. SessionClosed follows to the event handler, and the
// session actor stops.
type CloseSession struct{}
