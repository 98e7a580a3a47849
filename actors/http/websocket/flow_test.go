package websocket_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/wsmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// smallBuffers is the operating system's network with small socket
// buffers, so that a peer that stops reading holds a sender back within a
// few KiB rather than megabytes.
type smallBuffers struct{ transports.Network }

func (n smallBuffers) Dial(ctx context.Context, remote netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
	opts.Stream.SendBuffer, opts.Stream.ReceiveBuffer = 32<<10, 32<<10
	return n.Network.Dial(ctx, remote, opts)
}

func (n smallBuffers) Listen(local netip.AddrPort, opts transports.ListenOptions) (transports.Listener, error) {
	opts.Stream.SendBuffer, opts.Stream.ReceiveBuffer = 32<<10, 32<<10
	return n.Network.Listen(local, opts)
}

// flowPair is a client socket whose handler is the writer probe, talking to
// a server socket that reads one message and then nothing until unstall.
type flowPair struct {
	system *actor.ActorSystem
	writer *testkit.Probe // the client socket's handler, which sends
	reader *testkit.Probe // sees what the server socket receives
	client *actor.PID
	server *actor.PID
}

// The high-water mark is above what the stalled path between the sockets
// holds (socket buffers, the server connection's read buffer, one message),
// so that a refused writer's queue stays above the low-water mark until the
// server reads again.
const (
	flowSize      = 64 << 10
	flowHighWater = 2 << 20
	flowLowWater  = 256 << 10
	flowCount     = 64 // 4 MiB
)

func newFlowPair(t *testing.T) *flowPair {
	system := testkit.NewSystem(t)
	network := smallBuffers{osnet.New(osnet.Options{})}
	reader := testkit.NewProbe(t, system)
	forward := func() *actor.Props {
		return actor.PropsFromFunc(func(ctx actor.Context) {
			switch ctx.Message().(type) {
			case *wsmsg.Opened, *wsmsg.Binary:
				ctx.Forward(reader.PID)
			}
		})
	}
	web, err := system.Root.SpawnNamed(httpactor.Props(httpactor.Options{
		Network: network,
		Routes:  []httpactor.Route{{Pattern: "GET /ws", WebSocket: &websocket.Options{NewHandler: forward, Credits: 1}}},
	}), "web")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(web).Wait() })
	res, err := system.Root.RequestFuture(web, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr
	writer, client := dialClient(t, system, websocket.Options{
		URL:       fmt.Sprintf("ws://%s/ws", addr),
		Network:   network,
		HighWater: flowHighWater,
		LowWater:  flowLowWater,
		Credits:   -1,
	})
	testkit.Expect[*wsmsg.Opened](writer, 0)
	opened := testkit.Expect[*wsmsg.Opened](reader, 0)
	return &flowPair{system: system, writer: writer, reader: reader, client: client, server: opened.Socket}
}

// unstall lets the server socket read without limit.
func (f *flowPair) unstall() {
	f.writer.Send(f.server, &messages.ResumeReading{Credits: 0})
}

func flowMessage(i int) *wsmsg.Binary {
	data := make([]byte, flowSize)
	binary.BigEndian.PutUint32(data, uint32(i))
	return &wsmsg.Binary{Data: data, Ack: i}
}

// answers reads the writer's messages until the send numbered last is
// acknowledged or refused, and returns the sends refused meanwhile, in
// order. Sends are answered in the order they were made, so the answer to
// the last one comes after every refusal.
func (f *flowPair) answers(t *testing.T, last int, acks *[]int) []int {
	t.Helper()
	var refused []int
	for {
		e, ok := f.writer.Next(0)
		if !ok {
			t.Fatalf("no answer to send %d; acks %v, refused %v", last, *acks, refused)
		}
		switch m := e.Message.(type) {
		case *messages.WriteAck:
			*acks = append(*acks, m.Ack.(int))
			if m.Ack == last {
				return refused
			}
		case *messages.WriteRefused:
			i := m.Cmd.(*wsmsg.Binary).Ack.(int)
			refused = append(refused, i)
			if i == last {
				return refused
			}
		default:
			t.Fatalf("writer got %T %+v while sends were in flight", m, m)
		}
	}
}

// untilResumed reads the writer's messages, acknowledgements only, until
// WritingResumed, which must not come before the queue has drained to the
// low-water mark: of the accepted sends, all but that much are acknowledged
// first.
func (f *flowPair) untilResumed(t *testing.T, accepted int, acks *[]int) {
	t.Helper()
	for {
		e, ok := f.writer.Next(0)
		if !ok {
			t.Fatalf("no WritingResumed; acks %v", *acks)
		}
		switch m := e.Message.(type) {
		case *messages.WriteAck:
			*acks = append(*acks, m.Ack.(int))
		case *messages.WritingResumed:
			if queued := (accepted - len(*acks)) * flowSize; queued > flowLowWater {
				t.Fatalf("WritingResumed with %d bytes still queued", queued)
			}
			return
		default:
			t.Fatalf("writer got %T %+v while waiting for WritingResumed", m, m)
		}
	}
}

