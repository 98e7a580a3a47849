package evloop

import (
	"io"
	"net/netip"
	"time"

	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/osnet"
)

// Options configures a Network. The zero value is ready to use.
type Options struct {
	// Loops is the number of event loops streams are spread over. Default
	// half of runtime.GOMAXPROCS(0) at New, at least one.
	//
	// With fewer loops than Ps, a loop blocks its thread in epoll_wait, as
	// nbio and gnet do, and the Ps left over run everything else (the
	// actors a loop's handlers send to, the rest of the program). With as
	// many loops as Ps or more, a loop instead parks in Go's poller like
	// any goroutine waiting on a socket, because a thread blocked in a
	// system call is a P the scheduler must take back and hand over at
	// every wait. Measured on 2 cores by tests/perf (BenchmarkEcho, 50
	// connections, 64 B x16 in flight), server CPU per message against a
	// goroutine-per-connection echo, before Coalesce: one blocking loop
	// 1.02-1.14x; one parked loop 1.30-1.38x; two parked loops
	// 1.28-1.32x; two blocking loops 1.58x. One loop is one core, though:
	// HTTP under wrk -c100 measured 1.19-1.36x net/http's requests/s on
	// one blocking loop and 1.30x on two parked ones, at 0.63-0.77x and
	// 0.75x its CPU per request.
	Loops int
	// Coalesce is how long a loop under load may pause after a busy turn
	// before it looks for more events, so that sockets gather more bytes
	// per read. A loop pauses only while that measurably pays: while its
	// reads are at least half as large again as without pausing, which it
	// checks from time to time (see coalesce_linux.go for the figures).
	// Events that arrive during a pause wait for its end (that is the
	// point); a write, Close or other call from another goroutine ends it
	// at once. Default 200 µs; negative: never pause.
	Coalesce time.Duration
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
