package udp

import (
	"fmt"
	"net/netip"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/udpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports"
)

// EchoProps returns the props of a UDP echo service on local: an actor that
// runs a socket actor as its child (named "socket") and sends every
// datagram back to where it came from. A nil network is the operating
// system's. It answers udpmsg.GetLocalAddress with the bound address.
func EchoProps(local netip.AddrPort, network transports.Network) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &echo{local: local, network: network} })
}

// EchoSpec returns a permanent supervisor child spec that runs a UDP echo
// service named name on local (see EchoProps): the smallest service to
// show the socket actor in a demo.
func EchoSpec(name string, local netip.AddrPort, network transports.Network) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    EchoKind,
		Props:   func() *actor.Props { return EchoProps(local, network) },
		Restart: supervisor.Permanent,
	}
}

type echo struct {
	local   netip.AddrPort
	network transports.Network
	sock    *actor.PID
}

// Receive is the table of contents of the echo service.
func (e *echo) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		e.start(ctx)
	case *actor.Stopping, *actor.Stopped, *actor.Restarting:
	case *udpmsg.Bound:
	case *udpmsg.Datagram:
		ctx.Send(e.sock, &udpmsg.SendTo{To: m.From, Data: m.Data})
	case *messages.CommandFailed:
		// A reply that could not be sent (the client went away): UDP.
	case *udpmsg.Unbound:
		// The socket failed; its restart binds again.
	case *udpmsg.GetLocalAddress:
		ctx.Forward(e.sock) // the socket answers once it has bound
	default:
		fail(ctx, nil, m, fmt.Errorf("udp echo: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (e *echo) start(ctx actor.Context) {
	pid, err := inspect.Spawn(ctx, Props(Options{
		Network: e.network,
		Bind:    &udpmsg.Bind{Local: e.local, Handler: ctx.Self()},
	}), "socket", Kind, nil)
	if err != nil {
		panic(fmt.Errorf("udp echo: %w", err))
	}
	e.sock = pid
}
