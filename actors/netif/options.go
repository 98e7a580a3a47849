package netif

import (
	"github.com/asynkron/protoactor-go/actor"

	"log/slog"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures an interface monitor actor. The zero value watches
// the operating system's interfaces and coalesces changes within 250 ms.
type Options struct {
	// Network is watched with its WatchInterfaces. Default osnet.New: the
	// operating system's interfaces, read every osnet.Options.PollInterval
	// (5 s by default); give an osnet network with a shorter interval to
	// see changes sooner.
	Network transports.Network
	// Settle is how long the monitor waits after the first change of a
	// burst before it publishes, so that a link coming up with its
	// addresses makes one event. Default 250 ms.
	Settle time.Duration
	// Subscribers are subscribed when the actor starts, as if each had
	// sent Subscribe (they get Subscribed first).
	Subscribers []*actor.PID
	// MaxSubscribers bounds the subscriber list. Default 1024.
	MaxSubscribers int
	// Clock times the settle delay. Default: the chain's clock
	// (runtime.ClockOf), which is the wall clock outside a chain.
	Clock clock.Clock
	// Logger receives the actor's logs. Default: discarded.
	Logger *slog.Logger
}

const (
	defaultSettle         = 250 * time.Millisecond
	defaultMaxSubscribers = 1024
)

func (o Options) withDefaults() Options {
	if o.Network == nil {
		o.Network = osnet.New(osnet.Options{})
	}
	if o.Settle <= 0 {
		o.Settle = defaultSettle
	}
	if o.MaxSubscribers <= 0 {
		o.MaxSubscribers = defaultMaxSubscribers
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
