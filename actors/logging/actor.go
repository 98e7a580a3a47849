package logging

import (
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Defaults of the logging actor.
const (
	DefaultWindow = 8
	MaxBatch      = 256
)

// Props returns the logging actor serving hub.
func Props(hub *Hub) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor { return &logActor{hub: hub, subs: map[string]*subscriber{}} })
}

// ChildSpec returns the chain's child spec of a logging actor named name.
func ChildSpec(name string, hub *Hub) supervisor.ChildSpec {
	return supervisor.ChildSpec{Name: name, Kind: "logging", Props: func() *actor.Props { return Props(hub) }}
}

type flush struct{}

func (flush) IgnoreDeadLetterLogging() {}

type subscriber struct {
	pid      *actor.PID
	filter   logmsg.Filter
	last     uint64
	window   int
	inFlight int
}

type logActor struct {
	hub     *Hub
	subs    map[string]*subscriber
	pending atomic.Bool
}

func (a *logActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.started(ctx)
	case *actor.Stopping, *actor.Restarting:
		a.hub.setNotify(nil)
	case flush:
		a.flushAll(ctx)
	case *logmsg.Subscribe:
		a.subscribe(ctx, m)
	case *logmsg.Unsubscribe:
		a.unsubscribe(ctx, orSender(ctx, m.Subscriber))
	case *logmsg.Ack:
		a.ack(ctx, orSender(ctx, m.Subscriber))
	case *actor.Terminated:
		delete(a.subs, m.Who.String())
		inspect.Of(ctx).Set("subscribers", int64(len(a.subs)))
	case *logmsg.Query:
		a.query(ctx, m)
	case *logmsg.SetLevel:
		a.hub.SetLevel(m.Module, m.Level)
		respond(ctx, &logmsg.Levels{Levels: a.hub.Levels()})
	case *logmsg.GetLevels:
		respond(ctx, &logmsg.Levels{Levels: a.hub.Levels()})
	}
}

func (a *logActor) started(ctx actor.Context) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	// Many records coalesce into one wake-up: the flag stays set until the
	// actor has read the ring.
	a.hub.setNotify(func() {
		if a.pending.CompareAndSwap(false, true) {
			root.Send(self, flush{})
		}
	})
}

func (a *logActor) subscribe(ctx actor.Context, m *logmsg.Subscribe) {
	pid := orSender(ctx, m.Subscriber)
	if pid == nil {
		return
	}
	after := m.After
	if after == 0 || after > a.hub.Last() {
		after = a.hub.Last()
	}
	window := m.Window
	if window <= 0 {
		window = DefaultWindow
	}
	a.subs[pid.String()] = &subscriber{pid: pid, filter: m.Filter, last: after, window: window}
	ctx.Watch(pid)
	inspect.Of(ctx).Set("subscribers", int64(len(a.subs)))
	ctx.Send(pid, &logmsg.Subscribed{After: after})
	a.flushOne(ctx, a.subs[pid.String()])
}

func (a *logActor) unsubscribe(ctx actor.Context, pid *actor.PID) {
	if pid == nil {
		return
	}
	if _, ok := a.subs[pid.String()]; ok {
		delete(a.subs, pid.String())
		ctx.Unwatch(pid)
	}
	inspect.Of(ctx).Set("subscribers", int64(len(a.subs)))
}

func (a *logActor) ack(ctx actor.Context, pid *actor.PID) {
	if pid == nil {
		return
	}
	if s, ok := a.subs[pid.String()]; ok {
		if s.inFlight > 0 {
			s.inFlight--
		}
		a.flushOne(ctx, s)
	}
}

func (a *logActor) flushAll(ctx actor.Context) {
	a.pending.Store(false)
	for _, s := range a.subs {
		a.flushOne(ctx, s)
	}
}

// flushOne sends s what it has not seen, in batches, while its window
// allows.
func (a *logActor) flushOne(ctx actor.Context, s *subscriber) {
	for s.inFlight < s.window {
		recs, dropped, last := a.hub.Since(s.last, MaxBatch, s.filter)
		if len(recs) == 0 && dropped == 0 {
			s.last = last
			return
		}
		s.last = last
		s.inFlight++
		inspect.Of(ctx).Add("records_out", int64(len(recs)))
		ctx.Send(s.pid, &logmsg.Records{Records: recs, Dropped: dropped, Last: last})
	}
}

func (a *logActor) query(ctx actor.Context, m *logmsg.Query) {
	if m.Limit < 0 {
		respond(ctx, &messages.CommandFailed{Cmd: m, Err: fmt.Errorf("%w: negative limit", messages.ErrBadCommand)})
		return
	}
	recs, dropped, last := a.hub.Since(m.After, 0, m.Filter)
	if m.Limit > 0 && len(recs) > m.Limit {
		recs = recs[len(recs)-m.Limit:] // the newest Limit
	}
	respond(ctx, &logmsg.Records{Records: recs, Dropped: dropped, Last: last})
}

func orSender(ctx actor.Context, pid *actor.PID) *actor.PID {
	if pid != nil {
		return pid
	}
	return ctx.Sender()
}

func respond(ctx actor.Context, msg any) {
	if ctx.Sender() != nil {
		ctx.Respond(msg)
	}
}
