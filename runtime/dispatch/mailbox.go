package dispatch

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Mailbox is an unbounded protoactor mailbox for actors that exist in large
// numbers, such as one per connection, with two differences from
// protoactor's own (actor.Unbounded):
//
//   - it holds nothing while empty: its queues are slices released when
//     drained, where protoactor's keeps a ring and a linked queue per
//     actor (about 300 bytes an idle connection would carry);
//   - PostHere lets the goroutine that produced a message run the actor on
//     the spot when the actor is idle, instead of waking another goroutine
//     for it: an event loop delivering a read to its connection's actor
//     saves a hand-off between threads per read.
//
// Otherwise it behaves as protoactor's: system messages first, suspension
// after a failure, the dispatcher's throughput, a panic escalated to the
// supervisor. Mailbox middlewares are not supported. It is written here
// because protoactor's mailbox cannot be extended (its type is unexported).
type Mailbox struct {
	mu   sync.Mutex
	user fifo
	sys  fifo

	status    atomic.Int32 // idle or running
	userN     atomic.Int32
	sysN      atomic.Int32
	suspended atomic.Bool

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
}

const (
	mbIdle int32 = iota
	mbRunning
)

// hereBudget bounds the messages PostHere handles on its caller's
// goroutine before it hands the rest to the dispatcher, so that one busy
// actor does not hold an event loop.
const hereBudget = 64

var _ actor.Mailbox = (*Mailbox)(nil)

// NewMailbox returns an empty mailbox, for an actor.WithMailbox producer.
func NewMailbox() *Mailbox { return &Mailbox{} }

// PostUserMessage implements actor.Mailbox.
func (m *Mailbox) PostUserMessage(msg any) {
	m.expandBatch(msg)
	m.pushUser(msg)
	m.schedule()
}

// PostHere posts msg and, when the actor is idle and no system message
// waits, runs the actor on the calling goroutine until its user messages
// are handled (at most a small budget), then returns; otherwise it
// schedules the actor as PostUserMessage does. The caller must be a
// goroutine that may run the actor's code: one that holds no lock the
// actor could need.
func (m *Mailbox) PostHere(msg any) {
	m.expandBatch(msg)
	m.pushUser(msg)
	if !m.status.CompareAndSwap(mbIdle, mbRunning) {
		return
	}
	for n := 0; ; n++ {
		if m.sysN.Load() > 0 || m.suspended.Load() || n >= hereBudget {
			m.dispatcher.Schedule(m.processMessages)
			return
		}
		msg := m.popUser()
		if msg == nil {
			break
		}
		m.invokeUser(msg)
	}
	m.status.Store(mbIdle)
	if m.sysN.Load() > 0 || (!m.suspended.Load() && m.userN.Load() > 0) {
		m.schedule()
	}
}

// PostSystemMessage implements actor.Mailbox.
func (m *Mailbox) PostSystemMessage(msg any) {
	if m.answerProbe(msg, false) {
		return
	}
	m.mu.Lock()
	m.sys.push(msg)
	m.sysN.Add(1)
	m.mu.Unlock()
	m.schedule()
}

// RegisterHandlers implements actor.Mailbox. When the actor's props name
// no dispatcher (protoactor's default, a new goroutine per activation) and
// its system has a Pool installed, the mailbox runs on the pool instead:
// props made without the system at hand (tcp.ConnectionProps) get the pool
// of whatever system spawns them.
func (m *Mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	if dispatcher == protoDefault {
		if c, ok := invoker.(interface{ ActorSystem() *actor.ActorSystem }); ok {
			if p := Of(c.ActorSystem()); p != nil {
				dispatcher = p
			}
		}
	}
	m.invoker, m.dispatcher = invoker, dispatcher
}

// protoDefault equals the dispatcher protoactor gives props that name none
// (its goroutine dispatcher with a throughput of 300).
var protoDefault = actor.NewDefaultDispatcher(300)

// Start implements actor.Mailbox.
func (m *Mailbox) Start() {}

// UserMessageCount implements actor.Mailbox.
func (m *Mailbox) UserMessageCount() int { return int(m.userN.Load()) }

// expandBatch posts a batch's messages one by one before the batch
// itself, as protoactor's mailbox does.
func (m *Mailbox) expandBatch(msg any) {
	var batch actor.MessageBatch
	switch b := msg.(type) {
	case actor.MessageBatch:
		batch = b
	case *actor.MessageEnvelope:
		batch, _ = b.Message.(actor.MessageBatch)
	}
	if batch == nil {
		return
	}
	for _, e := range batch.GetMessages() {
		m.pushUser(e)
	}
}

func (m *Mailbox) pushUser(msg any) {
	m.mu.Lock()
	m.user.push(msg)
	m.userN.Add(1)
	m.mu.Unlock()
}

func (m *Mailbox) popUser() any { return m.pop(&m.user, &m.userN) }

func (m *Mailbox) popSys() any { return m.pop(&m.sys, &m.sysN) }

func (m *Mailbox) pop(q *fifo, n *atomic.Int32) any {
	m.mu.Lock()
	defer m.mu.Unlock()
	msg, ok := q.pop()
	if ok {
		n.Add(-1)
	}
	return msg
}

// fifo is a queue that holds no array while empty, unless a small one to
// reuse.
type fifo struct {
	q    []any
	head int
}

func (f *fifo) push(msg any) { f.q = append(f.q, msg) }

func (f *fifo) pop() (any, bool) {
	if f.head == len(f.q) {
		return nil, false
	}
	msg := f.q[f.head]
	f.q[f.head] = nil
	f.head++
	if f.head == len(f.q) {
		f.head = 0
		if cap(f.q) > 16 {
			f.q = nil // drop a large array
		} else {
			f.q = f.q[:0]
		}
	}
	return msg, true
}

func (m *Mailbox) schedule() {
	if m.status.CompareAndSwap(mbIdle, mbRunning) {
		m.dispatcher.Schedule(m.processMessages)
	}
}

func (m *Mailbox) invokeUser(msg any) {
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	m.invoker.InvokeUserMessage(msg)
}

func (m *Mailbox) processMessages() {
	for {
		m.run()
		m.status.Store(mbIdle)
		sys, user := m.sysN.Load(), m.userN.Load()
		if (sys > 0 || (!m.suspended.Load() && user > 0)) && m.status.CompareAndSwap(mbIdle, mbRunning) {
			continue // posted after the loop ended
		}
		return
	}
}

func (m *Mailbox) run() {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	i, t := 0, m.dispatcher.Throughput()
	for {
		if i > t {
			i = 0
			runtime.Gosched()
		}
		i++
		if msg = m.popSys(); msg != nil {
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			return
		}
		if msg = m.popUser(); msg == nil {
			return
		}
		m.invoker.InvokeUserMessage(msg)
	}
}
