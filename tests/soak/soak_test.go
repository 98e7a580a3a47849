package soak

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	goruntime "runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/discovery"
	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
	"github.com/microstack-go/microstack/transports/sim"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

var (
	flagSeeds  = flag.Int("soak.seeds", 2, "how many seeds to run, from -soak.seed up")
	flagSeed   = flag.Uint64("soak.seed", 1, "the first seed")
	flagAgents = flag.Int("soak.agents", 100, "agents in the fleet")
	flagSteps  = flag.Int("soak.steps", 1000, "fault-injection steps of 10 simulated ms")
)

// tick asks a client to write its next record.
type tick struct{}

// client writes sequence-numbered records, each acknowledged, to another
// agent's echo service and records in the ledger what was written,
// acknowledged and echoed back. It reconnects on the next tick after its
// connection ends. At most window writes are unacknowledged at once.
type client struct {
	f      *fleet
	host   *sim.Host
	remote netip.AddrPort
	name   string

	conn   *actor.PID
	stream string
	seq    uint64
	acked  uint64
	buf    []byte
}

const window = 8

func (c *client) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.dial(ctx)
	case *tick:
		switch {
		case c.conn == nil && c.stream == "":
			c.dial(ctx)
		case c.conn != nil && !c.f.quiet.Load() && c.seq-c.acked < window:
			c.write(ctx)
		}
	case *tcpmsg.Connected:
		c.conn = m.Conn
		c.stream = fmt.Sprintf("%s#%d", c.name, c.f.streams.Add(1))
		c.seq, c.acked, c.buf = 0, 0, nil
	case *messages.WriteAck:
		seq := m.Ack.(uint64)
		c.acked = seq
		c.f.ledger.Acked(c.stream, seq)
	case *tcpmsg.Received:
		c.buf = append(c.buf, m.Data...)
		for len(c.buf) >= 8 {
			c.f.ledger.Delivered(c.stream, binary.BigEndian.Uint64(c.buf))
			c.buf = c.buf[8:]
		}
	case *messages.WriteRefused:
		c.f.ledger.End(c.stream, Broken)
		ctx.Send(c.conn, &tcpmsg.Abort{})
	case *messages.Closed:
		c.ended(m.Reason == messages.ClosedByUs)
	case *messages.CommandFailed:
		if c.conn == nil { // the connect failed: try again on a tick
			c.stream = ""
		}
	case *actor.Restarting, *actor.Stopping:
		if c.stream != "" {
			c.f.ledger.End(c.stream, Broken)
		}
	}
}

func (c *client) dial(ctx actor.Context) {
	c.stream = "dialing"
	pid := ctx.Spawn(tcp.ConnectionProps(tcp.Options{Network: c.host, Clock: c.f.clk}))
	ctx.Send(pid, &tcpmsg.Connect{Remote: c.remote, Handler: ctx.Self(), Options: tcpmsg.ConnectOptions{Timeout: 2 * time.Second}})
}

func (c *client) write(ctx actor.Context) {
	c.seq++
	c.f.ledger.Sent(c.stream, c.seq)
	ctx.Send(c.conn, &tcpmsg.Write{Data: binary.BigEndian.AppendUint64(nil, c.seq), Ack: c.seq})
}

func (c *client) ended(clean bool) {
	if clean {
		c.f.ledger.End(c.stream, Clean)
	} else {
		c.f.ledger.End(c.stream, Broken)
	}
	c.conn, c.stream = nil, ""
}

// fleet is the world of one seed.
type fleet struct {
	seed    uint64
	clk     *clock.Manual
	net     *sim.Network
	system  *actor.ActorSystem
	hosts   []*sim.Host
	chains  []*runtime.Runtime
	clients []*actor.PID
	ledger  *Ledger
	quiet   atomic.Bool
	streams atomic.Int64

	mu        sync.Mutex
	escalated []string
	crashes   int
}

func addrOf(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }

