package http_test

import (
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/evloop"
)

// The event-loop engine on the event-loop transport serves an actor route
// with no goroutine per connection; the handler answers as on any route.
func ExampleEngine() {
	system := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }))
	defer system.Shutdown()
	hello := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{Body: []byte("hello " + req.PathValues["name"])})
		}
	}))
	server := system.Root.Spawn(httpactor.Props(httpactor.Options{
		Engine:  httpactor.EngineEventLoop,
		Network: evloop.New(evloop.Options{}),
		Routes:  []httpactor.Route{{Pattern: "GET /hello/{name}", Actor: hello}},
	}))
	defer func() { _ = system.Root.StopFuture(server).Wait() }()
	res, _ := system.Root.RequestFuture(server, &httpmsg.GetBound{}, time.Second).Result()
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr

	tr := &nethttp.Transport{}
	defer tr.CloseIdleConnections()
	client := &nethttp.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, path := range []string{"/hello/world", "/nothing"} {
		resp, err := client.Get("http://" + addr.String() + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Printf("%s: %d %s", path, resp.StatusCode, body)
		fmt.Println()
	}
	// Output:
	// /hello/world: 200 hello world
	// /nothing: 404 404 page not found
}
