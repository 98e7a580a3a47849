package discoverymsg_test

import (
	"fmt"
	"net/netip"

	"github.com/microstack-go/microstack/messages/discoverymsg"
)

// A subscriber keeps its own view of the LAN from PeerSeen and PeerLost.
func Example() {
	peers := map[string]discoverymsg.Peer{}
	for _, e := range []any{
		&discoverymsg.PeerSeen{Peer: discoverymsg.Peer{ID: "kitchen", Addr: netip.MustParseAddrPort("192.0.2.7:16990")}},
		&discoverymsg.PeerSeen{Peer: discoverymsg.Peer{ID: "garage", Addr: netip.MustParseAddrPort("192.0.2.8:16990")}},
		&discoverymsg.PeerLost{ID: "kitchen"},
	} {
		switch m := e.(type) {
		case *discoverymsg.PeerSeen:
			peers[m.Peer.ID] = m.Peer
		case *discoverymsg.PeerLost:
			delete(peers, m.ID)
		}
	}
	fmt.Println(len(peers), peers["garage"].Addr)
	// Output:
	// 1 192.0.2.8:16990
}
