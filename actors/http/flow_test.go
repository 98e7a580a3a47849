package http_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/osnet"
)

// smallSendBuffers is the operating system's network with small socket
// buffers on accepted connections, so that a client that stops reading
// holds a streamed response back within a few KiB rather than megabytes.
type smallSendBuffers struct{ transports.Network }

func (n smallSendBuffers) Listen(local netip.AddrPort, opts transports.ListenOptions) (transports.Listener, error) {
	opts.Stream.SendBuffer, opts.Stream.ReceiveBuffer = 32<<10, 32<<10
	return n.Network.Listen(local, opts)
}

// The high-water mark is above what the stalled path to the client holds
// (socket buffers, net/http's buffers, one part), so that a refused
// writer's queue stays above the low-water mark until the client reads.
const (
	flowSize      = 64 << 10
	flowHighWater = 2 << 20
	flowLowWater  = 256 << 10
	flowCount     = 64 // 4 MiB
)

// flowStream is a streamed response written by a probe to a client that
// reads nothing until unstall.
type flowStream struct {
	system *actor.ActorSystem
	writer *testkit.Probe
	x      *actor.PID // the exchange
	conn   net.Conn
	body   chan []byte
}

func newFlowStream(t *testing.T, engine httpactor.Engine) *flowStream {
	system, _ := newSystem(t)
	writer := testkit.NewProbe(t, system)
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Forward(writer.PID)
		}
	}))
	stopActor(t, system, handler)
	var network transports.Network = osnet.New(osnet.Options{})
	if engine == httpactor.EngineEventLoop {
		network = evloop.New(evloop.Options{})
	}
	_, addr := startServer(t, system, httpactor.Options{
		Engine:    engine,
		Network:   smallSendBuffers{network},
		Routes:    []httpactor.Route{{Pattern: "/stream", Actor: handler}},
		HighWater: flowHighWater,
		LowWater:  flowLowWater,
	})
	conn := rawConn(t, addr)
	if err := conn.(*net.TCPConn).SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	req := testkit.Expect[*httpmsg.Request](writer, 0)
	writer.Send(req.ReplyTo, &httpmsg.StreamResponse{})
	return &flowStream{system: system, writer: writer, x: req.ReplyTo, conn: conn, body: make(chan []byte, 1)}
}

// unstall reads the response in the background; body has it once whole
// (nil if it could not be read).
func (f *flowStream) unstall() {
	go func() {
		resp, err := nethttp.ReadResponse(bufio.NewReader(f.conn), nil)
		if err != nil {
			f.body <- nil
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			b = nil
		}
		f.body <- b
	}()
}

func flowPart(i int) *httpmsg.WriteBody {
	data := make([]byte, flowSize)
	binary.BigEndian.PutUint32(data, uint32(i))
	return &httpmsg.WriteBody{Data: data, Ack: i}
}

