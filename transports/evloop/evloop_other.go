//go:build !linux

package evloop

import (
	"context"
	"net/netip"

	"github.com/microstack-go/microstack/transports"
)

// Supported reports whether this system has the event-loop backend. Where
// it does not, New's Network serves everything with transports/osnet.
const Supported = false

// New returns a Network. On this system it is the portable backend
// (transports/osnet) behind the same type; see Supported.
func New(opts Options) *Network {
	p := portable(opts)
	return &Network{portable: p, impl: impl{p}}
}

type impl struct{ p transports.Network }

// Dial opens a stream with the portable backend.
func (i impl) Dial(ctx context.Context, remote netip.AddrPort, opts transports.DialOptions) (transports.Stream, error) {
	return i.p.Dial(ctx, remote, opts)
}

// Listen opens a listener with the portable backend.
func (i impl) Listen(local netip.AddrPort, opts transports.ListenOptions) (transports.Listener, error) {
	return i.p.Listen(local, opts)
}
