package udpmsg_test

import (
	"fmt"
	"net/netip"

	"github.com/microstack-go/microstack/messages/udpmsg"
)

// An echo handler answers each datagram with a SendTo back to its sender,
// and says when one was too long for the socket.
func Example() {
	echo := func(d *udpmsg.Datagram) *udpmsg.SendTo {
		if d.Truncated {
			fmt.Println("datagram from", d.From, "was longer than the socket takes")
		}
		return &udpmsg.SendTo{To: d.From, Data: d.Data}
	}
	reply := echo(&udpmsg.Datagram{From: netip.MustParseAddrPort("127.0.0.1:40000"), Data: []byte("ping")})
	fmt.Printf("%s to %v\n", reply.Data, reply.To)
	echo(&udpmsg.Datagram{From: netip.MustParseAddrPort("[::1]:40001"), Data: make([]byte, 8), Truncated: true})
	// Output:
	// ping to 127.0.0.1:40000
	// datagram from [::1]:40001 was longer than the socket takes
}
