package http

import (
	"fmt"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
)

// session is one client connection, MicroStack's ILibWebServer_Session: it
// shows the connection in the actor tree with its counters (requests,
// bytes_in, bytes_out, rejected), closes it on CloseSession, and after a
// WebSocket upgrade is the parent of the socket's actor.
type session struct {
	conn     *conn
	events   *actor.PID
	remote   netip.AddrPort
	hijacked bool
	socket   *actor.PID
}

// Receive is the table of contents of a session.
func (s *session) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.started(ctx)
	case *actor.Stopping:
		s.stopping(ctx)
	case *actor.Stopped, *actor.Restarting, *actor.ReceiveTimeout:
	case *httpmsg.CloseSession:
		ctx.Stop(ctx.Self())
	case *connEnded:
		if !s.hijacked {
			ctx.Stop(ctx.Self())
		}
	case *connHijacked:
		s.hijacked = true
	case *upgrade:
		s.upgrade(ctx, m)
	case *actor.Terminated:
		if s.socket != nil && m.Who.Equal(s.socket) {
			ctx.Stop(ctx.Self())
		}
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("http: session: %T: %w", m, messages.ErrUnknownCommand)})
		}
	}
}

func (s *session) started(ctx actor.Context) {
	s.remote = s.conn.Stream().RemoteAddr()
	if s.events != nil {
		ctx.Send(s.events, &httpmsg.SessionOpened{
			Session: ctx.Self(),
			Remote:  s.remote,
			Local:   s.conn.Stream().LocalAddr(),
			TLS:     s.conn.tls,
		})
	}
}

func (s *session) stopping(ctx actor.Context) {
	if !s.hijacked {
		_ = s.conn.Close()
	}
	if s.events != nil {
		ctx.Send(s.events, &httpmsg.SessionClosed{
			Session:  ctx.Self(),
			Remote:   s.remote,
			Requests: inspect.Of(ctx).Counter("requests"),
		})
	}
}

func (s *session) upgrade(ctx actor.Context, m *upgrade) {
	props := m.socket.Props()
	if props == nil || s.socket != nil {
		ctx.Respond(errSessionGone)
		return
	}
	pid, err := inspect.Spawn(ctx, props, "ws", websocket.Kind, nil)
	if err != nil {
		ctx.Respond(err)
		return
	}
	s.socket = pid
	ctx.Respond(pid)
}
