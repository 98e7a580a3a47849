package remote

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/remote/remotepb"
)

// GatewayName is the name the gateway of every served agent answers to,
// besides its path in the agent's tree, so that a remote caller needs only
// the agent's address.
const GatewayName = "microstack.gateway"

// GatewayKind is the gateway's kind in the agent's tree.
const GatewayKind = "remote.gateway"

// gateway receives the Envelopes of remote callers, decodes and
// authorizes them, forwards them to the actor they name and sends the typed
// answer back as a Reply.
type gateway struct {
	rt        *runtime.Runtime
	opts      *ServeOptions
	log       *slog.Logger
	refused   *atomic.Int64
	startedAt time.Time
	alias     *actor.PID
}

func gatewayProps(rt *runtime.Runtime, opts *ServeOptions, refused *atomic.Int64, log *slog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &gateway{rt: rt, opts: opts, log: log, refused: refused}
	})
}

func (g *gateway) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.started(ctx)
	case *actor.Stopped:
		if g.alias != nil {
			ctx.ActorSystem().ProcessRegistry.Remove(g.alias)
		}
	case *remotepb.Envelope:
		g.deliver(ctx, m)
	}
}

func (g *gateway) started(ctx actor.Context) {
	g.startedAt = time.Now()
	reg := ctx.ActorSystem().ProcessRegistry
	if proc, ok := reg.GetLocal(ctx.Self().Id); ok {
		if pid, absent := reg.Add(proc, GatewayName); absent {
			g.alias = pid
		}
	}
	g.publish(ctx)
}

// publish copies the refused-handshake count to the gateway's entry in the
// tree, where the console and a remote Tree show it.
func (g *gateway) publish(ctx actor.Context) {
	inspect.Of(ctx).Set("refused", g.refused.Load())
}

func (g *gateway) deliver(ctx actor.Context, env *remotepb.Envelope) {
	e := inspect.Of(ctx)
	e.Add("messages", 1)
	g.publish(ctx)
	sender := ctx.Sender()
	answer := func(r *remotepb.Reply) {
		if env.GetReply() && sender != nil {
			ctx.Send(sender, r)
		}
	}
	refuse := func(err error) {
		e.Add("rejected", 1)
		g.log.Info("remote: message refused", "target", env.GetTarget(), "type", env.GetType(), "err", err)
		answer(&remotepb.Reply{Failure: failure(err, false)})
	}
	msg, err := decode(env.GetType(), env.GetPayload())
	if err != nil {
		refuse(err)
		return
	}
	switch m := msg.(type) {
	case *remotemsg.GetTree:
		answer(replyTo(&remotemsg.Tree{Agent: g.opts.AgentID, Actors: g.rt.Tree()}, nil))
		return
	case *remotemsg.GetHealth:
		answer(replyTo(g.health(ctx), nil))
		return
	case *logmsg.Subscribe:
		target := env.GetTarget()
		if target == "" {
			target = "@logging"
		}
		pid, err := g.resolve(ctx, target)
		if err == nil {
			err = g.authorize(pid.Id, m)
		}
		if err != nil {
			refuse(err)
			return
		}
		if sender == nil {
			refuse(fmt.Errorf("%w: a log tail needs a sender", remotemsg.ErrForbidden))
			return
		}
		g.tail(ctx, pid, sender, m)
		return
	}
	pid, err := g.resolve(ctx, env.GetTarget())
	if err == nil {
		err = g.authorize(pid.Id, msg)
	}
	if err != nil {
		refuse(err)
		return
	}
	if !env.GetReply() {
		ctx.Send(pid, msg)
		return
	}
	timeout := time.Duration(env.GetTimeoutMillis()) * time.Millisecond
	if timeout <= 0 || timeout > g.opts.MaxTimeout {
		timeout = g.opts.MaxTimeout
	}
	f := ctx.RequestFuture(pid, msg, timeout)
	ctx.ReenterAfter(f, func(res any, err error) {
		if errors.Is(err, actor.ErrTimeout) {
			err = fmt.Errorf("%s at %s did not answer within %v: %w", env.GetType(), pid.Id, timeout, err)
		}
		answer(replyTo(res, err))
	})
}

