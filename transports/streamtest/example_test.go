package streamtest_test

import (
	"testing"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/streamtest"
)

// A backend's test file holds it to the stream contract in one call.
func Example() {
	_ = func(t *testing.T) {
		streamtest.Run(t, func() transports.Network { return evloop.New(evloop.Options{}) })
	}
}
