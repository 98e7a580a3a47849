package netifmsg_test

import (
	"fmt"
	"net/netip"

	"github.com/microstack-go/microstack/messages/netifmsg"
)

// A TCP client that dialed from a local address checks, on each change,
// whether that address is still on an interface that is up.
func Example() {
	local := netip.MustParseAddr("10.1.2.3")
	ev := &netifmsg.InterfacesChanged{
		Removed: []netifmsg.Address{{Interface: "wlan0", Prefix: netip.MustParsePrefix("10.1.2.3/24")}},
		Current: []netifmsg.Interface{{Name: "lo", Up: true}},
	}
	if !netifmsg.Has(ev.Current, local) {
		fmt.Println(local, "is gone: reconnect")
	}
	// Output:
	// 10.1.2.3 is gone: reconnect
}
