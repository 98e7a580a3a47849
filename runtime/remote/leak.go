package remote

import "go.uber.org/goleak"

// LeakOptions are the goleak options for tests that run cluster members.
// protoactor's gossip actor and gossiper log through throttles whose timer
// goroutine sleeps a fixed 60 s once started (actor.NewThrottle), with no
// way to stop it; a test would otherwise wait a minute. Nothing else is
// ignored. Pass them to testkit.VerifyTestMain.
func LeakOptions() []goleak.Option {
	return []goleak.Option{
		// Names as the compiler emits them, inlined into the cluster
		// package, and not inlined.
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/cluster.(*Gossiper).StartGossiping.NewThrottle.func3.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/cluster.NewGossipActor.NewThrottleWithLogger.func2.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewThrottleWithLogger.func1.1"),
	}
}