// build starts n agents: each a chain with an echo service, discovery and
// two clients writing to other agents' echo services.
func build(t *testing.T, seed uint64, n int) *fleet {
	clk := clock.NewManual(testkit.Epoch)
	f := &fleet{seed: seed, clk: clk, ledger: NewLedger(),
		net: sim.New(sim.Config{Seed: seed, Clock: clk, PartitionTimeout: 3 * time.Second, ConnectTimeout: 2 * time.Second,
			Link: sim.LinkConfig{Latency: time.Millisecond, Jitter: time.Millisecond}})}
	f.system = testkit.NewSystem(t)
	for i := range n {
		f.hosts = append(f.hosts, f.net.AddHost(fmt.Sprintf("agent-%d", i), addrOf(i)))
	}
	key := []byte("fleet key")
	for i, h := range f.hosts {
		name := h.Name()
		children := []supervisor.ChildSpec{
			tcp.EchoSpec("echo", netip.AddrPortFrom(addrOf(i), 7), tcp.WithNetwork(h)),
			discovery.ChildSpec("discovery", nil, discovery.Options{Network: h, ID: name, Name: name, Key: key,
				Period: time.Second, Clock: clk, NoIPv6: true, MaxPeers: n + 8}),
		}
		for k, d := range []int{1, 7} {
			c := &client{f: f, host: h, remote: netip.AddrPortFrom(addrOf((i+d)%n), 7), name: fmt.Sprintf("%s/client-%d", name, k)}
			children = append(children, supervisor.ChildSpec{Name: fmt.Sprintf("client-%d", k), Kind: "soak.client",
				Props: func() *actor.Props {
					return actor.PropsFromProducer(func() actor.Actor {
						cc := *c
						return &cc
					})
				}})
		}
		rt := runtime.New(runtime.Options{Name: name, System: f.system, Clock: clk, Logger: testkit.QuietLogger(), Children: children,
			Supervisor: supervisor.Options{Intensity: 20, Period: 10 * time.Second, Seed: seed + uint64(i),
				Backoff: supervisor.Backoff{Min: 10 * time.Millisecond, Max: 500 * time.Millisecond}}})
		f.chains = append(f.chains, rt)
	}
	unsub := f.chains[0].Subscribe(func(e messages.LifecycleEvent) {
		if e, ok := e.(*messages.Escalated); ok {
			f.mu.Lock()
			f.escalated = append(f.escalated, fmt.Sprintf("%s: %v", e.Path, e.Reason))
			f.mu.Unlock()
		}
	})
	t.Cleanup(unsub)
	// Chains start while the clock moves: their actors open sockets and
	// wait on timers of the simulated world.
	f.drive(func() bool {
		for _, rt := range f.chains {
			if err := rt.Start(); err != nil {
				t.Errorf("seed %d: start %v", seed, err)
			}
		}
		return true
	})
	for i := range n {
		for k := range 2 {
			f.clients = append(f.clients, actor.NewPID(f.system.Address(), fmt.Sprintf("agent-%d/client-%d", i, k)))
		}
	}
	return f
}

// drive moves the clock in steps of 10 ms while fn runs on another
// goroutine, until it returns.
func (f *fleet) drive(fn func() bool) bool {
	done := make(chan bool, 1)
	go func() { done <- fn() }()
	for {
		select {
		case ok := <-done:
			return ok
		default:
			f.clk.Advance(10 * time.Millisecond)
			time.Sleep(200 * time.Microsecond)
		}
	}
}

// step moves the world 10 simulated ms and gives the actors a moment of
// real time.
func (f *fleet) step(i int) {
	if i%5 == 0 {
		for _, c := range f.clients {
			f.system.Root.Send(c, &tick{})
		}
	}
	f.clk.Advance(10 * time.Millisecond)
	time.Sleep(300 * time.Microsecond)
}

// inject draws this step's faults.
func (f *fleet) inject(rng *rand.Rand, p faults, cut map[[2]int]bool) {
	n := len(f.hosts)
	if rng.Float64() < p.partition {
		a, b := rng.IntN(n), rng.IntN(n)
		if a != b {
			f.net.Partition(f.hosts[a], f.hosts[b])
			cut[[2]int{a, b}] = true
		}
	}
	if len(cut) > 0 && rng.Float64() < p.heal {
		keys := make([][2]int, 0, len(cut))
		for k := range cut {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][0]*n+keys[i][1] < keys[j][0]*n+keys[j][1] })
		k := keys[rng.IntN(len(keys))]
		f.net.Heal(f.hosts[k[0]], f.hosts[k[1]])
		delete(cut, k)
	}
	if rng.Float64() < p.link {
		a, b := rng.IntN(n), rng.IntN(n)
		if a != b {
			f.net.SetLink(f.hosts[a], f.hosts[b], sim.LinkConfig{Latency: time.Millisecond, Jitter: 5 * time.Millisecond,
				Loss: rng.Float64() * 0.3, Duplicate: rng.Float64() * 0.3, Reorder: rng.Float64() * 0.3})
		}
	}
	if rng.Float64() < p.crash {
		agent := rng.IntN(n)
		kinds := []string{tcp.ListenerKind, tcp.Kind, discovery.Kind, "soak.client"}
		kind := kinds[rng.IntN(len(kinds))]
		var paths []string
		for _, info := range f.chains[agent].Tree() {
			if info.Kind == kind {
				paths = append(paths, info.Path)
			}
		}
		if len(paths) > 0 {
			slices.Sort(paths)
			f.system.Root.Send(actor.NewPID(f.system.Address(), paths[rng.IntN(len(paths))]), &messages.Crash{Reason: "soak"})
			f.crashes++
		}
	}
}

