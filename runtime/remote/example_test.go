package remote_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/microstack-go/microstack/messages/remotemsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/remote"
)

// Which messages may cross processes: plain data registered as
// remote-safe. A Bind names a handler PID of its own process.
func ExampleRemotable() {
	fmt.Println(remote.Remotable(&storemsg.Get{}), remote.Remotable(&tcpmsg.Write{}), remote.Remotable(&tcpmsg.Bind{}))
	// Output: true true false
}

// A controller joins a cluster of agents as a client and lists them with
// their health. Agents join with remote.Serve and ServeOptions.Cluster.
func ExampleNewController() {
	ctl, err := remote.NewController(remote.ControllerOptions{
		Cluster:  remote.ClusterOptions{Seeds: []string{"127.0.0.1:6330", "127.0.0.1:6331"}},
		Security: remote.Security{Secret: []byte("a shared secret, 16 bytes or more")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ctl.Close()
	agents, _ := ctl.List(context.Background())
	for _, a := range agents {
		fmt.Println(a.ID, a.Status, a.Address)
	}
	if c, err := ctl.Agent("agent-1"); err == nil {
		_, err := c.Request(context.Background(), "@store", &storemsg.Get{Key: []byte("agent/id")})
		fmt.Println(errors.Is(err, remotemsg.ErrNotRemotable))
	}
}
