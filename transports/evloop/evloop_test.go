package evloop_test

import (
	"testing"

	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/evloop"
	"github.com/microstack-go/microstack/transports/streamtest"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	for _, b := range []struct {
		name string
		new  func() transports.Network
	}{
		{"evloop", func() transports.Network { return evloop.New(evloop.Options{}) }},
		{"evloop-1-loop", func() transports.Network { return evloop.New(evloop.Options{Loops: 1}) }},
	} {
		t.Run(b.name, func(t *testing.T) { streamtest.Run(t, b.new) })
	}
}
