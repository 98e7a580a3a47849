// Package flowtest checks an actor that takes writes against the
// back-pressure protocol of package messages: each write is acknowledged
// (WriteAck) or refused (WriteRefused); once one is refused every later one
// is, until the writer sends ResumeWriting and gets WritingResumed, which
// comes only when asked and only once the queue has drained to its
// low-water mark. The HTTP server's streamed responses and the WebSocket
// actor speak it; their tests run these checks instead of each keeping its
// own copy.
package flowtest

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// Flow is one writer and the actor it writes to, whose reader reads
// nothing until Unstall.
type Flow struct {
	// System is the actor system of Writer and To.
	System *actor.ActorSystem
	// Writer is the probe that writes; the answers come to it.
	Writer *testkit.Probe
	// To is the actor written to.
	To *actor.PID
	// Write returns write command number i, of Size bytes, whose Ack is i.
	Write func(i int) any
	// Size is the bytes of one write; LowWater the actor's low-water mark.
	Size, LowWater int
	// Count is the writes to make; enough to pass the high-water mark while
	// the reader is stalled.
	Count int
	// Unstall lets the reader read everything from now on.
	Unstall func()
}

// Payload returns the bytes of write number i: size bytes (at least 4)
// whose first four carry i, the rest zero, so that a reader can tell which
// write it got (Number).
func Payload(i, size int) []byte {
	b := make([]byte, size)
	binary.BigEndian.PutUint32(b, uint32(i))
	return b
}

// Number returns the write number Payload put in b.
func Number(b []byte) int { return int(binary.BigEndian.Uint32(b)) }

// writer tracks the commands sent, to tell which one a refusal names.
type writer struct {
	Flow
	sent map[any]int
}

func (w *writer) send(i int) {
	cmd := w.Write(i)
	w.sent[cmd] = i
	w.Writer.Send(w.To, cmd)
}

// KeepsOrderAcrossRefusals writes Count times without waiting and writes
// those refused again, in order, after each ResumeWriting; the first round
// stalls until WritingResumed would be early. It checks that refusals are
// always the tail of what was sent, that WritingResumed waits for the
// queue to drain to the low-water mark, and that the acknowledgements come
// once each, in order. The caller checks what the reader got.
func KeepsOrderAcrossRefusals(t *testing.T, f Flow) {
	t.Helper()
	w := &writer{Flow: f, sent: map[any]int{}}
	pending := make([]int, f.Count)
	for i := range pending {
		pending[i] = i
	}
	var acks []int
	accepted := 0
	for round := 0; len(pending) > 0; round++ {
		if round > 100 {
			t.Fatalf("still %d writes refused after %d rounds", len(pending), round)
		}
		for _, i := range pending {
			w.send(i)
		}
		refused := w.answers(t, pending[len(pending)-1], &acks)
		accepted += len(pending) - len(refused)
		if len(refused) == 0 {
			if round == 0 {
				t.Fatal("nothing was refused: the reader did not hold the writer back")
			}
			break
		}
		// Once a write is refused every later one is, so the refused ones
		// are the tail of those sent.
		if tail := pending[len(pending)-len(refused):]; !slices.Equal(refused, tail) {
			t.Fatalf("round %d: refused %v, want the tail %v of %v", round, refused, tail, pending)
		}
		f.Writer.Send(f.To, &messages.ResumeWriting{})
		if round == 0 {
			// The reader is stalled, the queue stays above the low-water
			// mark: WritingResumed waits for it to drain.
			w.onlyAcks(t, 200*time.Millisecond, &acks)
			f.Unstall()
		}
		w.untilResumed(t, accepted, &acks)
		pending = refused
	}
	for len(acks) < f.Count {
		acks = append(acks, testkit.Expect[*messages.WriteAck](f.Writer, 0).Ack.(int))
	}
	for i, a := range acks {
		if a != i {
			t.Fatalf("acks out of order: %v", acks)
		}
	}
}

