// Package http is microstack's HTTP/1.1 server and client as actors, the
// counterparts of MicroStack's ILibWebServer and ILibWebClient; WebSockets
// are in the sub-package websocket. Messages are in messages/httpmsg.
//
// The package is named http, like its folder, because that is what it
// provides and Go names a package after the last element of its import path
// (tcp, udp, store beside it); inside, and in callers that need both, the
// standard library is imported as nethttp, so that every reference says which
// of the two it means. A caller that uses only this package writes http.Props.
//
// # Server
//
// The server actor (Props, ChildSpec) listens on its Endpoints, plain or TLS,
// through a transports.Network (the operating system's, or the simulated
// one) and serves them with net/http's own server over transports/netconn:
// parsing, keep-alive, pipelined requests answered in order, chunked bodies
// both ways, Expect: 100-continue, header and body limits and the read,
// write and idle timeouts are net/http's, configured with bounded defaults.
// A Route maps a ServeMux pattern to one of
//
//   - a handler actor, which receives an *httpmsg.Request (body read whole,
//     up to the limit) and answers with an *httpmsg.Response, or streams
//     one: StreamResponse, WriteBody (each a flushed chunk, acknowledged and
//     refused past a high-water mark until messages.ResumeWriting, as
//     package messages describes), EndResponse. A handler that does not
//     answer within HandlerTimeout yields 504; one that is gone yields 503,
//     as does a server with MaxInFlight requests already waiting on actors.
//     A handler actor spawned with dispatch.HereProps (runtime/dispatch) is
//     run by net/http's goroutine for the connection whenever it is idle,
//     with no hand-off to another thread and back, also under a supervisor
//     and after it restarts the actor. Such a handler should answer without
//     blocking, as on the event-loop engine: HandlerTimeout counts from the
//     end of its run, and while it runs its other messages wait;
//   - a plain nethttp.Handler, mounted as under nethttp.Server;
//   - a folder of static files, served through an os.Root;
//   - a WebSocket upgrade, each socket an actor.
//
// Middleware wraps routes, chosen by pattern.
//
// Each connection is a session actor (kind "http.session") under the server,
// with counters of requests and bytes; httpmsg.SessionOpened and
// SessionClosed go to Options.Events, and httpmsg.CloseSession closes it.
//
// # Request framing
//
// net/http accepts a request with both Content-Length and Transfer-Encoding:
// chunked (it drops Content-Length) and keeps the connection, which RFC 9112
// section 6.1 forbids, since that disagreement is how requests are smuggled
// past a proxy. The server checks framing itself: each connection's bytes
// are also fed, as net/http reads them, to a check that finds each request's
// header block, parses it with net/textproto and skips its body with
// net/http/httputil's chunked reader or by its Content-Length, so it follows
// request boundaries the way net/http does. Before a request reaches its
// route, the handler asks the check for that request's verdict; a request
// with both framing headers, a repeated Content-Length, or a bare LF ending
// a header line gets 400 and its connection is closed. The cost is small:
// the check runs in the connection's reads, parsing a head (with
// net/textproto, and only when it names a framing field) once its blank
// line has come, and counting a Content-Length body off; from a chunked
// body on (the chunked reader only pulls) it runs on a goroutine of its
// own, fed a copy of the bytes. Options.AllowAmbiguousFraming turns it off.
//
// # Event-loop engine
//
// Options.Engine = EngineEventLoop serves the actor routes without net/http's
// server: each connection is a transports.StreamHandler whose OnData feeds
// the bytes, as they arrive, to the HTTP/1.1 parser of
// github.com/lesismal/nbio (package nbhttp; a well-kept parser, fed here
// without nbio's own event loops), which builds each request. A request's
// head is scanned first for what that parser lets through (whitespace in a
// field name or before its colon: 400, as RFC 9112 asks) and fed up to its
// blank line; a body is fed in pieces that end where it does, so the next
// head is scanned too. The request is
// routed by a net/http ServeMux (the same patterns, 404, 405 and redirects,
// Middleware run before the actor is asked) and sent to the route's actor as
// an *httpmsg.Request, with the connection's reply process (a protoactor
// Process, not an actor) as sender and ReplyTo; the answer is written to the
// stream from the handler's own goroutine, with no mailbox hop back. A route
// actor spawned with dispatch.HereProps (runtime/dispatch) is run by the
// connection's goroutine itself, an event loop, whenever it is idle, as a
// TCP connection's actor is: no thread hand-off per request either way,
// for handlers that never block (one that waits holds up the loop); also
// under a supervisor, and again after it restarts the actor. With
// transports/evloop as Network no goroutine belongs to a connection or a
// request: the event loops read, the handler's goroutine writes, and one
// sweeper goroutine per server applies the timeouts (within a quarter of the
// shortest one). Response buffers come from a pool and go back when the
// stream reports them written. It works on any transports.Network: the
// operating system's, the simulated one, TLS endpoints.
//
// It keeps connections alive (HTTP/1.0 ones when asked), answers pipelined
// requests in order (handing them to actors one at a time, as net/http
// does), reads Content-Length and chunked bodies (with trailers) up to the
// body limits, bounds the header block (431), answers Expect: 100-continue,
// and refuses with 400 and a close a request with both Content-Length and
// Transfer-Encoding, a repeated Content-Length or Host, a missing Host, bare
// LF line ends, obs-fold, invalid field names or values, and an invalid
// target or version (505 for a version other than 1.x). A handler that does
// not answer within HandlerTimeout yields 504 (its late answer is dropped),
// a stopped one 503, as does a server with MaxInFlight requests at actors;
// streamed responses (StreamResponse, WriteBody with acknowledgements and
// the high-water mark, EndResponse) work as under net/http.
//
// What it does not do yet: it serves only Actor routes (a server with a
// Handler, Dir or WebSocket route fails to start with ErrUnsupportedRoute);
// there are no session actors, so Request.Session is nil, no
// SessionOpened or SessionClosed is sent and CloseSession has no target
// (sessions are counted in the server's inspect entry); a trailer field is
// read only when the request's Trailer header declares it; it knows only
// the standard methods (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE, CONNECT) and
// origin-form targets ("/path?query", or "*"): another method, or a
// proxy's absolute-form target, gets 400; middleware runs before the
// actor is asked, so what it does after next returns does not reach the
// response (header fields it sets before calling next do);
// AllowAmbiguousFraming has no effect (framing is always checked).
//
// # Client
//
// The client actor (ClientProps, ClientChildSpec) speaks to one origin with
// net/http's Transport over the same netconn adapter: *httpmsg.Request
// commands are answered with *httpmsg.Response or messages.CommandFailed.
// Connections are kept alive and reused, at most MaxConns at once; requests
// with Pipeline set are sent one after another on one connection in the
// order received (MicroStack's ILibWebClient_PipelineRequest). Redirects are
// followed up to a bound, TLS peers are verified (and may be pinned with
// transports/certs), an HTTP proxy may be named, and a response body may be
// streamed as BodyChunk events paced by ReadBody credits.
//
// # Goroutines
//
// net/http's goroutines talk to the actors only by messages; Receive never
// blocks on the network, except when the server stops: it then drains
// (nethttp.Server.Shutdown within ShutdownTimeout, then Close) and returns
// once net/http's goroutines have ended.
package http
