// Package sim is a simulated network for tests: in-memory hosts with
// addresses, each implementing transports.Network, so that the actors that
// run on the operating system's network run here unchanged.
//
// A test sets, per directed link between two hosts, latency and jitter,
// loss, duplication and reordering, and cuts and heals partitions while the
// simulation runs. Every random choice comes from one PCG generator seeded
// by Config.Seed, and time comes from a clock.Clock: with a clock.Manual
// driven from one goroutine, the same seed replays the same run exactly,
// which Network.Trace shows.
//
// # Execution
//
// Everything that happens in the network is an event in one queue ordered
// by (time, sequence). Events run when the clock reaches them: inside
// Manual.Advance, or on the real clock's timer goroutines, one at a time.
// Handlers are called from there, never two at once in the whole network,
// and never with the network's lock held, so they may call any method of
// any socket. A handler must not block, and must not call Manual.Advance.
// Methods called from outside a handler (Write, Close, SendTo, ...) take
// effect at once but report through handlers only when the clock next
// moves: with a Manual clock, Advance(0) delivers what is due now.
//
// # Streams
//
// Streams keep TCP's promises: bytes arrive in order, once, while the
// connection lives. Jitter and reordering do not reorder a stream, and loss
// on a link shows as a retransmission delay (LinkConfig.RetransmitDelay).
// Flow control is a window per direction (StreamOptions.ReceiveBuffer,
// default 64 KiB): a receiver that suspends reading stops its sender's
// OnWritten once the window is full.
//
// A partition holds a stream's bytes (and its acknowledgements) in flight;
// when the partition heals they are delivered, in order. If
// Config.PartitionTimeout is set, a sender whose bytes have been held that
// long gives up: its stream closes with an error wrapping
// transports.ErrTimeout and ErrPartitioned, as TCP's retransmission timeout
// would, while the other end learns of it only when it next sends (a reset,
// transports.ErrReset) — so a test can cut a transfer in the middle, heal,
// and watch the reconnection. A dial to a port nobody listens on is refused
// after one round trip; a dial whose handshake is held by a partition fails
// with transports.ErrTimeout (and ErrPartitioned) after
// Config.ConnectTimeout, unless the partition heals first.
//
// TLS is simulated, not run: there is no encryption, but the server's
// certificate (tls.Config Certificates, GetCertificate or
// GetConfigForClient, chosen by SNI) is verified by the client against its
// RootCAs and ServerName at the simulated time, ALPN is negotiated as
// crypto/tls does, and TLS() reports the result. Client certificates are
// not simulated.
//
// # Datagrams
//
// Datagrams get the link's latency, jitter, loss, duplication and
// reordering, drawn per receiver; a partition drops them. Multicast
// delivers to every socket on a reachable host that joined the group on an
// interface that is up, including the sender's own host unless
// MulticastOptions.NoLoopback. A datagram larger than the receiver's
// MaxDatagram is delivered cut, with Truncated set; one that finds the
// receiver's buffer full (suspended reading) is dropped and traced.
//
// # Interfaces
//
// Every host has "lo" (127.0.0.1/8, ::1/128) and an "eth0" with the
// addresses given to AddHost. Tests add and remove interfaces and
// addresses at run time; WatchInterfaces reports the changes.
package sim

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
)

// ErrPartitioned is wrapped, beside transports.ErrTimeout, by errors caused
// by a partition: a stream reset by Config.PartitionTimeout, a dial held
// past Config.ConnectTimeout.
var ErrPartitioned = errors.New("sim: partitioned")

// Config configures a Network. Zero fields take the defaults.
type Config struct {
	// Seed seeds the one random generator every draw comes from.
	Seed uint64
	// Clock is the network's time. Default clock.Real(); use a
	// clock.Manual for deterministic runs.
	Clock clock.Clock
	// Link applies to every link between two different hosts that SetLink
	// has not configured. Traffic within one host is instant and
	// lossless.
	Link LinkConfig
	// ConnectTimeout is how long a dial waits for a handshake held by a
	// partition. Default 20s.
	ConnectTimeout time.Duration
	// PartitionTimeout, when positive, resets a stream whose bytes a
	// partition has held that long. Zero holds them until the partition
	// heals.
	PartitionTimeout time.Duration
}

// LinkConfig describes one direction of the path between two hosts.
type LinkConfig struct {
	// Latency is the one-way delay.
	Latency time.Duration
	// Jitter adds a uniformly drawn delay in [0, Jitter].
	Jitter time.Duration
	// Loss is the probability that a datagram is lost, or that a stream
	// segment needs a retransmission.
	Loss float64
	// Duplicate is the probability that a datagram arrives twice.
	Duplicate float64
	// Reorder is the probability that a datagram is held back by
	// ReorderDelay, so that later ones overtake it.
	Reorder float64
	// ReorderDelay defaults to 2*(Latency+Jitter) + 1ms.
	ReorderDelay time.Duration
	// RetransmitDelay is what a lost stream segment costs. Default 200ms.
	RetransmitDelay time.Duration
}

// Network is a simulated network of hosts. Create it with New.
type Network struct {
	cfg   Config
	clk   clock.Clock
	start time.Time

	runMu sync.Mutex // one drain at a time

	mu      sync.Mutex
	rng     *rand.Rand
	seq     uint64
	queue   eventQueue
	calls   []func() // handler calls made by the running event
	hosts   []*Host
	links   map[[2]*Host]LinkConfig
	cut     map[[2]*Host]bool
	streams []*stream // in creation order, for Heal
	trace   []TraceEvent
	ifIndex int
}

