package remote

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime/remote/remotepb"
)

// DefaultTimeout bounds a Client request whose context has no deadline.
const DefaultTimeout = 5 * time.Second

// DialOptions configures Dial.
type DialOptions struct {
	// Security must match the agent's.
	Security Security
	// Listen is the client's own gRPC address: protoactor's remote layer
	// sends answers over a connection the agent opens to it, so the agent
	// must be able to reach it. Default DefaultListen (loopback).
	Listen string
	// Logger gets protoactor's records. Default slog.Default().
	Logger *slog.Logger
	// ShutdownTimeout bounds Close. Default DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Client talks to one remote agent through its gateway, with the same
// typed messages its actors take inside the process. Its methods are safe
// for concurrent use.
type Client struct {
	system  *actor.ActorSystem
	gateway *actor.PID
	own     *node // nil when the client shares a controller's node
}

// Dial starts a small actor system with protoactor's remote layer and
// checks that the agent at addr (its Server.Addr) answers, within ctx.
// An agent that cannot be reached, or that refuses this process's
// credentials, gives an error wrapping remotemsg.ErrUnreachable.
func Dial(ctx context.Context, addr string, opts DialOptions) (*Client, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	plog := opts.Logger
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return plog }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	n, err := startNode(system, nodeConfig{listen: opts.Listen, security: opts.Security, log: opts.Logger, timeout: opts.ShutdownTimeout})
	if err != nil {
		system.Shutdown()
		return nil, err
	}
	c := &Client{system: system, gateway: actor.NewPID(addr, GatewayName), own: n}
	if _, err := c.Health(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// Close stops the client's remote layer and actor system. A client from a
// Controller shares its connection: closing it does nothing.
func (c *Client) Close() error {
	if c.own == nil {
		return nil
	}
	err := c.own.close()
	c.system.Shutdown()
	return err
}

// Addr returns the agent's address.
func (c *Client) Addr() string { return c.gateway.Address }

func timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return time.Until(dl)
	}
	return DefaultTimeout
}

// Request sends msg to the actor at target and returns its answer, a typed
// message as the actor sent it (a *messages.CommandFailed whose Err keeps
// the identity of the well-known errors it wrapped, for errors.Is).
// target is a path of the agent's tree ("agent/store"), a path relative to
// its root ("store"), or "@kind" for the first actor of that kind
// ("@store"). A msg whose type is not registered is refused here with a
// *NotRemotableError; a message the gateway refuses (no such actor, not
// authorized) comes back as an error wrapping the remotemsg errors.
func (c *Client) Request(ctx context.Context, target string, msg any) (any, error) {
	env, err := envelope(target, msg)
	if err != nil {
		return nil, err
	}
	timeout := timeoutOf(ctx)
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	env.Reply, env.TimeoutMillis = true, timeout.Milliseconds()
	res, err := c.ask(ctx, env, timeout)
	if err != nil {
		return nil, err
	}
	return answerOf(msg, res)
}

// Send sends msg to the actor at target without waiting for an answer
// (answers the actor sends to its sender are dropped). It fails only when
// msg is not remotable.
func (c *Client) Send(_ context.Context, target string, msg any) error {
	env, err := envelope(target, msg)
	if err != nil {
		return err
	}
	c.system.Root.Send(c.gateway, env)
	return nil
}

func envelope(target string, msg any) (*remotepb.Envelope, error) {
	name, payload, err := encode(msg)
	if err != nil {
		return nil, err
	}
	return &remotepb.Envelope{Target: target, Type: name, Payload: payload}, nil
}

