//go:build !race

// Not under -race: two protoactor remote nodes in one process (see
// remote_test.go).

package remote_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/remote"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

// An agent serves its chain on loopback; another process dials it and uses
// its store with storemsg's messages.
func ExampleServe() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	rt := runtime.New(runtime.Options{
		Name:     "agent",
		Logger:   testkit.QuietLogger(),
		Children: []supervisor.ChildSpec{store.ChildSpec("store", store.Options{Dir: filepath.Join(dir, "store"), Create: true, Logger: testkit.QuietLogger()})},
	})
	if err := rt.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Stop(context.Background())
	sec := remote.Security{Secret: []byte("a shared secret, 16 bytes or more")}
	srv, err := remote.Serve(rt, remote.ServeOptions{AgentID: "agent-1", Security: sec, Logger: testkit.QuietLogger()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	// In another process:
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := remote.Dial(ctx, srv.Addr(), remote.DialOptions{Security: sec, Logger: testkit.QuietLogger()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_ = c.Put(ctx, storemsg.Put{Key: []byte("greeting"), Value: []byte("hello")})
	got, _ := c.Get(ctx, []byte("greeting"))
	tree, _ := c.Tree(ctx)
	fmt.Printf("%s: %d actors, greeting %q\n", tree.Agent, len(tree.Actors), got.Value)
	// Output: agent-1: 3 actors, greeting "hello"
}
