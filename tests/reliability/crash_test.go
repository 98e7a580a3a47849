package reliability

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

// echoClient writes numbered records to the echo service, one at a time,
// and counts one as acknowledged once its echo is back: the next record
// follows only then. A failed connection is redialled; the time from the
// failure to the next acknowledged record is an outage.
type echoClient struct {
	addr       string
	acked      uint64
	outages    []time.Duration
	reconnects int
	violations []string
	downSince  time.Time
}

func (c *echoClient) run(stop <-chan struct{}) {
	var conn net.Conn
	var br *bufio.Reader
	buf := make([]byte, 8)
	for {
		select {
		case <-stop:
			if conn != nil {
				conn.Close()
			}
			return
		default:
		}
		if conn == nil {
			var err error
			conn, err = net.DialTimeout("tcp", c.addr, time.Second)
			if err != nil {
				if c.downSince.IsZero() {
					c.downSince = time.Now()
				}
				time.Sleep(5 * time.Millisecond)
				continue
			}
			br = bufio.NewReader(conn)
		}
		seq := c.acked + 1
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		_, err := conn.Write(binary.BigEndian.AppendUint64(nil, seq))
		if err == nil {
			_, err = io.ReadFull(br, buf)
		}
		if err != nil {
			if c.downSince.IsZero() {
				c.downSince = time.Now()
			}
			conn.Close()
			conn = nil
			c.reconnects++
			continue
		}
		got := binary.BigEndian.Uint64(buf)
		if got != seq {
			c.violations = append(c.violations, fmt.Sprintf("echo %d, want %d", got, seq))
		}
		c.acked = seq
		if !c.downSince.IsZero() {
			c.outages = append(c.outages, time.Since(c.downSince))
			c.downSince = time.Time{}
		}
	}
}

// The echo listener and its connection actors are crashed every 100 ms
// while clients keep writing: every record a client saw echoed was echoed
// once and in order, the service comes back after each crash, and the
// outages clients saw are short.
func TestEchoServiceUnderRepeatedCrashesLosesNothingAcknowledged(t *testing.T) {
	addr := freePort(t)
	rt := testkit.StartChain(t, runtime.Options{Name: "agent", Children: []supervisor.ChildSpec{tcp.EchoSpec("echo", addr)},
		Supervisor: supervisor.Options{Intensity: 1000, Period: time.Second, Backoff: supervisor.Backoff{Min: time.Millisecond, Max: 10 * time.Millisecond}}})
	const clients = 8
	dur := 5 * time.Second
	if long() {
		dur = time.Minute
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	cs := make([]*echoClient, clients)
	for i := range cs {
		cs[i] = &echoClient{addr: addr.String()}
		wg.Add(1)
		go func() { defer wg.Done(); cs[i].run(stop) }()
	}
	var crashes atomic.Int64
	crash := func(kind string) {
		for _, info := range rt.Tree() {
			if info.Kind == kind {
				rt.System().Root.Send(actor.NewPID(rt.System().Address(), info.Path), &messages.Crash{Reason: "reliability test"})
				crashes.Add(1)
				if kind == tcp.ListenerKind {
					return
				}
			}
		}
	}
	end := time.Now().Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		time.Sleep(100 * time.Millisecond)
		if i%2 == 0 {
			crash(tcp.ListenerKind)
		} else {
			crash(tcp.Kind)
		}
	}
	time.Sleep(3 * time.Second) // a last quiet moment, long enough on a loaded machine: everyone must be served again
	close(stop)
	wg.Wait()
	var total uint64
	var worst, sum time.Duration
	var n int
	for i, c := range cs {
		for _, v := range c.violations {
			t.Errorf("client %d: %s", i, v)
		}
		if c.acked == 0 {
			t.Errorf("client %d was never served", i)
		}
		if !c.downSince.IsZero() {
			t.Errorf("client %d still unserved at the end", i)
		}
		total += c.acked
		for _, o := range c.outages {
			worst, sum, n = max(worst, o), sum+o, n+1
		}
	}
	mean := time.Duration(0)
	if n > 0 {
		mean = sum / time.Duration(n)
	}
	t.Logf("%v of crashes (%d actors crashed): %d records acknowledged by %d clients, %d outages, mean %v, worst %v",
		dur, crashes.Load(), total, clients, n, mean.Round(time.Microsecond), worst.Round(time.Microsecond))
	if worst > 2*time.Second {
		t.Errorf("worst outage %v", worst)
	}
}
