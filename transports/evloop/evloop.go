package evloop

import (
	"io"
	"net/netip"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures a Network. The zero value is ready to use.
type Options struct {
	// Loops is the number of event loops streams are spread over. Default
	// runtime.GOMAXPROCS(0) at New.
	Loops int
	// Portable serves what the event loops do not: TLS streams, packet
	// sockets and the interface list. Default osnet.New(osnet.Options{}).
	Portable *osnet.Network
}

// Network is a transports.Network whose plain TCP streams and listeners run
// on event loops (on Linux). It holds no resources while it has no sockets.
type Network struct {
	portable *osnet.Network
	impl     // the platform's stream side
}

var _ transports.Network = (*Network)(nil)

// ListenPacket opens a UDP socket with the portable backend.
func (n *Network) ListenPacket(local netip.AddrPort, opts transports.PacketOptions) (transports.PacketConn, error) {
	return n.portable.ListenPacket(local, opts)
}

// Interfaces lists the host's interfaces with the portable backend.
func (n *Network) Interfaces() ([]transports.Interface, error) { return n.portable.Interfaces() }

// WatchInterfaces watches the host's interfaces with the portable backend.
func (n *Network) WatchInterfaces(h func(transports.InterfaceEvent)) (io.Closer, error) {
	return n.portable.WatchInterfaces(h)
}

func portable(opts Options) *osnet.Network {
	if opts.Portable != nil {
		return opts.Portable
	}
	return osnet.New(osnet.Options{})
}
