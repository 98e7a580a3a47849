package tcp

import "sync"

// gate holds back a transport's deliveries to an actor: the transport
// delivers (reads, accepts) while the actor wants more and fewer than
// limit deliveries wait in its mailbox, so that neither the mailbox nor
// what the actor holds grows without bound. The connection's and the
// listener's transport handlers both embed one; its methods take the
// switch to flip, so that a gate costs only its counters.
type gate struct {
	mu     sync.Mutex // also guards what the embedding handler adds
	inbox  int32      // deliveries sent to the mailbox and not yet handled
	limit  int32
	paused bool // the actor wants no more for now
	off    bool // what the transport was last told
}

// switcher turns a transport's deliveries on or off.
type switcher interface{ deliver(on bool) }

func newGate(limit int) gate { return gate{limit: int32(limit)} }

// arrived counts a delivery on its way to the mailbox.
func (g *gate) arrived(s switcher) {
	g.mu.Lock()
	g.inbox++
	g.applyLocked(s)
	g.mu.Unlock()
}

// handled is called by the actor for each delivery it took.
func (g *gate) handled(s switcher) {
	g.mu.Lock()
	g.inbox--
	g.applyLocked(s)
	g.mu.Unlock()
}

// setWant records whether the actor wants more.
func (g *gate) setWant(s switcher, on bool) {
	g.mu.Lock()
	g.paused = !on
	g.applyLocked(s)
	g.mu.Unlock()
}

func (g *gate) applyLocked(s switcher) {
	on := !g.paused && g.inbox < g.limit
	if on == g.off {
		g.off = !on
		s.deliver(on)
	}
}
