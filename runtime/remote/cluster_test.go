//go:build !race

// This test runs cluster members in the test process. protoactor's
// cluster has data races of its own (remote.BlockList.BlockedMembers reads
// the set without its lock while gossip blocks a member that left), which
// the race detector would pin on this test; tests/remote runs members in
// child processes, under -race too.

package remote_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// freeAddrs returns n loopback addresses with ports free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return out
}

func TestControllerSeesAgentsLostAndFound(t *testing.T) {
	seeds := freeAddrs(t, 2)
	sec := remote.Security{Secret: secret}
	clusterOf := func(i int) *remote.ClusterOptions {
		return &remote.ClusterOptions{Name: "test", HealthListen: seeds[i], Seeds: seeds, Refresh: 100 * time.Millisecond}
	}
	a := startAgent(t, remote.ServeOptions{AgentID: "a", Security: sec, Cluster: clusterOf(0)})
	b := startAgent(t, remote.ServeOptions{AgentID: "b", Security: sec, Cluster: clusterOf(1)})
	_ = a

	ctl, err := remote.NewController(remote.ControllerOptions{
		Cluster:  remote.ClusterOptions{Name: "test", Seeds: seeds, Refresh: 100 * time.Millisecond},
		Security: sec,
		Logger:   testkit.QuietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ctl.Close() })

	wait := func(what string, cond func(map[string]bool) bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ctl.WaitFor(ctx, cond); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait("both agents", func(p map[string]bool) bool { return p["a"] && p["b"] })
	ctx := ctxT(t)
	list, err := ctl.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Status != remote.StatusUp || list[1].Status != remote.StatusUp || list[1].Health.Agent != "b" {
		t.Fatalf("List = %+v", list)
	}
	cb, err := ctl.Agent("b")
	if err != nil {
		t.Fatal(err)
	}
	if tree, err := cb.Tree(ctx); err != nil || tree.Agent != "b" {
		t.Fatalf("Tree of b: %+v, %v", tree, err)
	}

	// b goes away: lost. A new b comes back on the same endpoint: found.
	_ = b.srv.Close()
	wait("b lost", func(p map[string]bool) bool { return !p["b"] })
	list, _ = ctl.List(ctx)
	if list[1].ID != "b" || list[1].Status != remote.StatusLost {
		t.Fatalf("after b left: %+v", list)
	}
	startAgent(t, remote.ServeOptions{AgentID: "b", Security: sec, Cluster: clusterOf(1)})
	wait("b found", func(p map[string]bool) bool { return p["b"] })
	list, _ = ctl.List(ctx)
	if list[1].Status != remote.StatusUp {
		t.Fatalf("after b came back: %+v", list)
	}
}
