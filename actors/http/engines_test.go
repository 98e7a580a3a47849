package http_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// answerAtOnce is a process that handles a message on the sender's
// goroutine (as the servers' own reply processes do): on a WriteAck it
// ends the response at once, from inside the ack's delivery.
type answerAtOnce struct {
	system  *actor.ActorSystem
	replyTo *actor.PID
}

func (p answerAtOnce) SendUserMessage(_ *actor.PID, message any) {
	if _, msg, _ := actor.UnwrapEnvelope(message); msg != nil {
		message = msg
	}
	if _, ok := message.(*messages.WriteAck); ok {
		p.system.Root.Send(p.replyTo, &httpmsg.EndResponse{})
	}
}

func (answerAtOnce) SendSystemMessage(*actor.PID, any) {}
func (answerAtOnce) Stop(*actor.PID)                   {}

// A streamed part's acknowledgement goes to a sender that answers
// synchronously, back into the response: the server must not hold its
// lock while it sends, or that answer deadlocks against it (the response
// would never end).
func TestAckToASynchronousSenderThatAnswersAtOnce(t *testing.T) {
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		ackToSynchronousSender(t, engine)
	})
}

func ackToSynchronousSender(t *testing.T, engine httpactor.Engine) {
	system, _ := newSystem(t)
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Send(m.ReplyTo, &httpmsg.StreamResponse{})
			sync, _ := system.ProcessRegistry.Add(answerAtOnce{system, m.ReplyTo}, "sync"+system.ProcessRegistry.NextId())
			system.Root.RequestWithCustomSender(m.ReplyTo, &httpmsg.WriteBody{Data: []byte("part"), Ack: 1}, sync)
		}
	}))
	conn := serveOne(t, system, engine, handler)
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_, bodies, err := readResponses(bufio.NewReader(conn), 1)
	if err != nil {
		t.Fatalf("the streamed response did not end: %v", err)
	}
	if bodies[0] != "part" {
		t.Fatalf("body %q", bodies[0])
	}
}

// Host comes in Request.Host, not among the header fields, on both engines
// (as net/http has it); the other fields are there.
func TestHostIsNotAHeaderField(t *testing.T) {
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		system, _ := newSystem(t)
		got := make(chan *httpmsg.Request, 1)
		handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*httpmsg.Request); ok {
				got <- m
				ctx.Respond(&httpmsg.Response{})
			}
		}))
		conn := serveOne(t, system, engine, handler)
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: host.example\r\nX-A: a\r\n\r\n")
		if _, _, err := readResponses(bufio.NewReader(conn), 1); err != nil {
			t.Fatal(err)
		}
		m := <-got
		if m.Host != "host.example" || m.Header.Get("Host") != "" || m.Header.Get("X-A") != "a" {
			t.Fatalf("Host %q, header %v", m.Host, m.Header)
		}
	})
}

// serveOne serves handler on "/" with engine (stopping it with the test)
// and returns a connection to the server.
func serveOne(t *testing.T, system *actor.ActorSystem, engine httpactor.Engine, handler *actor.PID) net.Conn {
	t.Helper()
	stopActor(t, system, handler)
	opts := httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: handler}}}
	if engine == httpactor.EngineEventLoop {
		opts = onEventLoop(opts)
	}
	_, addr := startServer(t, system, opts)
	return rawConn(t, addr)
}

// Responses without a Content-Type are sniffed, each its own: one
// keep-alive connection, bodies that share their first bytes, that differ
// only past what the first one had, or only past the 512 bytes sniffing
// reads (the event-loop engine remembers a connection's last sniff).
func TestEachResponseIsSniffedForItself(t *testing.T) {
	pad := strings.Repeat("a", 511)
	bodies := []string{
		"Hello, World!",
		"Hello, World!\x00", // the first body and a NUL: binary
		"Hello, World!",
		"<html>hi",
		pad + "\x00",  // the NUL is the 512th byte
		pad + "a\x00", // the NUL is past what is sniffed
		pad + "\x00",
		"Hello, World!",
	}
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		system, _ := newSystem(t)
		handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*httpmsg.Request); ok {
				i, _ := strconv.Atoi(strings.TrimPrefix(m.Path, "/"))
				ctx.Respond(&httpmsg.Response{Body: []byte(bodies[i])})
			}
		}))
		conn := serveOne(t, system, engine, handler)
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		for i, body := range bodies {
			fmt.Fprintf(conn, "GET /%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
			resps, got, err := readResponses(br, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := nethttp.DetectContentType([]byte(body))
			if ct := resps[0].Header.Get("Content-Type"); ct != want || got[0] != body {
				t.Fatalf("response %d: Content-Type %q, want %q (body %d bytes, %d sent)", i, ct, want, len(got[0]), len(body))
			}
		}
	})
}

