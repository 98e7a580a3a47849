package perf

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports/evloop"
)

// worker is the smallest actor: it answers every ping.
type worker struct{}

type ping struct{}

func (worker) Receive(ctx actor.Context) {
	if _, ok := ctx.Message().(*ping); ok {
		ctx.Respond(&ping{})
	}
}

func workerSpec(name string) supervisor.ChildSpec {
	return supervisor.ChildSpec{Name: name, Props: func() *actor.Props {
		return actor.PropsFromProducer(func() actor.Actor { return worker{} })
	}}
}

// tree is groups supervisors of per workers each, plus a TCP echo service
// on the event-loop transport: a chain the shape of an agent's.
func tree(groups, per int) []supervisor.ChildSpec {
	specs := []supervisor.ChildSpec{tcp.EchoSpec("echo", netip.MustParseAddrPort("127.0.0.1:0"), tcp.WithNetwork(evloop.New(evloop.Options{})))}
	for g := range groups {
		kids := make([]supervisor.ChildSpec, per)
		for i := range kids {
			kids[i] = workerSpec(fmt.Sprintf("w%d", i))
		}
		specs = append(specs, supervisor.Spec(fmt.Sprintf("g%d", g), supervisor.Options{}, kids...))
	}
	return specs
}

// chainTimes starts a chain of groups*per workers, restarts it, stops it,
// and returns how long Start and Restart took.
func chainTimes(groups, per int) (start, restart time.Duration, err error) {
	r := runtime.New(runtime.Options{Children: tree(groups, per), Logger: testkit.QuietLogger()})
	t0 := time.Now()
	if err := r.Start(); err != nil {
		return 0, 0, err
	}
	start = time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer func() {
		if _, serr := r.Stop(ctx); serr != nil && err == nil {
			err = serr
		}
	}()
	t1 := time.Now()
	if _, err := r.Restart(ctx); err != nil {
		return start, 0, err
	}
	return start, time.Since(t1), nil
}

// roundTrips times n request/response round trips from the root context to
// pid and returns the median of 5 batches, per round trip.
func roundTrips(root *actor.RootContext, pid *actor.PID, n int) (time.Duration, error) {
	var per []time.Duration
	for range 5 {
		t := time.Now()
		for range n {
			if _, err := root.RequestFuture(pid, &ping{}, 5*time.Second).Result(); err != nil {
				return 0, err
			}
		}
		per = append(per, time.Since(t)/time.Duration(n))
	}
	slices.Sort(per)
	return per[len(per)/2], nil
}

// roundTripRatio measures the round trip to an actor under the chain (a
// supervised child of the root, with the supervisor's wrapped mailbox)
// against the same actor spawned with protoactor alone, alternating.
func roundTripRatio(n, rounds int) (chain, plain time.Duration, err error) {
	r := runtime.New(runtime.Options{Logger: testkit.QuietLogger()})
	if err := r.Start(); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	defer r.Stop(ctx)
	cpid, err := r.Spawn(ctx, workerSpec("pong"))
	if err != nil {
		return 0, 0, err
	}
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }))
	defer sys.Shutdown()
	ppid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return worker{} }))
	defer sys.Root.Stop(ppid)
	var cs, ps []time.Duration
	for range rounds {
		c, err := roundTrips(r.System().Root, cpid, n)
		if err != nil {
			return 0, 0, err
		}
		p, err := roundTrips(sys.Root, ppid, n)
		if err != nil {
			return 0, 0, err
		}
		cs, ps = append(cs, c), append(ps, p)
	}
	slices.Sort(cs)
	slices.Sort(ps)
	return cs[len(cs)/2], ps[len(ps)/2], nil
}

func runChain(groups, per, rtN, rounds int, w io.Writer) error {
	var starts, restarts []time.Duration
	for range rounds {
		s, r, err := chainTimes(groups, per)
		if err != nil {
			return err
		}
		starts, restarts = append(starts, s), append(restarts, r)
	}
	slices.Sort(starts)
	slices.Sort(restarts)
	s, r := starts[len(starts)/2], restarts[len(restarts)/2]
	actors := groups*(per+1) + 1
	fmt.Fprintf(w, "# chain of %d actors (and a TCP echo service on evloop): start %v, Restart %v (median of %d)\n", actors, s, r, rounds)
	fmt.Fprintf(w, "chain-start/200ms: %.2f\n", float64(s)/float64(200*time.Millisecond))
	fmt.Fprintf(w, "chain-restart-%d/100ms: %.2f\n", actors, float64(r)/float64(100*time.Millisecond))
	c, p, err := roundTripRatio(rtN, rounds)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# actor round trip (RequestFuture): chain child %v, protoactor alone %v\n", c, p)
	fmt.Fprintf(w, "actor-rtt chain/protoactor: %.2f\n", float64(c)/float64(p))
	return nil
}

// BenchmarkChain times a chain's Start and Restart with 1,000 actors
// (targets 200 ms and 100 ms) and the round trip to an actor under the
// chain against protoactor's own (target 1.2×). It runs once whatever b.N
// is; use -benchtime 1x.
func BenchmarkChain(b *testing.B) {
	for range b.N {
		if err := runChain(10, 100, 20000, *rounds, os.Stdout); err != nil {
			b.Fatal(err)
		}
	}
}
