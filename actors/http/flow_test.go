package http_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	nethttp "net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/flowtest"
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
	return &httpmsg.WriteBody{Data: flowtest.Payload(i, flowSize), Ack: i}
}

// flow is f as the back-pressure checks of package flowtest see it.
func (f *flowStream) flow() flowtest.Flow {
	return flowtest.Flow{
		System: f.system, Writer: f.writer, To: f.x,
		Write:    func(i int) any { return flowPart(i) },
		Size:     flowSize,
		LowWater: flowLowWater,
		Count:    flowCount,
		Unstall:  f.unstall,
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
		flowtest.KeepsOrderAcrossRefusals(t, f.flow())
		const n = flowCount
		body := f.end(t)
		if len(body) != n*flowSize {
			t.Fatalf("body of %d bytes, want %d", len(body), n*flowSize)
		}
		for i := range n {
			part := body[i*flowSize : (i+1)*flowSize]
			if got := flowtest.Number(part); got != i || !bytes.Equal(part[4:], make([]byte, flowSize-4)) {
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
		parts := flowtest.ResumedOnlyWhenAsked(t, f.flow())
		if body := f.end(t); len(body) != parts*flowSize {
			t.Fatalf("body of %d bytes, want %d parts", len(body), parts)
		}
	})
}
