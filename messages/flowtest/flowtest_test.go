package flowtest_test

import (
	"bytes"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/flowtest"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// write is the toy actor's write command number i, of n bytes.
type write struct{ i, n int }

type unstall struct{}

// queue is the smallest actor that speaks the protocol: it queues writes
// while its reader is stalled, refuses past high bytes until asked to
// resume, and acknowledges everything at once once the reader reads.
type queue struct {
	high, low int
	stalled   bool
	suspended bool
	queued    []*write
	bytes     int
	senders   []*actor.PID
	resumers  []*actor.PID
}

func (q *queue) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *write:
		switch {
		case q.suspended || q.bytes+m.n > q.high:
			q.suspended = true
			ctx.Respond(&messages.WriteRefused{Cmd: m, Buffered: q.bytes})
		default:
			q.queued, q.bytes = append(q.queued, m), q.bytes+m.n
			q.senders = append(q.senders, ctx.Sender())
		}
	case *unstall:
		q.stalled = false
	case *messages.ResumeWriting:
		q.resumers = append(q.resumers, ctx.Sender())
	}
	if !q.stalled {
		for i, w := range q.queued {
			ctx.Send(q.senders[i], &messages.WriteAck{Ack: w.i})
		}
		q.queued, q.senders, q.bytes = nil, nil, 0
	}
	if len(q.resumers) > 0 && q.bytes <= q.low {
		for _, r := range q.resumers {
			ctx.Send(r, &messages.WritingResumed{})
		}
		q.resumers, q.suspended = nil, false
	}
}

func toyFlow(t *testing.T) flowtest.Flow {
	system := testkit.NewSystem(t)
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &queue{high: 1 << 10, low: 256, stalled: true} }))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	return flowtest.Flow{
		System: system, Writer: testkit.NewProbe(t, system), To: pid,
		Write:    func(i int) any { return &write{i: i, n: 64} },
		Size:     64,
		LowWater: 256,
		Count:    64,
		Unstall:  func() { system.Root.Send(pid, &unstall{}) },
	}
}

// A correct actor passes both checks.
func TestAToyQueuePasses(t *testing.T) {
	t.Run("KeepsOrderAcrossRefusals", func(t *testing.T) { flowtest.KeepsOrderAcrossRefusals(t, toyFlow(t)) })
	t.Run("ResumedOnlyWhenAsked", func(t *testing.T) {
		if n := flowtest.ResumedOnlyWhenAsked(t, toyFlow(t)); n != 1<<10/64+1 {
			t.Fatalf("%d writes acknowledged, want %d", n, 1<<10/64+1)
		}
	})
}

// An actor's test runs the checks on the actor and its stalled reader.
func Example() {
	_ = func(t *testing.T, f flowtest.Flow) {
		flowtest.KeepsOrderAcrossRefusals(t, f)
		flowtest.ResumedOnlyWhenAsked(t, f)
	}
}

func TestPayloadCarriesItsNumber(t *testing.T) {
	for _, i := range []int{0, 1, 63, 1 << 20} {
		b := flowtest.Payload(i, 16)
		if len(b) != 16 || flowtest.Number(b) != i || !bytes.Equal(b[4:], make([]byte, 12)) {
			t.Fatalf("Payload(%d, 16) = %v, number %d", i, b, flowtest.Number(b))
		}
	}
}
