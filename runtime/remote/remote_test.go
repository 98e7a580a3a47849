//go:build !race

// These tests run an agent and a client, two protoactor remote nodes, in
// one process. protoactor's Remote.Start sets gRPC's global logger
// (grpclog.SetLoggerV2) each time, racing with the gRPC goroutines of the
// node already running: harmless with one node per process, as in real
// use, but a report under -race. tests/remote runs every node in a process
// of its own, under -race too.

package remote_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

var secret = []byte("0123456789abcdef-test-secret")

type agent struct {
	rt  *runtime.Runtime
	srv *remote.Server
	hub *logging.Hub
	log *slog.Logger
}

// startAgent runs a chain with a logging actor and a store, served on
// loopback.
func startAgent(t *testing.T, opts remote.ServeOptions) *agent {
	t.Helper()
	hub := logging.NewHub(logging.Options{})
	log := slog.New(hub.Handler())
	rt := runtime.New(runtime.Options{
		Name:   "agent",
		Logger: testkit.QuietLogger(),
		Children: []supervisor.ChildSpec{
			logging.ChildSpec("log", hub),
			store.ChildSpec("store", store.Options{Dir: t.TempDir(), Create: true, Logger: testkit.QuietLogger()}),
		},
	})
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = rt.Stop(ctx)
	})
	if opts.AgentID == "" {
		opts.AgentID = "a1"
	}
	if opts.Logger == nil {
		opts.Logger = testkit.QuietLogger()
	}
	srv, err := remote.Serve(rt, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &agent{rt: rt, srv: srv, hub: hub, log: log}
}

