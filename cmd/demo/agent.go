package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// agent is the demo's chain and what it prints.
type agent struct {
	cfg config
	log *slog.Logger
	hub *logging.Hub
	out io.Writer
	rt  *runtime.Runtime
	id  string
}

// Keys the agent keeps in its store.
const keyAgentID = "agent/id"

func newAgent(cfg config, stderr io.Writer, out io.Writer) (*agent, error) {
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return nil, fmt.Errorf("--data: %w", err)
	}
	// Every record goes to the hub (for the console's live log) and on to
	// stderr.
	hub := logging.NewHub(logging.Options{
		Level: cfg.logLevel,
		Next:  slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}),
	})
	a := &agent{cfg: cfg, log: slog.New(hub.Handler()), hub: hub, out: out}
	a.rt = runtime.New(runtime.Options{
		Name:     "agent",
		Logger:   a.log,
		Children: a.services(),
	})
	start := time.Now()
	if err := a.rt.Start(); err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "agent: started in %v, data in %s\n", time.Since(start).Round(10*time.Microsecond), cfg.data)
	if err := a.identity(); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = a.rt.Stop(ctx)
		return nil, err
	}
	a.printTree()
	return a, nil
}

// services are the chain's children, in start order: the log first so that
// every later service's logs reach it, the store before the services that
// keep state in it.
func (a *agent) services() []supervisor.ChildSpec {
	return []supervisor.ChildSpec{
		logging.ChildSpec("log", a.hub),
		store.ChildSpec("store", store.Options{Dir: filepath.Join(a.cfg.data, "store"), Create: true, Logger: a.log.With("module", "store")}),
		{
			Name:  "heartbeat",
			Kind:  "demo.heartbeat",
			Props: func() *actor.Props { return heartbeatProps(a.cfg.heartbeat, a.log) },
		},
	}
}

func (a *agent) pid(name string) *actor.PID {
	return actor.NewPID(a.rt.System().Address(), "agent/"+name)
}

// ask sends a command to one of the agent's services and waits for the
// answer; a CommandFailed comes back as its error.
func (a *agent) ask(service string, cmd any) (any, error) {
	res, err := a.rt.System().Root.RequestFuture(a.pid(service), cmd, 10*time.Second).Result()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", service, err)
	}
	if f, ok := res.(*messages.CommandFailed); ok {
		return nil, f
	}
	return res, nil
}

// identity reads the agent's id from the store, making one on first start.
func (a *agent) identity() error {
	res, err := a.ask("store", &storemsg.Get{Key: []byte(keyAgentID)})
	switch {
	case err == nil:
		a.id = string(res.(*storemsg.Got).Value)
		fmt.Fprintf(a.out, "agent: id %s (kept in the store)\n", a.id)
		return nil
	case !errors.Is(err, storemsg.ErrNotFound):
		return fmt.Errorf("read agent id: %w", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	a.id = hex.EncodeToString(b)
	if _, err := a.ask("store", &storemsg.Put{Key: []byte(keyAgentID), Value: []byte(a.id)}); err != nil {
		return fmt.Errorf("save agent id: %w", err)
	}
	fmt.Fprintf(a.out, "agent: id %s (new)\n", a.id)
	return nil
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
