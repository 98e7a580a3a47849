package websocket_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/flowtest"
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
	return &wsmsg.Binary{Data: flowtest.Payload(i, flowSize), Ack: i}
}

// flow is f as the back-pressure checks of package flowtest see it.
func (f *flowPair) flow() flowtest.Flow {
	return flowtest.Flow{
		System: f.system, Writer: f.writer, To: f.client,
		Write:    func(i int) any { return flowMessage(i) },
		Size:     flowSize,
		LowWater: flowLowWater,
		Count:    flowCount,
		Unstall:  f.unstall,
	}
}

// A writer sends many messages without waiting; those refused it sends
// again, in order, after ResumeWriting. The peer receives every message
// once, in order, and the acknowledgements come in order.
func TestPipelinedSenderKeepsOrderAcrossRefusals(t *testing.T) {
	f := newFlowPair(t)
	flowtest.KeepsOrderAcrossRefusals(t, f.flow())
	for i := range flowCount {
		m := testkit.Expect[*wsmsg.Binary](f.reader, 0)
		if got := flowtest.Number(m.Data); got != i || len(m.Data) != flowSize {
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
	flowtest.ResumedOnlyWhenAsked(t, newFlowPair(t).flow())
}
