package tcpmsg_test

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/transports"
)

// A Connect to a name through a proxy, with TLS pinned to the server's
// certificate hash, and how a handler tells the failures apart.
func Example() {
	connect := &tcpmsg.Connect{
		Host: "server.example:443",
		Options: tcpmsg.ConnectOptions{
			Timeout: 10 * time.Second,
			Proxy:   "http://proxy.example:3128",
			TLS:     &tcpmsg.TLSOptions{Pins: [][]byte{make([]byte, 48)}, ALPN: []string{"h2"}},
		},
	}
	// What a connection actor might answer.
	answers := []any{
		&tcpmsg.Connected{Local: netip.MustParseAddrPort("10.0.0.5:50000"), Remote: netip.MustParseAddrPort("10.0.0.1:3128"),
			Host: connect.Host, Proxy: &tcpmsg.ProxyRoute{URL: "http://proxy.example:3128", Source: "Connect"}},
		&messages.CommandFailed{Cmd: connect, Err: fmt.Errorf("tcp: connect: %w: CONNECT: 407", tcpmsg.ErrProxy)},
		&messages.CommandFailed{Cmd: connect, Err: fmt.Errorf("tcp: connect: %w", transports.ErrRefused)},
	}
	for _, a := range answers {
		switch m := a.(type) {
		case *tcpmsg.Connected:
			fmt.Println("connected to", m.Host, "via", m.Proxy.URL, "from", m.Proxy.Source)
		case *messages.CommandFailed:
			switch {
			case errors.Is(m.Err, tcpmsg.ErrProxy):
				fmt.Println("the proxy refused")
			case errors.Is(m.Err, transports.ErrRefused):
				fmt.Println("nothing listens there")
			}
		}
	}
	// Output:
	// connected to server.example:443 via http://proxy.example:3128 from Connect
	// the proxy refused
	// nothing listens there
}