// onlyAcks reads the writer's messages for d, failing on anything but an
// acknowledgement.
func (f *flowPair) onlyAcks(t *testing.T, d time.Duration, acks *[]int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		e, ok := f.writer.Next(left)
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

// A writer sends many messages without waiting; those refused it sends
// again, in order, after ResumeWriting. The peer receives every message
// once, in order, and the acknowledgements come in order.
func TestPipelinedSenderKeepsOrderAcrossRefusals(t *testing.T) {
	f := newFlowPair(t)
	const n = flowCount
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	var acks []int
	accepted := 0
	for round := 0; len(pending) > 0; round++ {
		if round > 100 {
			t.Fatalf("still %d sends refused after %d rounds", len(pending), round)
		}
		for _, i := range pending {
			f.writer.Send(f.client, flowMessage(i))
		}
		refused := f.answers(t, pending[len(pending)-1], &acks)
		accepted += len(pending) - len(refused)
		if len(refused) == 0 {
			if round == 0 {
				t.Fatal("nothing was refused: the reader did not hold the writer back")
			}
			break
		}
		// Once a send is refused every later one is, so the refused ones
		// are the tail of those sent.
		if tail := pending[len(pending)-len(refused):]; !slices.Equal(refused, tail) {
			t.Fatalf("round %d: refused %v, want the tail %v of %v", round, refused, tail, pending)
		}
		f.writer.Send(f.client, &messages.ResumeWriting{})
		if round == 0 {
			// The reader is stalled, the queue stays above the low-water
			// mark: WritingResumed waits for it to drain.
			f.onlyAcks(t, 200*time.Millisecond, &acks)
			f.unstall()
		}
		f.untilResumed(t, accepted, &acks)
		pending = refused
	}
	for len(acks) < n {
		acks = append(acks, testkit.Expect[*messages.WriteAck](f.writer, 0).Ack.(int))
	}
	for i, a := range acks {
		if a != i {
			t.Fatalf("acks out of order: %v", acks)
		}
	}
	for i := range n {
		m := testkit.Expect[*wsmsg.Binary](f.reader, 0)
		if got := int(binary.BigEndian.Uint32(m.Data)); got != i || len(m.Data) != flowSize {
			t.Fatalf("message %d: got number %d, %d bytes", i, got, len(m.Data))
		}
	}
	f.reader.ExpectNoMessage(100 * time.Millisecond)
	f.writer.ExpectNoMessage(100 * time.Millisecond)
}

// ResumeWriting is answered at once when writing is not suspended, and
// WritingResumed never comes unasked: after a refusal, sending stays
// suspended even once the queue has drained, until ResumeWriting.
func TestWritingResumedOnlyWhenAsked(t *testing.T) {
	f := newFlowPair(t)
	f.writer.Send(f.client, &messages.ResumeWriting{})
	testkit.Expect[*messages.WritingResumed](f.writer, 0)

	const n = flowCount
	for i := range n {
		f.writer.Send(f.client, flowMessage(i))
	}
	var acks []int
	refused := f.answers(t, n-1, &acks)
	if len(refused) == 0 {
		t.Fatal("nothing was refused: the reader did not hold the writer back")
	}
	f.unstall()
	for len(acks) < n-len(refused) {
		e, ok := f.writer.Next(0)
		if !ok {
			t.Fatalf("acks %v of %d accepted", acks, n-len(refused))
		}
		a, ok := e.Message.(*messages.WriteAck)
		if !ok {
			t.Fatalf("writer got %T %+v, want only acks", e.Message, e.Message)
		}
		acks = append(acks, a.Ack.(int))
	}
	// Drained, but not asked: no WritingResumed, and sends still refused.
	f.writer.ExpectNoMessage(300 * time.Millisecond)
	f.writer.Send(f.client, flowMessage(n))
	if r := testkit.Expect[*messages.WriteRefused](f.writer, 0); r.Buffered != 0 || r.Cmd.(*wsmsg.Binary).Ack != n {
		t.Fatalf("refused %+v, want the send numbered %d with nothing queued", r, n)
	}
	f.writer.Send(f.client, &messages.ResumeWriting{})
	testkit.Expect[*messages.WritingResumed](f.writer, 0)
	f.writer.Send(f.client, flowMessage(n))
	if a := testkit.Expect[*messages.WriteAck](f.writer, 0); a.Ack != n {
		t.Fatalf("ack %v, want %d", a.Ack, n)
	}
	// Two writers: each one that asks gets its own answer.
	other := testkit.NewProbe(t, f.system)
	other.Send(f.client, &messages.ResumeWriting{})
	f.writer.Send(f.client, &messages.ResumeWriting{})
	testkit.Expect[*messages.WritingResumed](other, 0)
	testkit.Expect[*messages.WritingResumed](f.writer, 0)
}
