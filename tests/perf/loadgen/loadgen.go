// Package loadgen drives a TCP echo server: many connections, each keeping
// a window of fixed-size messages in flight, counting messages and bytes
// echoed and timing each message's round trip; or many idle connections
// held open, spread over several loopback source addresses (127.0.0.x) so
// that more than one address's ephemeral ports' worth fit. cmd/loadgen is
// its command line; tests/perf runs it in a child process beside the
// servers it compares.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one echo load.
type Config struct {
	// Addr is the echo server.
	Addr netip.AddrPort
	// Conns is the number of connections. Default 50.
	Conns int
	// Size is each message's size in bytes. Default 64.
	Size int
	// Window is the messages in flight per connection; 1 measures pure
	// round trips. Default 16.
	Window int
	// Warmup runs before counting starts; Duration is the counted part.
	// Defaults 200 ms and 3 s.
	Warmup, Duration time.Duration
	// Sources are the local addresses connections are spread over, round
	// robin; empty lets the system choose.
	Sources []netip.Addr
}

// Result is what a load measured while counting.
type Result struct {
	Msgs, Bytes int64
	Elapsed     time.Duration
	P50, P99    time.Duration
}

// MsgsPerSec is the echoed messages per second.
func (r Result) MsgsPerSec() float64 { return float64(r.Msgs) / r.Elapsed.Seconds() }

// MBPerSec is the echoed megabytes (10^6 bytes) per second, one way.
func (r Result) MBPerSec() float64 { return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds() }

// String formats r for people.
func (r Result) String() string {
	return fmt.Sprintf("%.0f msgs/s, %.1f MB/s, p50 %v, p99 %v", r.MsgsPerSec(), r.MBPerSec(), r.P50, r.P99)
}

func (c *Config) defaults() {
	if c.Conns <= 0 {
		c.Conns = 50
	}
	if c.Size <= 0 {
		c.Size = 64
	}
	if c.Window <= 0 {
		c.Window = 16
	}
	if c.Warmup <= 0 {
		c.Warmup = 200 * time.Millisecond
	}
	if c.Duration <= 0 {
		c.Duration = 3 * time.Second
	}
}

// Echo runs the load: it connects, warms up, calls started (may be nil)
// when counting begins, counts for cfg.Duration and closes every
// connection before it returns. ctx ends it early.
func Echo(ctx context.Context, cfg Config, started func()) (Result, error) {
	cfg.defaults()
	conns, err := dialAll(ctx, cfg.Addr, cfg.Conns, cfg.Sources)
	if err != nil {
		return Result{}, err
	}
	var (
		counting atomic.Bool
		stop     atomic.Bool
		msgs     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    hist
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil && !stop.Load() {
			firstErr = err
		}
	}
	msg := make([]byte, cfg.Size)
	done := make(chan struct{})
	for _, c := range conns {
		// sent holds the send times of the messages in flight, in order;
		// its capacity is the window.
		sent := make(chan time.Time, cfg.Window)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				select {
				case sent <- time.Now():
				case <-done:
					return
				}
				if _, err := c.Write(msg); err != nil {
					fail(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			var h hist
			buf := make([]byte, cfg.Size)
			for {
				if _, err := io.ReadFull(c, buf); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						fail(err)
					}
					break
				}
				var t time.Time
				select {
				case t = <-sent:
				default: // cannot happen: a message was sent before it came back
				}
				if counting.Load() {
					msgs.Add(1)
					h.add(time.Since(t))
				}
			}
			mu.Lock()
			total.merge(&h)
			mu.Unlock()
		}()
	}
	sleep(ctx, cfg.Warmup)
	counting.Store(true)
	if started != nil {
		started()
	}
	start := time.Now()
	sleep(ctx, cfg.Duration)
	n := msgs.Load()
	elapsed := time.Since(start)
	counting.Store(false)
	stop.Store(true)
	close(done)
	for _, c := range conns {
		_ = c.Close()
	}
	wg.Wait()
	res := Result{Msgs: n, Bytes: n * int64(cfg.Size), Elapsed: elapsed, P50: total.quantile(0.50), P99: total.quantile(0.99)}
	return res, firstErr
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Hold opens n idle connections to addr, spread over sources, and returns
// them; the caller closes them. On error the ones opened are closed.
func Hold(ctx context.Context, addr netip.AddrPort, n int, sources []netip.Addr) ([]net.Conn, error) {
	return dialAll(ctx, addr, n, sources)
}

// Sources returns the loopback addresses 127.0.0.1 to 127.0.0.k, with k
// enough for conns connections at perSource each (an address has about
// 28,000 ephemeral ports to one server port).
func Sources(conns, perSource int) []netip.Addr {
	if perSource <= 0 {
		perSource = 20000
	}
	k := min(max((conns+perSource-1)/perSource, 1), 254)
	out := make([]netip.Addr, k)
	for i := range out {
		out[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)})
	}
	return out
}

func dialAll(ctx context.Context, addr netip.AddrPort, n int, sources []netip.Addr) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for i := range n {
		d := net.Dialer{Timeout: 10 * time.Second, Control: control}
		if len(sources) > 0 {
			d.LocalAddr = net.TCPAddrFromAddrPort(netip.AddrPortFrom(sources[i%len(sources)], 0))
		}
		c, err := d.DialContext(ctx, "tcp", addr.String())
		if err != nil {
			for _, c := range conns {
				_ = c.Close()
			}
			return nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err)
		}
		conns = append(conns, c)
	}
	return conns, nil
}

// hist is a histogram of durations in buckets 2% wide, from 1 µs to about
// 100 s: enough for p50 and p99 without keeping every sample.
type hist struct {
	counts [1000]int64
	n      int64
}

const histBase = 1.02

func bucket(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return min(int(math.Log(us)/math.Log(histBase)), 999)
}

func (h *hist) add(d time.Duration) { h.counts[bucket(d)]++; h.n++ }

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the upper edge of the bucket holding quantile q.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= want {
			return time.Duration(math.Pow(histBase, float64(i+1)) * float64(time.Microsecond))
		}
	}
	return 0
}
