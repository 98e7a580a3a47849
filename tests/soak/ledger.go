// Package soak is the simulation soak of microstack: a fleet of agent-like
// actor trees (each a chain with a TCP echo service, clients writing to
// other agents' echo services, and authenticated discovery) on the
// simulated network, driven by a Manual clock, with partitions, loss,
// duplication, reordering and actor crashes drawn from one seed, and
// checkers for what must hold whatever happens: acknowledged writes
// delivered exactly once and in order, no actor left behind, supervisors
// within their restart intensity, discovery converged after the network
// heals.
//
// The test (soak_test.go) runs a few seeds in CI; the long run is
//
//	go test ./tests/soak -run TestSoak -timeout 0 -soak.seeds 1000 -soak.agents 1000
//
// A failure names its seed; -soak.seed N replays that one. The fault
// schedule and every draw of the simulated network follow from the seed;
// actors run on protoactor's goroutines, so the interleaving of their
// messages may still differ between two runs of one seed.
package soak

import (
	"fmt"
	"sort"
	"sync"
)

// StreamEnd says how a stream (one client connection) ended.
type StreamEnd int

const (
	// Open: the stream had not ended when checked; after the network has
	// healed and settled, all it had acknowledged must have come back.
	Open StreamEnd = iota
	// Clean: the client closed it; all it had acknowledged came back.
	Clean
	// Broken: it ended with an error (reset, timeout, a crashed echo
	// connection, a crashed client): what came back must be an in-order
	// prefix of what was sent, with nothing twice.
	Broken
)

// stream is the ledger's record of one connection.
type stream struct {
	sent      uint64 // highest sequence number written
	acked     uint64 // highest sequence number acknowledged
	delivered uint64 // highest sequence number echoed back, in order
	end       StreamEnd
	errs      []string
}

// Ledger records, per stream, the sequence numbers written, acknowledged by
// the connection actor (messages.WriteAck) and delivered back by the echo
// service, and checks them. Sequence numbers start at 1 and go up by one.
// It is safe for concurrent use.
type Ledger struct {
	mu      sync.Mutex
	streams map[string]*stream
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger { return &Ledger{streams: make(map[string]*stream)} }

func (l *Ledger) get(id string) *stream {
	s := l.streams[id]
	if s == nil {
		s = &stream{}
		l.streams[id] = s
	}
	return s
}

// Sent records that seq was written on stream id.
func (l *Ledger) Sent(id string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(id)
	if seq != s.sent+1 {
		s.errs = append(s.errs, fmt.Sprintf("sent %d after %d", seq, s.sent))
	}
	s.sent = max(s.sent, seq)
}

// Acked records that the write of seq on stream id was acknowledged.
// Acknowledgements come in write order.
func (l *Ledger) Acked(id string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(id)
	switch {
	case seq > s.sent:
		s.errs = append(s.errs, fmt.Sprintf("ack of %d never sent (sent %d)", seq, s.sent))
	case seq <= s.acked:
		s.errs = append(s.errs, fmt.Sprintf("ack of %d after ack of %d", seq, s.acked))
	}
	s.acked = max(s.acked, seq)
}

// Delivered records that seq came back on stream id.
func (l *Ledger) Delivered(id string, seq uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.get(id)
	switch {
	case seq > s.sent:
		s.errs = append(s.errs, fmt.Sprintf("delivered %d never sent (sent %d)", seq, s.sent))
	case seq <= s.delivered:
		s.errs = append(s.errs, fmt.Sprintf("delivered %d again or out of order, after %d", seq, s.delivered))
	case seq != s.delivered+1:
		s.errs = append(s.errs, fmt.Sprintf("delivered %d after %d: %d..%d lost or reordered", seq, s.delivered, s.delivered+1, seq-1))
	}
	s.delivered = max(s.delivered, seq)
}

// End records how stream id ended. The first end recorded stands.
func (l *Ledger) End(id string, how StreamEnd) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.get(id); s.end == Open {
		s.end = how
	}
}

// Stats counts what the ledger holds: streams, and writes sent,
// acknowledged and delivered across them.
type Stats struct {
	Streams, Broken             int
	Sent, Acked, Delivered      uint64
	AckedNotDeliveredWhenBroken uint64
}

// Stats returns the ledger's totals.
func (l *Ledger) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	var st Stats
	for _, s := range l.streams {
		st.Streams++
		st.Sent += s.sent
		st.Acked += s.acked
		st.Delivered += s.delivered
		if s.end == Broken {
			st.Broken++
			if s.acked > s.delivered {
				st.AckedNotDeliveredWhenBroken += s.acked - s.delivered
			}
		}
	}
	return st
}

// Check returns every violation: deliveries out of order, twice, or of
// writes never sent, and, on streams that are open or ended cleanly,
// acknowledged writes that did not come back. Call it once the network has
// healed and the fleet has settled.
func (l *Ledger) Check() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, 0, len(l.streams))
	for id := range l.streams {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []string
	for _, id := range ids {
		s := l.streams[id]
		for _, e := range s.errs {
			out = append(out, id+": "+e)
		}
		if s.end != Broken && s.delivered < s.acked {
			out = append(out, fmt.Sprintf("%s: acknowledged %d, delivered %d: acknowledged writes lost", id, s.acked, s.delivered))
		}
	}
	return out
}
