package console_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/microstack-go/microstack/actors/console"
	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// The console is an http.Handler: here on an httptest server, in the demo
// on the HTTP server actor.
func Example() {
	hub := logging.NewHub(logging.Options{})
	rt := runtime.New(runtime.Options{Name: "agent", Logger: testkit.QuietLogger()})
	_ = rt.Start()
	defer rt.Stop(context.Background())
	c, _ := console.New(console.Options{Runtime: rt, Hub: hub, Token: "an-example-token-1234"})
	defer c.Close()
	srv := httptest.NewServer(c)
	defer srv.Close()

	resp, _ := http.Get(srv.URL + "/api/tree")
	fmt.Println("without token:", resp.Status)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/api/tree", nil)
	req.Header.Set("Authorization", "Bearer an-example-token-1234")
	resp, _ = http.DefaultClient.Do(req)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("with token:", resp.Status, len(body) > 0)
	// Output:
	// without token: 401 Unauthorized
	// with token: 200 OK true
}