// A whole Response is sent with its Content-Length, not chunked, whatever
// its size: on either side of what net/http buffers before it must choose
// (2 KiB), empty, and for HEAD.
func TestWholeResponsesDeclareTheirLength(t *testing.T) {
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		system, _ := newSystem(t)
		handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*httpmsg.Request); ok {
				n, _ := strconv.Atoi(strings.TrimPrefix(m.Path, "/"))
				ctx.Respond(&httpmsg.Response{Body: []byte(strings.Repeat("a", n))})
			}
		}))
		conn := serveOne(t, system, engine, handler)
		br := bufio.NewReader(conn)
		for _, n := range []int{0, 13, 2047, 2048, 2049, 70000} {
			for _, method := range []string{"GET", "HEAD"} {
				fmt.Fprintf(conn, "%s /%d HTTP/1.1\r\nHost: x\r\n\r\n", method, n)
				resp, err := nethttp.ReadResponse(br, &nethttp.Request{Method: method})
				if err != nil {
					t.Fatalf("%s %d: %v", method, n, err)
				}
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s %d: body: %v", method, n, err)
				}
				want := n
				if method == "HEAD" {
					want = 0
				}
				if resp.ContentLength != int64(n) || len(resp.TransferEncoding) > 0 || len(body) != want {
					t.Fatalf("%s %d bytes: Content-Length %d, Transfer-Encoding %v, %d bytes read", method, n, resp.ContentLength, resp.TransferEncoding, len(body))
				}
			}
		}
	})
}

// An answer that names a request that is over, a second answer or one
// that comes after the request's 504, never answers the next request on
// the connection, whatever the server reuses between requests: it is
// refused, and the next request gets its own answer. (The handler uses the
// first request's ReplyTo before the 504, so that the PID holds on to the
// process it named: a PID never used goes to dead letters.)
func TestAnAnswerToARequestThatIsOverNeverAnswersTheNextOne(t *testing.T) {
	type unknown struct{}
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		system, _ := newSystem(t)
		probe := testkit.NewProbe(t, system)
		var first *actor.PID // the ReplyTo of the request that is over
		handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			switch m := ctx.Message().(type) {
			case *httpmsg.Request:
				switch m.Path {
				case "/answered":
					first = m.ReplyTo
					ctx.Respond(&httpmsg.Response{Body: []byte("answered")})
				case "/unanswered":
					first = m.ReplyTo
					ctx.Request(first, &unknown{}) // refused, not an answer
				default:
					ctx.Request(first, &httpmsg.Response{Body: []byte("again")})
					ctx.Respond(&httpmsg.Response{Body: []byte("next")})
				}
			case *messages.CommandFailed:
				if _, ok := m.Cmd.(*httpmsg.Response); ok {
					ctx.Send(probe.PID, m)
				}
			}
		}))
		stopActor(t, system, handler)
		opts := httpactor.Options{HandlerTimeout: 100 * time.Millisecond, Routes: []httpactor.Route{{Pattern: "/", Actor: handler}}}
		if engine == httpactor.EngineEventLoop {
			opts = onEventLoop(opts)
		}
		_, addr := startServer(t, system, opts)
		conn := rawConn(t, addr)
		br := bufio.NewReader(conn)
		for range 3 {
			for _, over := range []struct {
				path   string
				status int
			}{{"/answered", 200}, {"/unanswered", 504}} {
				fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", over.path)
				if resps, _, err := readResponses(br, 1); err != nil || resps[0].StatusCode != over.status {
					t.Fatalf("%s: %v %v", over.path, resps, err)
				}
				io.WriteString(conn, "GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
				if _, bodies, err := readResponses(br, 1); err != nil || bodies[0] != "next" {
					t.Fatalf("the request after an answer to %s got %q (%v)", over.path, bodies, err)
				}
				if cf := testkit.Expect[*messages.CommandFailed](probe, 5*time.Second); !errors.Is(cf.Err, httpmsg.ErrNoResponse) {
					t.Fatalf("an answer to %s: %v", over.path, cf.Err)
				}
			}
		}
	})
}

// registered counts the processes of system whose name starts with prefix.
func registered(system *actor.ActorSystem, prefix string) int {
	n := 0
	for _, bucket := range system.ProcessRegistry.LocalPIDs.LocalPIDs {
		for _, id := range bucket.Keys() {
			if strings.HasPrefix(id, prefix) {
				n++
			}
		}
	}
	return n
}

// The net/http engine registers one process per connection for the
// answers of its actor requests, not one per request, and removes it when
// the connection closes.
func TestNetHTTPEngineRegistersOneReplyProcessPerConnection(t *testing.T) {
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{Routes: []httpactor.Route{{Pattern: "/", Actor: echo}}})
	const conns, requests = 5, 3
	var open []net.Conn
	for i := range conns {
		conn := rawConn(t, addr)
		open = append(open, conn)
		br := bufio.NewReader(conn)
		for k := range requests {
			fmt.Fprintf(conn, "GET /%d/%d HTTP/1.1\r\nHost: x\r\n\r\n", i, k)
			if _, bodies, err := readResponses(br, 1); err != nil || bodies[0] != fmt.Sprintf("GET /%d/%d ", i, k) {
				t.Fatalf("connection %d, request %d: %q %v", i, k, bodies, err)
			}
		}
	}
	if n := registered(system, "http-exchange"); n != conns {
		t.Fatalf("%d reply processes registered for %d connections of %d requests each", n, conns, requests)
	}
	for _, c := range open {
		c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for registered(system, "http-exchange") > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d reply processes left after every connection closed", registered(system, "http-exchange"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