// answers reads the writer's messages until the write numbered last is
// acknowledged or refused, and returns the writes refused meanwhile, in
// order. Writes are answered in the order they were made, so the answer to
// the last one comes after every refusal.
func (f *flowStream) answers(t *testing.T, last int, acks *[]int) []int {
	t.Helper()
	var refused []int
	for {
		e, ok := f.writer.Next(0)
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
			i := m.Cmd.(*httpmsg.WriteBody).Ack.(int)
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
func (f *flowStream) onlyAcks(t *testing.T, d time.Duration, acks *[]int) {
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

// untilResumed reads the writer's messages, acknowledgements only, until
// WritingResumed, which must not come before the queue has drained to the
// low-water mark: of the accepted writes, all but that much are
// acknowledged first.
func (f *flowStream) untilResumed(t *testing.T, accepted int, acks *[]int) {
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

// end ends the response and returns its body as the client read it.
func (f *flowStream) end(t *testing.T) []byte {
	t.Helper()
	f.writer.Send(f.x, &httpmsg.EndResponse{})
	select {
	case b := <-f.body:
		if b == nil {
			t.Fatal("the client could not read the response")
		}
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("the client did not read the whole response")
		return nil
	}
}

// A handler writes many parts of a streamed response without waiting; those
// refused it writes again, in order, after ResumeWriting. The client reads
// every part once, in order, and the acknowledgements come in order.
func TestStreamedWriterKeepsOrderAcrossRefusals(t *testing.T) {
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		f := newFlowStream(t, engine)
		const n = flowCount
		pending := make([]int, n)
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
				f.writer.Send(f.x, flowPart(i))
			}
			refused := f.answers(t, pending[len(pending)-1], &acks)
			accepted += len(pending) - len(refused)
			if len(refused) == 0 {
				if round == 0 {
					t.Fatal("nothing was refused: the client did not hold the writer back")
				}
				break
			}
			// Once a write is refused every later one is, so the refused ones
			// are the tail of those sent.
			if tail := pending[len(pending)-len(refused):]; !slices.Equal(refused, tail) {
				t.Fatalf("round %d: refused %v, want the tail %v of %v", round, refused, tail, pending)
			}
			f.writer.Send(f.x, &messages.ResumeWriting{})
			if round == 0 {
				// The client is stalled, the queue stays above the low-water
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
		body := f.end(t)
		if len(body) != n*flowSize {
			t.Fatalf("body of %d bytes, want %d", len(body), n*flowSize)
		}
		for i := range n {
			part := body[i*flowSize : (i+1)*flowSize]
			if got := int(binary.BigEndian.Uint32(part)); got != i || !bytes.Equal(part[4:], make([]byte, flowSize-4)) {
				t.Fatalf("part %d: got number %d", i, got)
			}
		}
		f.writer.ExpectNoMessage(100 * time.Millisecond)
	})
}

// ResumeWriting is answered at once when writing is not suspended, and
// WritingResumed never comes unasked: after a refusal, writes stay refused
// even once the queue has drained, until ResumeWriting.
func TestStreamedWritingResumedOnlyWhenAsked(t *testing.T) {
	forEngine(t, func(t *testing.T, engine httpactor.Engine) {
		f := newFlowStream(t, engine)
		f.writer.Send(f.x, &messages.ResumeWriting{})
		testkit.Expect[*messages.WritingResumed](f.writer, 0)

		const n = flowCount
		for i := range n {
			f.writer.Send(f.x, flowPart(i))
		}
		var acks []int
		refused := f.answers(t, n-1, &acks)
		if len(refused) == 0 {
			t.Fatal("nothing was refused: the client did not hold the writer back")
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
		// Drained, but not asked: no WritingResumed, and writes still refused.
		f.writer.ExpectNoMessage(300 * time.Millisecond)
		f.writer.Send(f.x, flowPart(n))
		if r := testkit.Expect[*messages.WriteRefused](f.writer, 0); r.Buffered != 0 || r.Cmd.(*httpmsg.WriteBody).Ack != n {
			t.Fatalf("refused %+v, want the write numbered %d with nothing queued", r, n)
		}
		f.writer.Send(f.x, &messages.ResumeWriting{})
		testkit.Expect[*messages.WritingResumed](f.writer, 0)
		f.writer.Send(f.x, flowPart(n))
		if a := testkit.Expect[*messages.WriteAck](f.writer, 0); a.Ack != n {
			t.Fatalf("ack %v, want %d", a.Ack, n)
		}
		// Two writers: each one that asks gets its own answer.
		other := testkit.NewProbe(t, f.system)
		other.Send(f.x, &messages.ResumeWriting{})
		f.writer.Send(f.x, &messages.ResumeWriting{})
		testkit.Expect[*messages.WritingResumed](other, 0)
		testkit.Expect[*messages.WritingResumed](f.writer, 0)
		if body := f.end(t); len(body) != (n-len(refused)+1)*flowSize {
			t.Fatalf("body of %d bytes, want %d parts", len(body), n-len(refused)+1)
		}
	})
}

// forEngine runs f once with each engine.
func forEngine(t *testing.T, f func(t *testing.T, engine httpactor.Engine)) {
	for _, e := range []httpactor.Engine{httpactor.EngineNetHTTP, httpactor.EngineEventLoop} {
		t.Run(e.String(), func(t *testing.T) { f(t, e) })
	}
}
