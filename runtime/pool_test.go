package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

// A chain installs a dispatch pool on the system it creates, its actors
// spawned through dispatch.Props run there, and the pool's workers end
// with the chain.
func TestTheChainsPoolRunsActorsAndEndsWithTheChain(t *testing.T) {
	rt := runtime.New(runtime.Options{Logger: testkit.QuietLogger()})
	pool := dispatch.Of(rt.System())
	if pool == nil {
		t.Fatal("the chain installed no pool")
	}
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	echo := supervisor.ChildSpec{Name: "echo", Props: func() *actor.Props {
		return dispatch.Props(rt.System(), actor.PropsFromFunc(func(ctx actor.Context) {
			if n, ok := ctx.Message().(int); ok {
				ctx.Respond(n)
			}
		}))
	}}
	pid, err := rt.Spawn(context.Background(), echo)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		if r, err := rt.System().Root.RequestFuture(pid, i, 5*time.Second).Result(); err != nil || r.(int) != i {
			t.Fatalf("request %d: %v %v", i, r, err)
		}
	}
	if st := pool.Stats(); st.Started == 0 || st.Started > 25 {
		t.Fatalf("pool started %d goroutines for 50 requests one after another", st.Started)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := rt.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return pool.Stats().Live == 0 }, "the pool's workers end with the chain")
}
