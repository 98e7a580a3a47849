package tcp_test

import (
	"net/netip"
	"os"
	goruntime "runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
)

// cycler connects, closes, and connects again, n times, each time with a
// new connection actor.
type cycler struct {
	net    transports.Network
	addr   netip.AddrPort
	n      int
	done   chan<- error
	cycles *atomic.Int64
}

func (c *cycler) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.next(ctx)
	case *tcpmsg.Connected:
		ctx.Send(m.Conn, &tcpmsg.Close{})
	case *messages.Closed:
		c.cycles.Add(1)
		c.n--
		c.next(ctx)
	case *messages.CommandFailed:
		c.done <- m
	}
}

func (c *cycler) next(ctx actor.Context) {
	if c.n == 0 {
		c.done <- nil
		return
	}
	pid := ctx.Spawn(tcp.ConnectionProps(tcp.Options{Network: c.net}))
	ctx.Send(pid, &tcpmsg.Connect{Remote: c.addr, Handler: ctx.Self()})
}

func countFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(fds)
}

func TestTenThousandConnectCloseCyclesLeaveNothingBehind(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 cycles")
	}
	e := newEnv(t, nil)
	lpid, addr := e.listen("echo", netip.AddrPortFrom(lo4, 0), tcp.ListenerOptions{Handler: tcp.EchoHandlerProps})
	countFDs(t)
	time.Sleep(50 * time.Millisecond)
	fd0, gr0 := countFDs(t), goruntime.NumGoroutine()
	const workers, total = 25, 10000
	done := make(chan error, workers)
	var cycles atomic.Int64
	start := time.Now()
	for range workers {
		pid := e.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &cycler{net: e.net, addr: addr, n: total / workers, done: done, cycles: &cycles}
		}))
		t.Cleanup(func() { _ = e.system.Root.StopFuture(pid).Wait() })
	}
	for range workers {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("cycle failed: %v", err)
			}
		case <-time.After(3 * time.Minute):
			t.Fatalf("only %d cycles in 3 minutes", cycles.Load())
		}
	}
	t.Logf("%d connect/close cycles in %v", cycles.Load(), time.Since(start).Round(time.Millisecond))
	stats := testkit.NewProbe(t, e.system)
	testkit.Eventually(t, 30*time.Second, func() bool {
		stats.Send(lpid, &tcpmsg.GetStats{})
		st := testkit.Expect[*tcpmsg.ListenerStats](stats, 0)
		return st.Connections == 0 && st.Accepted == total
	}, "every server-side connection ends")
	var fd1, gr1 int
	testkit.Eventually(t, 30*time.Second, func() bool {
		fd1, gr1 = countFDs(t), goruntime.NumGoroutine()
		return fd1 <= fd0 && gr1 <= gr0+2
	}, "descriptors and goroutines return to where they were")
	t.Logf("fds %d -> %d, goroutines %d -> %d", fd0, fd1, gr0, gr1)
}
