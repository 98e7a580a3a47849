// Package remote_test runs agents in separate processes on loopback and
// reaches them over protoactor's remote and cluster layers: the test binary
// re-executes itself with MICROSTACK_REMOTE_ROLE set to run an agent (or an
// untrusted node), one protoactor remote node per process, as in real use.
package remote_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports/osnet"
)

const (
	roleEnv = "MICROSTACK_REMOTE_ROLE"
	cluster = "remote-test"
	refresh = 100 * time.Millisecond
)

var secret = []byte("tests-remote-shared-secret-0123456789")

// seeds are the automanaged endpoints of every agent slot, fixed for the
// whole run so that one controller sees all of them.
var seeds []string

// ctl is the test process's one remote node: a cluster client.
var ctl *remote.Controller

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role))
	}
	code := func() int {
		var err error
		seeds, err = freeAddrs(3)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ctl, err = remote.NewController(remote.ControllerOptions{
			Cluster:  remote.ClusterOptions{Name: cluster, Seeds: seeds, Refresh: refresh},
			Security: remote.Security{Secret: secret},
			Logger:   testkit.QuietLogger(),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer ctl.Close()
		return m.Run()
	}()
	if code == 0 {
		if err := goleak.Find(testkit.LeakOptions(remote.LeakOptions()...)...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func freeAddrs(n int) ([]string, error) {
	var out []string
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, ln.Addr().String())
		defer ln.Close()
	}
	return out, nil
}

// runRole is the child process's main.
func runRole(role string) int {
	switch role {
	case "agent":
		return runAgent()
	case "untrusted":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := remote.Dial(ctx, os.Getenv("TARGET"), remote.DialOptions{
			Security: remote.Security{Secret: []byte("not-the-shared-secret-at-all")},
			Logger:   testkit.QuietLogger(),
		})
		if err != nil {
			fmt.Printf("REFUSED %v\n", errors.Is(err, remotemsg.ErrUnreachable))
			return 0
		}
		_ = c.Close()
		fmt.Println("ACCEPTED")
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown role", role)
	return 2
}

// runAgent runs a chain with a log, a store and a TCP connection to
// $TCP_TARGET, served and in the cluster under $AGENT_ID, until stdin
// closes or the process is killed.
func runAgent() int {
	id, slot := os.Getenv("AGENT_ID"), os.Getenv("HEALTH")
	hub := logging.NewHub(logging.Options{Next: slog.NewTextHandler(os.Stderr, nil)})
	log := slog.New(hub.Handler())
	rt := runtime.New(runtime.Options{
		Name:   "agent",
		Logger: log,
		Children: []supervisor.ChildSpec{
			logging.ChildSpec("log", hub),
			store.ChildSpec("store", store.Options{Dir: os.Getenv("DATA"), Create: true, Logger: log}),
		},
	})
	if err := rt.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if target := os.Getenv("TCP_TARGET"); target != "" {
		sink, err := rt.Spawn(ctx, supervisor.ChildSpec{Name: "sink", Kind: "test.sink", Props: func() *actor.Props {
			return actor.PropsFromFunc(func(actor.Context) {})
		}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		opts := tcp.Options{Network: osnet.New(osnet.Options{}), Connect: &tcpmsg.Connect{Remote: netip.MustParseAddrPort(target), Handler: sink}}
		if _, err := rt.Spawn(ctx, tcp.ClientSpec("upstream", opts, nil)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	srv, err := remote.Serve(rt, remote.ServeOptions{
		AgentID:  id,
		Security: remote.Security{Secret: secret},
		Logger:   log,
		Cluster:  &remote.ClusterOptions{Name: cluster, HealthListen: slot, Seeds: strings.Split(os.Getenv("SEEDS"), ","), Refresh: refresh},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	log.Info("agent up", "module", "test", "id", id)
	fmt.Printf("READY %s\n", srv.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	_, _ = rt.Stop(context.Background())
	return 0
}

// child is a process running a role.
type child struct {
	cmd   *exec.Cmd
	lines chan string
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

// start runs the test binary in role with env, stopped by PID when the
// test ends.
func start(t *testing.T, role string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{roleEnv + "=" + role}, env...)...)
	// protoactor's cluster has data races of its own (its BlockList is read
	// without its lock while gossip blocks a member that left); a child
	// built with -race keeps running and its reports stay in its stderr,
	// shown when a test fails.
	cmd.Env = append(cmd.Env, "GORACE=exitcode=0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 16)}
	var errBuf syncBuffer
	cmd.Stderr = &errBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		c.kill()
		if t.Failed() {
			errBuf.mu.Lock()
			t.Logf("%s %s stderr:\n%s", role, strings.Join(env, " "), tail(errBuf.String(), 4000))
			errBuf.mu.Unlock()
		}
	})
	return c
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// kill stops the child by its PID and reaps it.
func (c *child) kill() {
	if c.cmd.ProcessState != nil {
		return
	}
	_ = c.cmd.Process.Kill() // SIGKILL on Unix: no chance to leave the cluster
	_ = c.cmd.Wait()
}

// line waits for the child's next stdout line starting with prefix.
func (c *child) line(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix))
			}
		case <-timeout:
			t.Fatalf("no %q from the child within 20 s", prefix)
		}
	}
}

// startAgent starts an agent process in seed slot with id.
func startAgent(t *testing.T, id string, slot int, env ...string) *child {
	t.Helper()
	c := start(t, "agent", append([]string{
		"AGENT_ID=" + id, "HEALTH=" + seeds[slot], "SEEDS=" + strings.Join(seeds, ","), "DATA=" + t.TempDir(),
	}, env...)...)
	c.line(t, "READY")
	return c
}

func waitFor(t *testing.T, what string, cond func(map[string]bool) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ctl.WaitFor(ctx, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func agent(t *testing.T, id string) *remote.Client {
	t.Helper()
	waitFor(t, id+" in the cluster", func(p map[string]bool) bool { return p[id] })
	c, err := ctl.Agent(id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestTwoProcessesTreeLogsStoreAndATCPWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	startAgent(t, "a", 0, "TCP_TARGET="+ln.Addr().String())
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	c := agent(t, "a")
	ctx := ctxT(t)
	tree, err := c.Tree(ctx)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, in := range tree.Actors {
		paths[in.Path] = in.Kind
	}
	if paths["agent/upstream"] != tcp.Kind || paths["agent/remote"] != remote.GatewayKind {
		t.Fatalf("tree: %v", paths)
	}

	// The agent's store, read and written from here.
	if err := c.Put(ctx, storemsg.Put{Key: []byte("config/x"), Value: []byte("42")}); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Get(ctx, []byte("config/x")); err != nil || string(got.Value) != "42" {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	if _, err := c.Get(ctx, []byte("nope")); !errors.Is(err, storemsg.ErrNotFound) {
		t.Fatalf("Get nope: %v", err)
	}

	// Its logs: recent records, and a live tail.
	recs, err := c.Logs(ctx, logmsg.Query{Filter: logmsg.Filter{Modules: []string{"test"}}})
	if err != nil || len(recs.Records) == 0 || recs.Records[0].Message != "agent up" {
		t.Fatalf("Logs: %+v, %v", recs, err)
	}
	tctx, stopTail := context.WithCancel(ctx)
	defer stopTail()
	tailCh, err := c.TailLogs(tctx, logmsg.Subscribe{})
	if err != nil {
		t.Fatal(err)
	}

	// A command to an actor it holds: write to its TCP connection.
	res, err := c.Request(ctx, "upstream", &tcpmsg.Write{Data: []byte("hello over the wire"), Ack: "w1"})
	if ack, ok := res.(*messages.WriteAck); err != nil || !ok || ack.Ack != "w1" {
		t.Fatalf("Write: %T %+v, %v", res, res, err)
	}
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "hello over the wire" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}

	// A message that lives only inside a process is refused before it
	// leaves this one.
	if _, err := c.Request(ctx, "upstream", &tcpmsg.Bind{}); !errors.Is(err, remotemsg.ErrNotRemotable) {
		t.Fatalf("Bind: %v, want ErrNotRemotable", err)
	}

	// The gateway logs what it refuses; the tail brings it here.
	if _, err := c.Request(ctx, "nothing/here", &storemsg.Get{Key: []byte("k")}); !errors.Is(err, remotemsg.ErrNoActor) {
		t.Fatalf("unknown path: %v, want ErrNoActor", err)
	}
	deadline := time.After(5 * time.Second)
	for found := false; !found; {
		select {
		case r, ok := <-tailCh:
			if !ok {
				t.Fatal("tail ended")
			}
			for _, rec := range r.Records {
				found = found || strings.Contains(rec.Message, "message refused")
			}
		case <-deadline:
			t.Fatal("the refusal's log record did not reach the tail within 5 s")
		}
	}
	stopTail()
	for range tailCh {
	}
}

func TestThreeProcessesAgentKilledIsLostThenFoundWhenRestarted(t *testing.T) {
	startAgent(t, "b", 1)
	c := startAgent(t, "c", 2)
	waitFor(t, "b and c", func(p map[string]bool) bool { return p["b"] && p["c"] })
	ctx := ctxT(t)
	byID := func() map[string]remote.AgentHealth {
		list, err := ctl.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]remote.AgentHealth{}
		for _, a := range list {
			m[a.ID] = a
		}
		return m
	}
	if m := byID(); m["b"].Status != remote.StatusUp || m["c"].Status != remote.StatusUp || m["c"].Health.Agent != "c" {
		t.Fatalf("List: %+v", m)
	}

	start := time.Now()
	c.kill()
	waitFor(t, "c lost", func(p map[string]bool) bool { return !p["c"] })
	t.Logf("c seen lost %v after SIGKILL", time.Since(start).Round(time.Millisecond))
	if m := byID(); m["c"].Status != remote.StatusLost || m["b"].Status != remote.StatusUp {
		t.Fatalf("after kill: %+v", m)
	}

	start = time.Now()
	startAgent(t, "c", 2)
	waitFor(t, "c found", func(p map[string]bool) bool { return p["c"] })
	t.Logf("c seen again %v after restart", time.Since(start).Round(time.Millisecond))
	testkit.Eventually(t, 10*time.Second, func() bool { return byID()["c"].Status == remote.StatusUp }, "c up")
	if tree, err := agent(t, "c").Tree(ctx); err != nil || tree.Agent != "c" {
		t.Fatalf("Tree of c after restart: %+v, %v", tree, err)
	}
}

func TestUntrustedNodeIsRefused(t *testing.T) {
	a := startAgent(t, "a", 0)
	_ = a
	c := agent(t, "a")
	h, err := c.Health(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	u := start(t, "untrusted", "TARGET="+h.Address)
	if got := u.line(t, ""); got != "REFUSED true" {
		t.Fatalf("untrusted node: %q", got)
	}
	tree, err := c.Tree(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range tree.Actors {
		if in.Kind == remote.GatewayKind {
			if in.Counters["refused"] < 1 {
				t.Fatalf("gateway counters %v, want a refused handshake", in.Counters)
			}
			return
		}
	}
	t.Fatal("no gateway in the tree")
}
