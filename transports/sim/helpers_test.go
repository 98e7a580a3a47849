package sim

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/streamtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	addrA = netip.MustParseAddr("10.0.0.1")
	addrB = netip.MustParseAddr("10.0.0.2")
	addrC = netip.MustParseAddr("10.0.0.3")
	epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// world is a network of three hosts on a Manual clock.
type world struct {
	t       *testing.T
	n       *Network
	clk     *clock.Manual
	a, b, c *Host
}

func newWorld(t *testing.T, cfg Config) *world {
	t.Helper()
	clk := clock.NewManual(epoch)
	if cfg.Clock == nil {
		cfg.Clock = clk
	}
	n := New(cfg)
	return &world{t: t, n: n, clk: clk, a: n.AddHost("a", addrA), b: n.AddHost("b", addrB), c: n.AddHost("c", addrC)}
}

// run advances the clock by d in 1ms steps.
func (w *world) run(d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Millisecond {
		w.clk.Advance(time.Millisecond)
	}
}

func (w *world) countKinds(kinds ...string) int {
	c := 0
	for _, e := range w.n.Trace() {
		for _, k := range kinds {
			if e.Kind == k {
				c++
			}
		}
	}
	return c
}

// dial dials from h in a goroutine and drives the clock until the network
// has decided, at the same simulated instant on every run.
func (w *world) dial(h *Host, to netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
	w.t.Helper()
	type result struct {
		s   transports.Stream
		err error
	}
	before := w.n.Pending()
	decided := w.countKinds("connect", "dial-failed")
	ch := make(chan result, 1)
	go func() {
		s, err := h.Dial(context.Background(), to, opts)
		ch <- result{s, err}
	}()
	wait(w.t, "dial to queue its handshake", func() bool { return w.n.Pending() > before })
	for i := 0; i < 120_000 && w.countKinds("connect", "dial-failed") == decided; i++ {
		w.clk.Advance(time.Millisecond)
	}
	r := <-ch
	if r.s != nil {
		w.t.Cleanup(func() { r.s.Abort() })
	}
	return r.s, r.err
}

// listen starts a listener on h:port whose accepted streams start with
// handlers made by mk.
func (w *world) listen(h *Host, port uint16, opts transports.ListenOptions, mk func(transports.Stream) *rec) (transports.Listener, *[]*rec) {
	w.t.Helper()
	l, err := h.Listen(netip.AddrPortFrom(netip.IPv4Unspecified(), port), opts)
	if err != nil {
		w.t.Fatal(err)
	}
	var accepted []*rec
	l.Start(transports.ListenerFuncs{Accept: func(s transports.Stream) {
		r := mk(s)
		accepted = append(accepted, r)
		s.Start(r)
	}})
	w.t.Cleanup(func() { l.Close(); w.clk.Advance(0) })
	return l, &accepted
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// rec is the shared stream recorder of transports/streamtest.
type rec = streamtest.Recorder

func newRec(t *testing.T, echo transports.Stream) *rec { return streamtest.NewRecorder(t, echo) }

// pktRec records datagrams.
type pktRec struct {
	mu   sync.Mutex
	pkts []transports.Packet
}

func (r *pktRec) OnPacket(p transports.Packet) {
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
}
func (r *pktRec) OnClosed(error) {}

func (r *pktRec) got() []transports.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transports.Packet(nil), r.pkts...)
}

func (w *world) packet(h *Host, local netip.AddrPort, o transports.PacketOptions) (transports.PacketConn, *pktRec) {
	w.t.Helper()
	p, err := h.ListenPacket(local, o)
	if err != nil {
		w.t.Fatal(err)
	}
	r := &pktRec{}
	p.Start(r)
	w.t.Cleanup(func() { p.Close(); w.clk.Advance(0) })
	return p, r
}
