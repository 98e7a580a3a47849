package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// agent is the demo's chain and what it prints.
type agent struct {
	cfg config
	log *slog.Logger
	out io.Writer
	rt  *runtime.Runtime
}

func newAgent(cfg config, log *slog.Logger, out io.Writer) (*agent, error) {
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	a := &agent{cfg: cfg, log: log, out: out}
	a.rt = runtime.New(runtime.Options{
		Name:     "agent",
		Logger:   log,
		Children: a.services(),
	})
	start := time.Now()
	if err := a.rt.Start(); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "agent: started in %v, data in %s\n", time.Since(start).Round(time.Millisecond), cfg.data)
	a.printTree()
	return a, nil
}

// services are the chain's children, in start order.
func (a *agent) services() []supervisor.ChildSpec {
	return []supervisor.ChildSpec{
		{
			Name:  "heartbeat",
			Kind:  "demo.heartbeat",
			Props: func() *actor.Props { return heartbeatProps(a.cfg.heartbeat, a.log) },
		},
	}
}

func (a *agent) restart(ctx context.Context) error {
	rep, err := a.rt.Restart(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.out, "agent: restarted (%d did not stop in time)\n", len(rep.NotStopped))
	a.printTree()
	return nil
}

func (a *agent) stop(ctx context.Context) error {
	rep, err := a.rt.Stop(ctx)
	if len(rep.NotStopped) > 0 {
		fmt.Fprintf(a.out, "agent: did not stop in time: %s\n", strings.Join(rep.NotStopped, ", "))
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(a.out, "agent: stopped")
	return nil
}

// printTree prints the actor tree, indented by depth.
func (a *agent) printTree() {
	fmt.Fprintln(a.out, "agent: actor tree")
	for _, in := range a.rt.Tree() {
		depth := strings.Count(in.Path, "/")
		name := in.Path[strings.LastIndex(in.Path, "/")+1:]
		fmt.Fprintf(a.out, "  %s%-*s %-16s %-9s restarts=%d\n", strings.Repeat("  ", depth), 20-2*depth, name, in.Kind, in.State, in.Restarts)
	}
}

// beat is the heartbeat actor's timer message.
type beat struct{}

// heartbeatProps is a small service that logs the agent's uptime every
// period, on the chain's timer, and publishes a beat counter.
func heartbeatProps(period time.Duration, log *slog.Logger) *actor.Props {
	var started time.Time
	var cancel runtime.Cancel
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			started = time.Now()
			cancel = runtime.SendEvery(ctx.ActorSystem(), ctx.Self(), period, beat{})
		case beat:
			inspect.Of(ctx).Add("beats", 1)
			log.Info("heartbeat", "actor", ctx.Self().Id, "uptime", time.Since(started).Round(time.Second))
		case *actor.Stopping:
			if cancel != nil {
				cancel()
			}
		}
	})
}
