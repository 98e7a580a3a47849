package store_test

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages/storemsg"
)

// A store in memory: put a key, read it back, list a prefix. A store on
// disk takes Options{Dir: path} instead and answers the Put only once the
// value is synced.
func Example() {
	system := actor.NewActorSystem()
	defer system.Shutdown()
	pid := system.Root.Spawn(store.Props(store.Options{InMemory: true}))
	defer func() { _ = system.Root.StopFuture(pid).Wait() }()

	ask := func(msg any) any {
		res, err := system.Root.RequestFuture(pid, msg, 5*time.Second).Result()
		if err != nil {
			return err
		}
		return res
	}
	ask(&storemsg.Put{Key: []byte("agent/name"), Value: []byte("meshagent")})
	ask(&storemsg.Put{Key: []byte("agent/port"), Value: []byte("443")})
	ask(&storemsg.Put{Key: []byte("agent/debug"), Value: []byte("on"), Cached: true}) // memory only

	got := ask(&storemsg.Get{Key: []byte("agent/name")}).(*storemsg.Got)
	fmt.Printf("%s = %s\n", got.Key, got.Value)

	page := ask(&storemsg.List{Prefix: []byte("agent/")}).(*storemsg.Listed)
	for _, it := range page.Items {
		fmt.Printf("%s = %s (cached: %v)\n", it.Key, it.Value, it.Cached)
	}
	// Output:
	// agent/name = meshagent
	// agent/debug = on (cached: true)
	// agent/name = meshagent (cached: false)
	// agent/port = 443 (cached: false)
}