func dial(t *testing.T, addr string, sec remote.Security) (*remote.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := remote.Dial(ctx, addr, remote.DialOptions{Security: sec, Logger: testkit.QuietLogger()})
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClientReadsTreeLogsAndStoreOfAnotherActorSystem(t *testing.T) {
	a := startAgent(t, remote.ServeOptions{Security: remote.Security{Secret: secret}})
	c, err := dial(t, a.srv.Addr(), remote.Security{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)

	tree, err := c.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{}
	for _, in := range tree.Actors {
		kinds[in.Path] = in.Kind
	}
	if tree.Agent != "a1" || kinds["agent/store"] != "store" || kinds["agent/remote"] != remote.GatewayKind {
		t.Fatalf("tree %+v", tree)
	}

	if err := c.Put(ctx, storemsg.Put{Key: []byte("k"), Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(ctx, []byte("k"))
	if err != nil || !bytes.Equal(got.Value, []byte("v")) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	if _, err := c.Get(ctx, []byte("missing")); !errors.Is(err, storemsg.ErrNotFound) {
		t.Fatalf("Get missing: %v, want storemsg.ErrNotFound across the boundary", err)
	}
	// The answer to a failed command is the same typed message as inside
	// the process.
	res, err := c.Request(ctx, "store", &storemsg.Get{Key: []byte("missing")})
	if cf, ok := res.(*messages.CommandFailed); err != nil || !ok || !errors.Is(cf, storemsg.ErrNotFound) {
		t.Fatalf("Request = %T %v, %v", res, res, err)
	}

	a.log.Info("hello from the agent", "module", "test")
	var recs *logmsg.Records
	testkit.Eventually(t, 5*time.Second, func() bool {
		recs, err = c.Logs(ctx, logmsg.Query{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs.Records {
			if r.Message == "hello from the agent" {
				return true
			}
		}
		return false
	}, "record in remote Logs")

	h, err := c.Health(ctx)
	if err != nil || h.Agent != "a1" || h.Actors < 3 {
		t.Fatalf("Health = %+v, %v", h, err)
	}
}

func TestClientTailsLogsWithAcknowledgements(t *testing.T) {
	a := startAgent(t, remote.ServeOptions{Security: remote.Security{Secret: secret}})
	c, err := dial(t, a.srv.Addr(), remote.Security{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxT(t))
	tail, err := c.TailLogs(ctx, logmsg.Subscribe{Window: 2})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	go func() {
		for i := 0; i < n; i++ {
			a.log.Info("tailed", "i", i)
		}
	}()
	seen := 0
	for seen < n {
		select {
		case recs, ok := <-tail:
			if !ok {
				t.Fatalf("tail closed after %d records", seen)
			}
			for _, r := range recs.Records {
				if r.Message == "tailed" {
					seen++
				}
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d records tailed", seen, n)
		}
	}
	cancel()
	for range tail {
	}
	// The relay on the agent ends with the tail.
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, in := range a.rt.Tree() {
			if in.Kind == "remote.tail" {
				return false
			}
		}
		return true
	}, "relay gone")
}

func TestMessagesThatLiveInsideAProcessAreRefusedAtTheBoundary(t *testing.T) {
	a := startAgent(t, remote.ServeOptions{Security: remote.Security{Secret: secret}})
	c, err := dial(t, a.srv.Addr(), remote.Security{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	cases := []struct {
		name string
		msg  any
	}{
		{"holds a PID", &messages.Register{}},
		{"names a file on the agent", &storemsg.Backup{Path: "/tmp/x"}},
		{"fault injection", &messages.Crash{}},
		{"supervisor command", &supervisor.Shutdown{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Request(ctx, "store", tc.msg)
			var nr *remote.NotRemotableError
			if !errors.Is(err, remotemsg.ErrNotRemotable) || !errors.As(err, &nr) {
				t.Fatalf("err = %v, want a NotRemotableError", err)
			}
			if err := c.Send(ctx, "store", tc.msg); !errors.Is(err, remotemsg.ErrNotRemotable) {
				t.Fatalf("Send err = %v", err)
			}
		})
	}
	if _, err := c.Request(ctx, "nothing/here", &storemsg.Get{Key: []byte("k")}); !errors.Is(err, remotemsg.ErrNoActor) {
		t.Fatalf("unknown path: %v, want ErrNoActor", err)
	}
}

func TestAuthorizeRefusesWithErrForbidden(t *testing.T) {
	a := startAgent(t, remote.ServeOptions{
		Security: remote.Security{Secret: secret},
		Authorize: func(path string, msg any) error {
			if _, ok := msg.(*storemsg.Get); ok {
				return nil
			}
			return errors.New("read only")
		},
	})
	c, err := dial(t, a.srv.Addr(), remote.Security{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	if err := c.Put(ctx, storemsg.Put{Key: []byte("k"), Value: []byte("v")}); !errors.Is(err, remotemsg.ErrForbidden) {
		t.Fatalf("Put: %v, want ErrForbidden", err)
	}
	if _, err := c.Get(ctx, []byte("k")); !errors.Is(err, storemsg.ErrNotFound) {
		t.Fatalf("Get: %v", err)
	}
}

func TestUntrustedNodesAreRefused(t *testing.T) {
	a := startAgent(t, remote.ServeOptions{Security: remote.Security{Secret: secret}})
	for _, tc := range []struct {
		name string
		sec  remote.Security
	}{
		{"another secret", remote.Security{Secret: []byte("another-secret-of-16+bytes")}},
		{"plain text", remote.Security{Insecure: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := a.srv.Refused()
			start := time.Now()
			_, err := dial(t, a.srv.Addr(), tc.sec)
			if !errors.Is(err, remotemsg.ErrUnreachable) {
				t.Fatalf("Dial: %v, want ErrUnreachable", err)
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Errorf("refusal took %v", d)
			}
			testkit.Eventually(t, 2*time.Second, func() bool { return a.srv.Refused() > before }, "refusal counted")
		})
	}
	// The refusals show in the gateway's tree entry.
	c, err := dial(t, a.srv.Addr(), remote.Security{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range tree.Actors {
		if in.Kind == remote.GatewayKind && in.Counters["refused"] < 2 {
			t.Fatalf("gateway counters %v", in.Counters)
		}
	}
}

func TestServeNeedsSecurity(t *testing.T) {
	rt := runtime.New(runtime.Options{Logger: testkit.QuietLogger()})
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = rt.Stop(context.Background()) })
	if _, err := remote.Serve(rt, remote.ServeOptions{}); !errors.Is(err, remote.ErrInsecure) {
		t.Fatalf("no security: %v", err)
	}
	if _, err := remote.Serve(rt, remote.ServeOptions{Security: remote.Security{Secret: []byte("short")}}); !errors.Is(err, remote.ErrShortSecret) {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := remote.Serve(rt, remote.ServeOptions{Listen: "localhost:0", Security: remote.Security{Insecure: true}}); err == nil {
		t.Fatal("a host name was accepted as listen address")
	}
}
