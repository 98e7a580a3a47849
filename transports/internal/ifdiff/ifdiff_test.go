package ifdiff

import (
	"net/netip"
	"testing"

	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/transports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDiff(t *testing.T) {
	p := netip.MustParsePrefix("192.0.2.1/24")
	eth := transports.Interface{Index: 2, Name: "eth0", Flags: transports.FlagUp, Prefixes: []netip.Prefix{p}}
	renumbered := eth
	renumbered.Index = 3
	for _, tc := range []struct {
		name     string
		old, cur []transports.Interface
		want     []transports.InterfaceEventKind
	}{
		{"same", []transports.Interface{eth}, []transports.Interface{eth}, nil},
		{"added", nil, []transports.Interface{eth}, []transports.InterfaceEventKind{transports.InterfaceAdded, transports.AddressAdded}},
		{"removed", []transports.Interface{eth}, nil, []transports.InterfaceEventKind{transports.AddressRemoved, transports.InterfaceRemoved}},
		{"new index", []transports.Interface{eth}, []transports.Interface{renumbered}, []transports.InterfaceEventKind{
			transports.AddressRemoved, transports.InterfaceRemoved, transports.InterfaceAdded, transports.AddressAdded}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := Diff(tc.old, tc.cur)
			if len(evs) != len(tc.want) {
				t.Fatalf("got %d events %+v, want %v", len(evs), evs, tc.want)
			}
			for i, ev := range evs {
				if ev.Kind != tc.want[i] {
					t.Errorf("event %d is %v, want %v", i, ev.Kind, tc.want[i])
				}
			}
		})
	}
}