// resolve finds the local actor a target names: a path of the tree, a path
// relative to the chain's root, or "@kind" for the first actor of a kind.
func (g *gateway) resolve(ctx actor.Context, target string) (*actor.PID, error) {
	target = trimTarget(target)
	reg := g.rt.Registry()
	addr := ctx.ActorSystem().Address()
	if kind, ok := strings.CutPrefix(target, "@"); ok {
		for _, in := range reg.Snapshot() {
			if in.Kind == kind {
				return actor.NewPID(addr, in.Path), nil
			}
		}
		return nil, fmt.Errorf("%w: no actor of kind %q", remotemsg.ErrNoActor, kind)
	}
	if target != "" && reg.Lookup(target) != nil {
		return actor.NewPID(addr, target), nil
	}
	if root := g.rt.Root(); root != nil && target != "" {
		if p := root.Id + "/" + target; reg.Lookup(p) != nil {
			return actor.NewPID(addr, p), nil
		}
	}
	return nil, fmt.Errorf("%w: %q", remotemsg.ErrNoActor, target)
}

func (g *gateway) authorize(path string, msg any) error {
	if g.opts.Authorize == nil {
		return nil
	}
	if err := g.opts.Authorize(path, msg); err != nil {
		return fmt.Errorf("%w: %T to %s: %w", remotemsg.ErrForbidden, msg, path, err)
	}
	return nil
}

func (g *gateway) health(ctx actor.Context) *remotemsg.Health {
	h := &remotemsg.Health{Agent: g.opts.AgentID, Address: ctx.ActorSystem().Address(), StartedAt: g.startedAt}
	for _, in := range g.rt.Tree() {
		h.Actors++
		h.Restarts += in.Restarts
		if in.State != inspect.Running.String() {
			h.NotRunning = append(h.NotRunning, in.Path)
		}
	}
	return h
}

// tail starts a relay that subscribes to the logging actor on behalf of a
// remote subscriber and sends it the records as Envelopes.
func (g *gateway) tail(ctx actor.Context, logs, subscriber *actor.PID, sub *logmsg.Subscribe) {
	r := &relay{logs: logs, subscriber: subscriber, sub: *sub, log: g.log}
	r.sub.Subscriber = nil
	_, err := inspect.Spawn(ctx, actor.PropsFromProducer(func() actor.Actor { return r }), "", "remote.tail", nil)
	if err != nil {
		ctx.Send(subscriber, &remotepb.Reply{Failure: failure(err, false)})
	}
}

// relay is one remote log tail: it holds the subscription to the logging
// actor, passes records on as Envelopes and acknowledgements back, and
// stops when the remote subscriber does (or its process is lost).
type relay struct {
	logs, subscriber *actor.PID
	sub              logmsg.Subscribe
	log              *slog.Logger
}

func (r *relay) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Watch(r.subscriber)
		sub := r.sub
		sub.Subscriber = ctx.Self()
		ctx.Send(r.logs, &sub)
	case *logmsg.Subscribed, *logmsg.Records:
		name, payload, err := encode(m)
		if err != nil {
			r.log.Error("remote: log tail", "err", err)
			return
		}
		if rec, ok := m.(*logmsg.Records); ok {
			inspect.Of(ctx).Add("records_out", int64(len(rec.Records)))
		}
		// Sent with the relay as sender: the subscriber acknowledges to it.
		ctx.Request(r.subscriber, &remotepb.Envelope{Type: name, Payload: payload})
	case *remotepb.Envelope:
		if m.GetType() == "logmsg.Ack" {
			ctx.Send(r.logs, &logmsg.Ack{Subscriber: ctx.Self()})
		}
	case *actor.Terminated:
		ctx.Send(r.logs, &logmsg.Unsubscribe{Subscriber: ctx.Self()})
		ctx.Stop(ctx.Self())
	}
}

// forwarderProps is the cluster kind an agent registers under its id: an
// activation forwards what it gets to the agent's gateway.
func forwarderProps() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*remotepb.Envelope); ok {
			ctx.Forward(actor.NewPID(ctx.ActorSystem().Address(), GatewayName))
		}
	})
}