// faults are the per-step probabilities of a seed (swarm testing: each
// seed draws its own mix).
type faults struct{ partition, heal, link, crash float64 }

// run soaks one seed and returns the violations found.
func run(t *testing.T, seed uint64, agents, steps int) []string {
	f := build(t, seed, agents)
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	p := faults{partition: rng.Float64() * 0.1, heal: 0.05 + rng.Float64()*0.1, link: rng.Float64() * 0.1, crash: rng.Float64() * 0.1}
	cut := map[[2]int]bool{}
	for i := range steps {
		f.inject(rng, p, cut)
		f.step(i)
	}
	// Heal everything, stop writing, and let what is in flight land.
	f.net.HealAll()
	for i, a := range f.hosts {
		for j, b := range f.hosts {
			if i != j {
				f.net.SetLink(a, b, sim.LinkConfig{Latency: time.Millisecond, Jitter: time.Millisecond})
			}
		}
	}
	f.quiet.Store(true)
	var problems []string
	converged := func() bool {
		for i := range f.hosts {
			res, err := f.system.Root.RequestFuture(actor.NewPID(f.system.Address(), fmt.Sprintf("agent-%d/discovery", i)),
				&discoverymsg.GetPeers{}, 2*time.Second).Result()
			if err != nil {
				return false
			}
			if len(res.(*discoverymsg.Peers).Peers) != agents-1 {
				return false
			}
		}
		return true
	}
	settled := false
	for i := range 6000 { // at most 60 simulated seconds
		f.step(i)
		if i%100 == 99 && len(f.ledger.Check()) == 0 && converged() {
			settled = true
			break
		}
	}
	if !converged() {
		problems = append(problems, "discovery did not converge after the heal")
	}
	_ = settled
	problems = append(problems, f.ledger.Check()...)
	f.mu.Lock()
	for _, e := range f.escalated {
		problems = append(problems, "escalated: "+e)
	}
	f.mu.Unlock()
	for _, rt := range f.chains {
		select {
		case <-rt.Done():
			problems = append(problems, fmt.Sprintf("chain %s ended: %v", rt.Root(), rt.Wait()))
		default:
		}
	}
	st := f.ledger.Stats()
	// Stop every chain; nothing may be left running.
	f.drive(func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, rt := range f.chains {
			rep, err := rt.Stop(ctx)
			if err != nil || len(rep.NotStopped) > 0 {
				problems = append(problems, fmt.Sprintf("stop: %v, not stopped %v", err, rep.NotStopped))
			}
		}
		return true
	})
	// The chains share one actor system, whose table lists every chain's
	// actors: once all have stopped it must be empty.
	if tree := f.chains[0].Tree(); len(tree) > 0 {
		problems = append(problems, fmt.Sprintf("%d actors left after stop, first %s", len(tree), tree[0].Path))
	}
	t.Logf("seed %d: %d agents, %d steps, faults %+v, %d crashes; %d streams (%d broken), %d writes sent, %d acknowledged, %d echoed; %d acknowledged on broken streams not echoed",
		seed, agents, steps, p, f.crashes, st.Streams, st.Broken, st.Sent, st.Acked, st.Delivered, st.AckedNotDeliveredWhenBroken)
	return problems
}

// TestSoak runs the fleet for -soak.seeds seeds: CI runs two, with 100
// agents and 1,000 steps of 10 simulated ms each (20 agents and 300 steps
// with -short or under the race detector, unless -soak.agents is given).
func TestSoak(t *testing.T) {
	agents, steps := *flagAgents, *flagSteps
	if testing.Short() || (raceFleet && !flagSet("soak.agents")) {
		agents, steps = 20, 300
	}
	g0 := goruntime.NumGoroutine()
	for s := range uint64(*flagSeeds) {
		seed := *flagSeed + s
		t.Run(fmt.Sprint("seed-", seed), func(t *testing.T) {
			problems := run(t, seed, agents, steps)
			if len(problems) > 0 {
				if len(problems) > 20 {
					problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
				}
				t.Fatalf("seed %d failed (replay: go test ./tests/soak -run TestSoak -soak.seed %d -soak.seeds 1 -soak.agents %d -soak.steps %d):\n%s",
					seed, seed, agents, steps, joinLines(problems))
			}
		})
	}
	testkit.Eventually(t, 30*time.Second, func() bool { return goruntime.NumGoroutine() <= g0+10 },
		"goroutines %d, were %d before the fleet", goruntime.NumGoroutine(), g0)
}

// raceFleet is set in race-detector builds (race_test.go).
var raceFleet bool

// flagSet reports whether the named flag was given on the command line.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func joinLines(s []string) string {
	out := ""
	for _, l := range s {
		out += "  " + l + "\n"
	}
	return out
}
