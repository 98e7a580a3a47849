package http_test

import (
	"fmt"
	"io"
	"log/slog"
	nethttp "net/http"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// A server on loopback with an actor route, a mounted net/http handler and a
// token middleware that spares the health check; a client actor asks it.
func Example() {
	system := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return testkit.QuietLogger() }),
		actor.WithDeadLetterThrottleInterval(10*time.Millisecond),
	)
	defer system.Shutdown()

	hello := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if req, ok := ctx.Message().(*httpmsg.Request); ok {
			ctx.Respond(&httpmsg.Response{Body: []byte("hello " + req.PathValues["name"])})
		}
	}))
	token := func(pattern string, next nethttp.Handler) nethttp.Handler {
		if pattern == "GET /healthz" {
			return next
		}
		return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if r.Header.Get("Authorization") != "Bearer secret" {
				nethttp.Error(w, "unauthorized", nethttp.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	server := system.Root.Spawn(httpactor.Props(httpactor.Options{
		// The default endpoint is 127.0.0.1 with a free port.
		Middleware: []httpactor.Middleware{token},
		Routes: []httpactor.Route{
			{Pattern: "GET /hello/{name}", Actor: hello},
			{Pattern: "GET /healthz", Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) {
				io.WriteString(w, "ok")
			})},
		},
	}))
	defer func() { _ = system.Root.StopFuture(server).Wait() }()
	res, _ := system.Root.RequestFuture(server, &httpmsg.GetBound{}, time.Second).Result()
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr

	client := system.Root.Spawn(httpactor.ClientProps(httpactor.ClientOptions{Origin: "http://" + addr.String()}))
	defer func() { _ = system.Root.StopFuture(client).Wait() }()
	for _, req := range []*httpmsg.Request{
		{Target: "/healthz"},
		{Target: "/hello/world"},
		{Target: "/hello/world", Header: nethttp.Header{"Authorization": {"Bearer secret"}}},
	} {
		res, _ := system.Root.RequestFuture(client, req, 5*time.Second).Result()
		if r, ok := res.(*httpmsg.Response); ok {
			fmt.Printf("%s: %d %s\n", req.Target, r.Status, strings.TrimSpace(string(r.Body)))
		}
	}
	// Output:
	// /healthz: 200 ok
	// /hello/world: 401 unauthorized
	// /hello/world: 200 hello world
}
