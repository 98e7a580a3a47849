package websocket_test

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/http/websocket"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/wsmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// An echo WebSocket on a server route, each socket with a handler of its
// own, and a client socket that talks to it and closes.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()

	echo := func() *actor.Props {
		return actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*wsmsg.Text); ok {
				ctx.Send(ctx.Sender(), &wsmsg.Text{Data: append([]byte("echo: "), m.Data...)})
				ctx.Send(ctx.Sender(), &messages.ResumeReading{Credits: 1}) // one more message, please
			}
		})
	}
	server := system.Root.Spawn(httpactor.Props(httpactor.Options{
		Routes: []httpactor.Route{{Pattern: "GET /ws", WebSocket: &websocket.Options{NewHandler: echo}}},
	}))
	defer func() { _ = system.Root.StopFuture(server).Wait() }()
	res, _ := system.Root.RequestFuture(server, &httpmsg.GetBound{}, time.Second).Result()
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr

	done := make(chan struct{})
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *wsmsg.Opened:
			ctx.Send(m.Socket, &wsmsg.Text{Data: []byte("hello")})
		case *wsmsg.Text:
			fmt.Println(string(m.Data))
			ctx.Send(ctx.Sender(), &wsmsg.Close{Code: wsmsg.CodeNormal, Reason: "bye"})
		case *wsmsg.Closed:
			fmt.Println("closed:", m.Reason, m.Code)
			close(done)
		}
	}))
	client := system.Root.Spawn(websocket.Props(websocket.Options{URL: fmt.Sprintf("ws://%s/ws", addr), Handler: handler}))
	<-done
	_ = system.Root.StopFuture(client).Wait()
	// Output:
	// echo: hello
	// closed: closed-by-us 1000
}
