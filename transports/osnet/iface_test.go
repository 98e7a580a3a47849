package osnet

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/transports"
)

func TestInterfacesIncludeLoopback(t *testing.T) {
	ifs, err := New(Options{}).Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&transports.FlagLoopback != 0 && slices.Contains(ifc.Prefixes, netip.MustParsePrefix("127.0.0.1/8")) {
			return
		}
	}
	t.Fatalf("no loopback with 127.0.0.1/8 in %+v", ifs)
}

func TestWatchReportsPolledChanges(t *testing.T) {
	clk := clock.NewManual(time.Unix(0, 0))
	n := New(Options{Clock: clk, PollInterval: time.Second})
	eth := transports.Interface{Index: 2, Name: "eth0", Flags: transports.FlagUp, MTU: 1500,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.10/24")}}
	var mu sync.Mutex
	current := []transports.Interface{eth}
	n.list = func() ([]transports.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(current), nil
	}
	var got []string
	w, err := n.WatchInterfaces(func(ev transports.InterfaceEvent) {
		got = append(got, fmt.Sprintf("%v %s %v", ev.Kind, ev.Interface.Name, ev.Prefix))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	set := func(ifs ...transports.Interface) {
		mu.Lock()
		current = ifs
		mu.Unlock()
		clk.Advance(time.Second)
	}
	down := eth
	down.Flags = 0
	down.Prefixes = []netip.Prefix{netip.MustParsePrefix("192.0.2.11/24")}
	set(down)
	set() // unplugged
	clk.Advance(time.Second)
	want := []string{
		"interface-added eth0 invalid Prefix",
		"address-added eth0 192.0.2.10/24",
		"address-removed eth0 192.0.2.10/24",
		"interface-changed eth0 invalid Prefix",
		"address-added eth0 192.0.2.11/24",
		"address-removed eth0 192.0.2.11/24",
		"interface-removed eth0 invalid Prefix",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n%q\nwant:\n%q", got, want)
	}
	w.Close()
	set(eth)
	if len(got) != len(want) {
		t.Fatal("event after Close")
	}
}

func TestWatchOnTheRealSystemStartsWithCurrentInterfaces(t *testing.T) {
	n := New(Options{PollInterval: 10 * time.Millisecond})
	var mu sync.Mutex
	added := 0
	w, err := n.WatchInterfaces(func(ev transports.InterfaceEvent) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind == transports.InterfaceAdded {
			added++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a few real polls
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if added == 0 {
		t.Fatal("no interface reported")
	}
}
