package evloop_test

import (
	"fmt"
	"testing"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/streamtest"
)

// The conformance suite for both ways a loop waits, with one loop and
// with two, whatever the machine's GOMAXPROCS makes the default.
func TestConformanceWaitModes(t *testing.T) {
	for _, block := range []bool{true, false} {
		for _, loops := range []int{1, 2} {
			name := fmt.Sprintf("parked-%d", loops)
			if block {
				name = fmt.Sprintf("blocking-%d", loops)
			}
			t.Run(name, func(t *testing.T) {
				streamtest.Run(t, func() transports.Network { return evloop.NewWaiting(evloop.Options{}, loops, block) })
			})
		}
	}
}