// New returns an empty network.
func New(cfg Config) *Network {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 20 * time.Second
	}
	return &Network{
		cfg:   cfg,
		clk:   cfg.Clock,
		start: cfg.Clock.Now(),
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		links: make(map[[2]*Host]LinkConfig),
		cut:   make(map[[2]*Host]bool),
	}
}

// SetLink configures the direction from -> to. Call it twice for both
// directions.
func (n *Network) SetLink(from, to *Host, cfg LinkConfig) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.links[[2]*Host{from, to}] = cfg
}

// Partition cuts both directions between a and b.
func (n *Network) Partition(a, b *Host) {
	n.PartitionOneWay(a, b)
	n.PartitionOneWay(b, a)
}

// PartitionOneWay cuts the direction from -> to only.
func (n *Network) PartitionOneWay(from, to *Host) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cut[[2]*Host{from, to}] = true
	n.record(TraceEvent{Kind: "partition", Note: from.name + ">" + to.name})
}

// Heal restores both directions between a and b. Stream bytes held by the
// partition leave again, in order, with fresh latency.
func (n *Network) Heal(a, b *Host) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.heal(a, b)
	n.heal(b, a)
}

// HealAll restores every link.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, a := range n.hosts {
		for _, b := range n.hosts {
			if n.cut[[2]*Host{a, b}] {
				n.heal(a, b)
			}
		}
	}
}

func (n *Network) heal(from, to *Host) {
	if !n.cut[[2]*Host{from, to}] {
		return
	}
	delete(n.cut, [2]*Host{from, to})
	n.record(TraceEvent{Kind: "heal", Note: from.name + ">" + to.name})
	live := n.streams[:0]
	for _, s := range n.streams {
		if s.gone() {
			continue
		}
		live = append(live, s)
		if s.host == from && s.peerHost == to {
			s.retime()
		}
	}
	clear(n.streams[len(live):])
	n.streams = live
}

func (n *Network) partitioned(from, to *Host) bool {
	return from != to && n.cut[[2]*Host{from, to}]
}

func (n *Network) link(from, to *Host) LinkConfig {
	if from == to {
		return LinkConfig{}
	}
	if l, ok := n.links[[2]*Host{from, to}]; ok {
		return l
	}
	return n.cfg.Link
}

// delay draws a one-way delay for the link.
func (n *Network) delay(l LinkConfig) time.Duration {
	d := l.Latency
	if l.Jitter > 0 {
		d += time.Duration(n.rng.Int64N(int64(l.Jitter) + 1))
	}
	return d
}

func (n *Network) chance(p float64) bool {
	return p > 0 && n.rng.Float64() < p
}

// TraceEvent is one step the network took, as recorded by Trace.
type TraceEvent struct {
	// At is the simulated time since New.
	At time.Duration
	// Kind names the step: send, deliver, duplicate, drop-loss,
	// drop-partition, drop-full, drop-noport, retransmit, hold, syn,
	// accept, connect, refused, dial-failed, tls-failed, fin, rst,
	// timeout, partition, heal.
	Kind  string
	Proto string // "tcp", "udp" or empty
	From  netip.AddrPort
	To    netip.AddrPort
	Len   int
	Note  string
}

// String formats the event on one line.
func (e TraceEvent) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", e.At, e.Kind)
	if e.Proto != "" {
		fmt.Fprintf(&b, " %s %v>%v len=%d", e.Proto, e.From, e.To, e.Len)
	}
	if e.Note != "" {
		b.WriteString(" " + e.Note)
	}
	return b.String()
}

// Trace returns every step recorded so far, in order. Two runs with the
// same seed, Manual clock and driver produce equal traces.
func (n *Network) Trace() []TraceEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]TraceEvent(nil), n.trace...)
}

func (n *Network) record(e TraceEvent) {
	e.At = n.clk.Now().Sub(n.start)
	n.trace = append(n.trace, e)
}

// Pending returns how many events wait in the queue. A test driving a
// Manual clock can wait for a goroutine's Dial to queue its handshake
// before advancing.
func (n *Network) Pending() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.queue.Len()
}

type event struct {
	at  time.Time
	seq uint64
	fn  func() // runs with n.mu held
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return e
}

// after queues fn to run d from now, with n.mu held. Called with n.mu held.
func (n *Network) after(d time.Duration, fn func()) {
	n.seq++
	heap.Push(&n.queue, &event{at: n.clk.Now().Add(d), seq: n.seq, fn: fn})
	n.clk.AfterFunc(max(d, 0), n.drain)
}

// at queues fn for an absolute time.
func (n *Network) at(t time.Time, fn func()) { n.after(t.Sub(n.clk.Now()), fn) }

// call queues a handler call made by the running event; it runs after the
// event, without n.mu.
func (n *Network) call(f func()) { n.calls = append(n.calls, f) }

// drain runs every due event in order, then the handler calls each made.
func (n *Network) drain() {
	n.runMu.Lock()
	defer n.runMu.Unlock()
	for {
		n.mu.Lock()
		if n.queue.Len() == 0 || n.queue[0].at.After(n.clk.Now()) {
			n.mu.Unlock()
			return
		}
		e := heap.Pop(&n.queue).(*event)
		e.fn()
		calls := n.calls
		n.calls = nil
		n.mu.Unlock()
		for _, f := range calls {
			f()
		}
	}
}