// ResumedOnlyWhenAsked checks that ResumeWriting is answered at once when
// writing is not suspended, and that WritingResumed never comes unasked:
// after a refusal, writes stay refused even once the queue has drained,
// until ResumeWriting; and that each writer that asks gets its own answer.
// It returns how many writes were acknowledged (Count less those refused,
// plus one written after the resume), for the caller's check of what the
// reader got.
func ResumedOnlyWhenAsked(t *testing.T, f Flow) int {
	t.Helper()
	w := &writer{Flow: f, sent: map[any]int{}}
	f.Writer.Send(f.To, &messages.ResumeWriting{})
	testkit.Expect[*messages.WritingResumed](f.Writer, 0)

	n := f.Count
	for i := range n {
		w.send(i)
	}
	var acks []int
	refused := w.answers(t, n-1, &acks)
	if len(refused) == 0 {
		t.Fatal("nothing was refused: the reader did not hold the writer back")
	}
	f.Unstall()
	for len(acks) < n-len(refused) {
		e, ok := f.Writer.Next(0)
		if !ok {
			t.Fatalf("acks %v of %d accepted", acks, n-len(refused))
		}
		a, ok := e.Message.(*messages.WriteAck)
		if !ok {
			t.Fatalf("writer got %T %+v, want only acks", e.Message, e.Message)
		}
		acks = append(acks, a.Ack.(int))
	}
	// Drained, but not asked: no WritingResumed, and writes still refused.
	f.Writer.ExpectNoMessage(300 * time.Millisecond)
	w.send(n)
	if r := testkit.Expect[*messages.WriteRefused](f.Writer, 0); r.Buffered != 0 || w.sent[r.Cmd] != n {
		t.Fatalf("refused %+v, want the write numbered %d with nothing queued", r, n)
	}
	f.Writer.Send(f.To, &messages.ResumeWriting{})
	testkit.Expect[*messages.WritingResumed](f.Writer, 0)
	w.send(n)
	if a := testkit.Expect[*messages.WriteAck](f.Writer, 0); a.Ack != n {
		t.Fatalf("ack %v, want %d", a.Ack, n)
	}
	// Two writers: each one that asks gets its own answer.
	other := testkit.NewProbe(t, f.System)
	other.Send(f.To, &messages.ResumeWriting{})
	f.Writer.Send(f.To, &messages.ResumeWriting{})
	testkit.Expect[*messages.WritingResumed](other, 0)
	testkit.Expect[*messages.WritingResumed](f.Writer, 0)
	return n - len(refused) + 1
}

// answers reads the writer's messages until the write numbered last is
// acknowledged or refused, and returns the writes refused meanwhile, in
// order. Writes are answered in the order they were made, so the answer to
// the last one comes after every refusal.
func (w *writer) answers(t *testing.T, last int, acks *[]int) []int {
	t.Helper()
	var refused []int
	for {
		e, ok := w.Writer.Next(0)
		if !ok {
			t.Fatalf("no answer to write %d; acks %v, refused %v", last, *acks, refused)
		}
		switch m := e.Message.(type) {
		case *messages.WriteAck:
			*acks = append(*acks, m.Ack.(int))
			if m.Ack == last {
				return refused
			}
		case *messages.WriteRefused:
			i, known := w.sent[m.Cmd]
			if !known {
				t.Fatalf("refused %T %+v, which was not written", m.Cmd, m.Cmd)
			}
			refused = append(refused, i)
			if i == last {
				return refused
			}
		default:
			t.Fatalf("writer got %T %+v while writes were in flight", m, m)
		}
	}
}

// onlyAcks reads the writer's messages for d, failing on anything but an
// acknowledgement.
func (w *writer) onlyAcks(t *testing.T, d time.Duration, acks *[]int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		e, ok := w.Writer.Next(left)
		if !ok {
			return
		}
		a, ok := e.Message.(*messages.WriteAck)
		if !ok {
			t.Fatalf("writer got %T %+v, want only acks", e.Message, e.Message)
		}
		*acks = append(*acks, a.Ack.(int))
	}
}

// untilResumed reads the writer's messages, acknowledgements only, until
// WritingResumed, which must not come before the queue has drained to the
// low-water mark: of the accepted writes, all but that much are
// acknowledged first.
func (w *writer) untilResumed(t *testing.T, accepted int, acks *[]int) {
	t.Helper()
	for {
		e, ok := w.Writer.Next(0)
		if !ok {
			t.Fatalf("no WritingResumed; acks %v", *acks)
		}
		switch m := e.Message.(type) {
		case *messages.WriteAck:
			*acks = append(*acks, m.Ack.(int))
		case *messages.WritingResumed:
			if queued := (accepted - len(*acks)) * w.Size; queued > w.LowWater {
				t.Fatalf("WritingResumed with %d bytes still queued", queued)
			}
			return
		default:
			t.Fatalf("writer got %T %+v while waiting for WritingResumed", m, m)
		}
	}
}
