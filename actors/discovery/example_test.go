package discovery_test

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/discovery"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/sim"
)

// Three agents on a simulated LAN that loses and duplicates datagrams, on
// a clock the example drives: each one's table converges to the other two,
// with the services they announce.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	lan := sim.New(sim.Config{Seed: 1, Clock: clk, Link: sim.LinkConfig{Latency: 2 * time.Millisecond, Loss: 0.1, Duplicate: 0.1}})

	var agents []*actor.PID
	for i, name := range []string{"hall", "kitchen", "office"} {
		addr := netip.AddrFrom4([4]byte{192, 168, 1, byte(10 + i)})
		agents = append(agents, system.Root.Spawn(discovery.Props(discovery.Options{
			Network:  lan.AddHost(name, addr),
			ID:       name,
			Name:     name,
			Services: []netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), 443)}, // "my address, port 443"
			Key:      []byte("household key"),
			Period:   time.Second,
			Clock:    clk,
		})))
	}
	table := func(pid *actor.PID) []discoverymsg.Peer {
		r, _ := system.Root.RequestFuture(pid, &discoverymsg.GetPeers{}, 5*time.Second).Result()
		return r.(*discoverymsg.Peers).Peers
	}
	for slices.ContainsFunc(agents, func(pid *actor.PID) bool { return len(table(pid)) < 2 }) {
		clk.Advance(10 * time.Millisecond) // simulated time, driven by the example
		time.Sleep(time.Millisecond)
	}
	for i, pid := range agents {
		fmt.Print([]string{"hall", "kitchen", "office"}[i], " sees")
		for _, p := range table(pid) {
			fmt.Print(" ", p.Name, p.Services)
		}
		fmt.Println()
	}
	// Stopping closes the sockets, which the simulated network reports as
	// its clock moves: keep it moving meanwhile.
	stopped := make(chan struct{})
	go func() {
		for _, pid := range agents {
			_ = system.Root.StopFuture(pid).Wait()
		}
		close(stopped)
	}()
	for {
		select {
		case <-stopped:
			return
		default:
			clk.Advance(10 * time.Millisecond)
			time.Sleep(time.Millisecond)
		}
	}
	// Output:
	// hall sees kitchen[192.168.1.11:443] office[192.168.1.12:443]
	// kitchen sees hall[192.168.1.10:443] office[192.168.1.12:443]
	// office sees hall[192.168.1.10:443] kitchen[192.168.1.11:443]
}
