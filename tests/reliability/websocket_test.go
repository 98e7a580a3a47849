package reliability

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	cws "github.com/coder/websocket"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/wsmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// wsEcho answers each text message on its socket.
func wsEcho() *actor.Props {
	var socket *actor.PID
	return actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *wsmsg.Opened:
			socket = m.Socket
		case *wsmsg.Text:
			if socket != nil {
				ctx.Send(socket, &wsmsg.Text{Data: m.Data})
			}
		}
	})
}

// A WebSocket peer that never answers pings is closed once its pong is
// late, and the server keeps serving other sockets meanwhile.
func TestWebSocketPeerThatNeverAnswersPingsIsClosed(t *testing.T) {
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	opts := &websocket.Options{NewHandler: wsEcho, PingInterval: 200 * time.Millisecond, PongTimeout: 300 * time.Millisecond}
	pid, err := inspect.Spawn(system.Root, httpactor.Props(httpactor.Options{
		Routes: []httpactor.Route{{Pattern: "GET /ws", WebSocket: opts}},
	}), "web", "http.server", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr

	// The silent peer: upgrades by hand, then never reads nor answers.
	silent, err := net.Dial("tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	_, _ = io.WriteString(silent, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(silent)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}

	// A well-behaved client (reading, so it answers pings) is echoed
	// throughout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	good, _, err := cws.Dial(ctx, "ws://"+addr.String()+"/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer good.CloseNow()
	for i := 0; i < 10; i++ {
		if err := good.Write(ctx, cws.MessageText, []byte("still here")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		_, b, err := good.Read(ctx)
		if err != nil || string(b) != "still here" {
			t.Fatalf("echo %d: %q %v", i, b, err)
		}
		time.Sleep(100 * time.Millisecond) // across several ping intervals
	}

	// By now the silent peer's pong is long overdue: the server has closed
	// it. Reading drains the pings and the close frame, then ends.
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.Copy(io.Discard, br)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server still holds the socket of a peer that never answered its pings")
	}
	kinds := map[string]int{}
	for _, in := range reg.Snapshot() {
		kinds[in.Kind]++
	}
	if kinds["ws"] != 1 {
		t.Fatalf("%d WebSocket actors alive, want only the good client's: %v", kinds["ws"], kinds)
	}
	if !strings.Contains(addr.String(), "127.0.0.1") {
		t.Fatalf("server bound %v, not loopback", addr)
	}
}
