package stun

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"
	pionstun "github.com/pion/stun/v2"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/stunmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// ServerProps returns the props of a STUN binding server actor configured
// by opts.
func ServerProps(opts ServerOptions) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &server{opts: opts} })
}

// ServerChildSpec returns a supervisor child spec that runs a STUN binding
// server named name: permanent, so a server whose socket fails is
// restarted and binds again.
func ServerChildSpec(name string, opts ServerOptions) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    ServerKind,
		Props:   func() *actor.Props { return ServerProps(opts) },
		Restart: supervisor.Permanent,
	}
}

type server struct {
	opts  ServerOptions
	log   *slog.Logger
	stats *inspect.Entry
	sock  *socket
}

// Receive is the table of contents of the server actor.
func (s *server) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.sock.close()
		s.sock = nil
	case *actor.Stopped:
	case packetIn:
		s.packet(m.p)
	case socketClosed:
		s.socketClosed(m)
	case *stunmsg.GetLocalAddress:
		s.localAddress(ctx, m)
	default:
		if ctx.Sender() != nil {
			ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("stun: %T: %w", m, messages.ErrUnknownCommand)})
		}
	}
}

func (s *server) start(ctx actor.Context) {
	s.log = s.opts.Logger.With("actor", ctx.Self().Id, "kind", ServerKind)
	s.stats = inspect.Of(ctx)
	sock, err := openSocket(ctx, s.opts.Network, s.opts.Local)
	if err != nil {
		panic(err) // the supervisor's restart policy decides
	}
	s.sock = sock
	s.log.Info("stun server listening", "local", sock.local)
}

func (s *server) localAddress(ctx actor.Context, m *stunmsg.GetLocalAddress) {
	if ctx.Sender() == nil {
		return
	}
	if s.sock == nil {
		ctx.Respond(&messages.CommandFailed{Cmd: m, Err: fmt.Errorf("stun: %w", messages.ErrClosed)})
		return
	}
	ctx.Respond(&stunmsg.LocalAddress{Addr: s.sock.local})
}

// packet answers a binding request with the sender's address; other
// requests get 400 Bad Request, and anything else is dropped.
func (s *server) packet(p transports.Packet) {
	m, ok := decode(p, s.stats)
	if !ok {
		return
	}
	if m.Type.Class != pionstun.ClassRequest {
		s.stats.Add("ignored", 1)
		return
	}
	s.stats.Add("requests", 1)
	from := netip.AddrPortFrom(p.From.Addr().Unmap(), p.From.Port())
	setters := []pionstun.Setter{pionstun.NewTransactionIDSetter(m.TransactionID)}
	if m.Type.Method == pionstun.MethodBinding {
		setters = append(setters, pionstun.BindingSuccess,
			&pionstun.XORMappedAddress{IP: net.IP(from.Addr().AsSlice()), Port: int(from.Port())})
	} else {
		setters = append(setters, pionstun.NewType(m.Type.Method, pionstun.ClassErrorResponse),
			pionstun.CodeBadRequest)
	}
	if s.opts.Software != "" {
		setters = append(setters, pionstun.NewSoftware(s.opts.Software))
	}
	setters = append(setters, pionstun.Fingerprint)
	resp, err := pionstun.Build(setters...)
	if err != nil {
		s.stats.Add("errors", 1)
		s.log.Warn("stun: build response", "err", err)
		return
	}
	if err := s.sock.conn.SendTo(resp.Raw, p.From); err != nil {
		s.stats.Add("errors", 1)
		s.log.Debug("stun: send response", "to", p.From, "err", err)
		return
	}
	s.stats.Add("responses", 1)
}

func (s *server) socketClosed(m socketClosed) {
	if s.sock == nil || m.sock != s.sock {
		return
	}
	err := m.err
	if err == nil {
		err = errors.New("socket closed")
	}
	panic(fmt.Errorf("stun: server socket %v: %w", s.sock.local, err))
}
