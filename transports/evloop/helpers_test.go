package evloop

import (
	"net"
	"net/netip"
	"testing"

	"github.com/microstack-go/microstack/transports"
)

// acceptOne listens on loopback with n, dials it, and starts the accepted
// stream with the handler funcs makes for it (its Closed is kept and
// followed by closing the returned channel). It returns the accepted
// stream, the client's side and that channel; the client and the listener
// close when the test ends.
func acceptOne(t *testing.T, n *Network, funcs func(s transports.Stream) transports.StreamFuncs) (transports.Stream, net.Conn, <-chan struct{}) {
	t.Helper()
	l, err := n.Listen(netip.MustParseAddrPort("127.0.0.1:0"), transports.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	streams := make(chan transports.Stream, 1)
	closed := make(chan struct{})
	lclosed := make(chan struct{})
	l.Start(transports.ListenerFuncs{
		Accept: func(s transports.Stream) {
			f := funcs(s)
			then := f.Closed
			f.Closed = func(err error) {
				if then != nil {
					then(err)
				}
				close(closed)
			}
			s.Start(f)
			streams <- s
		},
		Closed: func(error) { close(lclosed) },
	})
	t.Cleanup(func() {
		_ = l.Close()
		<-lclosed
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return <-streams, c, closed
}
