package stunmsg_test

import (
	"fmt"
	"net/netip"

	"github.com/microstack-go/microstack/messages/stunmsg"
)

// A binding request names its server; the answer says how the server saw
// this host.
func Example() {
	req := &stunmsg.Bind{Server: "stun:127.0.0.1:3478"}
	res := &stunmsg.MappedAddress{Server: netip.MustParseAddrPort("127.0.0.1:3478"), Addr: netip.MustParseAddrPort("127.0.0.1:50123"), Attempts: 1}
	fmt.Println(req.Server, "->", res.Addr, "after", res.Attempts, "request")
	// Output:
	// stun:127.0.0.1:3478 -> 127.0.0.1:50123 after 1 request
}