func (c *Client) ask(ctx context.Context, env *remotepb.Envelope, timeout time.Duration) (*remotepb.Reply, error) {
	f := c.system.Root.RequestFuture(c.gateway, env, timeout)
	type result struct {
		v   any
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f.Result()
		ch <- result{v, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch {
	case errors.Is(r.err, actor.ErrTimeout):
		return nil, fmt.Errorf("%w: %s: no answer within %v", remotemsg.ErrUnreachable, c.gateway.Address, timeout)
	case errors.Is(r.err, actor.ErrDeadLetter):
		return nil, fmt.Errorf("%w: %s: connection failed or refused", remotemsg.ErrUnreachable, c.gateway.Address)
	case r.err != nil:
		return nil, fmt.Errorf("%w: %s: %w", remotemsg.ErrUnreachable, c.gateway.Address, r.err)
	}
	reply, ok := r.v.(*remotepb.Reply)
	if !ok {
		return nil, fmt.Errorf("remote: unexpected answer %T", r.v)
	}
	return reply, nil
}

// requestAs sends msg and expects an answer of type T, turning a
// CommandFailed into its error.
func requestAs[T any](ctx context.Context, c *Client, target string, msg any) (T, error) {
	var zero T
	res, err := c.Request(ctx, target, msg)
	if err != nil {
		return zero, err
	}
	switch m := res.(type) {
	case T:
		return m, nil
	case *messages.CommandFailed:
		return zero, m
	}
	return zero, fmt.Errorf("remote: %T answered with %T, want %T", msg, res, zero)
}

// Tree returns a snapshot of the agent's actor tree.
func (c *Client) Tree(ctx context.Context) (*remotemsg.Tree, error) {
	return requestAs[*remotemsg.Tree](ctx, c, "", &remotemsg.GetTree{})
}

// Health asks the agent how it is.
func (c *Client) Health(ctx context.Context) (*remotemsg.Health, error) {
	return requestAs[*remotemsg.Health](ctx, c, "", &remotemsg.GetHealth{})
}

// Logs asks the agent's logging actor for recent records.
func (c *Client) Logs(ctx context.Context, q logmsg.Query) (*logmsg.Records, error) {
	return requestAs[*logmsg.Records](ctx, c, "@logging", &q)
}

// Get reads a key of the agent's store (the first actor of kind "store").
// A missing key is an error wrapping storemsg.ErrNotFound.
func (c *Client) Get(ctx context.Context, key []byte) (*storemsg.Got, error) {
	return requestAs[*storemsg.Got](ctx, c, "@store", &storemsg.Get{Key: key})
}

// Put writes to the agent's store and returns once it is stored.
func (c *Client) Put(ctx context.Context, put storemsg.Put) error {
	_, err := requestAs[*storemsg.Stored](ctx, c, "@store", &put)
	return err
}

// Delete removes a key from the agent's store.
func (c *Client) Delete(ctx context.Context, key []byte) error {
	_, err := requestAs[*storemsg.Deleted](ctx, c, "@store", &storemsg.Delete{Key: key})
	return err
}

// List lists a page of the agent's store.
func (c *Client) List(ctx context.Context, l storemsg.List) (*storemsg.Listed, error) {
	return requestAs[*storemsg.Listed](ctx, c, "@store", &l)
}

// TailLogs follows the agent's log: records matching sub.Filter (after
// sub.After; 0 for only new ones) arrive on the returned channel in
// batches, each acknowledged once the caller has taken it, so that at most
// sub.Window batches are in flight (logmsg's flow control). The channel is
// closed when ctx ends or the agent is lost; sub.Subscriber is ignored.
func (c *Client) TailLogs(ctx context.Context, sub logmsg.Subscribe) (<-chan logmsg.Records, error) {
	if sub.Window <= 0 {
		sub.Window = 8
	}
	sub.Subscriber = nil
	env, err := envelope("@logging", &sub)
	if err != nil {
		return nil, err
	}
	env.Reply = true
	in := make(chan any, sub.Window+2)
	// At most Window batches are unacknowledged, so in never fills while
	// the tail runs; once it has ended, what arrives is dropped.
	put := func(v any) {
		select {
		case in <- v:
		default:
		}
	}
	pid := c.system.Root.Spawn(actor.PropsFromFunc(func(actx actor.Context) {
		switch m := actx.Message().(type) {
		case *remotepb.Envelope:
			msg, err := decode(m.GetType(), m.GetPayload())
			if err != nil {
				return
			}
			put(tailItem{msg: msg, from: actx.Sender()})
		case *remotepb.Reply:
			put(m)
		case *watchRelay:
			actx.Watch(m.pid)
		case *actor.Terminated:
			put(m)
		}
	}))
	stop := func() { c.system.Root.Stop(pid) }
	c.system.Root.RequestWithCustomSender(c.gateway, env, pid)
	// Wait for the relay's Subscribed (or the gateway's refusal).
	var relay *actor.PID
	timer := time.NewTimer(timeoutOf(ctx))
	defer timer.Stop()
	select {
	case v := <-in:
		switch m := v.(type) {
		case tailItem:
			relay = m.from
		case *remotepb.Reply:
			stop()
			if f := m.GetFailure(); f != nil {
				return nil, fromFailure(f)
			}
			return nil, fmt.Errorf("remote: unexpected answer to a log tail")
		}
	case <-timer.C:
		stop()
		return nil, fmt.Errorf("%w: %s: no answer to a log tail", remotemsg.ErrUnreachable, c.gateway.Address)
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
	if relay == nil {
		stop()
		return nil, errors.New("remote: log tail without a relay")
	}
	// The relay's end (its process lost) ends the tail too.
	c.system.Root.Send(pid, &watchRelay{relay})
	out := make(chan logmsg.Records)
	go func() {
		defer close(out)
		defer stop()
		ack := &remotepb.Envelope{Type: "logmsg.Ack", Payload: []byte("{}")}
		for {
			var v any
			select {
			case v = <-in:
			case <-ctx.Done():
				return
			}
			item, ok := v.(tailItem)
			if !ok {
				return // Terminated: the relay or its process is gone.
			}
			recs, ok := item.msg.(*logmsg.Records)
			if !ok {
				continue
			}
			select {
			case out <- *recs:
				c.system.Root.Send(relay, ack)
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

type tailItem struct {
	msg  any
	from *actor.PID
}

// watchRelay is not used over the wire; it asks the tail actor to watch.
type watchRelay struct{ pid *actor.PID }
