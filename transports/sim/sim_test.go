package sim

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// scenario runs datagrams and a stream over a faulty link and returns the
// trace and what arrived.
func scenario(t *testing.T, seed uint64) []string {
	w := newWorld(t, Config{Seed: seed, Link: LinkConfig{Latency: 5 * time.Millisecond, Jitter: 5 * time.Millisecond,
		Loss: 0.2, Duplicate: 0.1, Reorder: 0.1}})
	pa, _ := w.packet(w.a, netip.AddrPortFrom(addrA, 5000), transports.PacketOptions{})
	_, rb := w.packet(w.b, netip.AddrPortFrom(addrB, 5000), transports.PacketOptions{})
	w.listen(w.b, 80, transports.ListenOptions{}, func(s transports.Stream) *rec { return newRec(t, s) })
	s, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr := newRec(t, nil)
	s.Start(cr)
	for i := range 100 {
		pa.SendTo([]byte{byte(i)}, netip.AddrPortFrom(addrB, 5000))
		s.Write([]byte{byte(i)})
		w.clk.Advance(time.Millisecond)
	}
	w.run(2 * time.Second)
	var out []string
	for _, e := range w.n.Trace() {
		out = append(out, e.String())
	}
	for _, p := range rb.got() {
		out = append(out, fmt.Sprintf("got %d from %v", p.Data[0], p.From))
	}
	d, _, _, _ := cr.Snapshot()
	return append(out, fmt.Sprintf("echo %x", d))
}

func TestSameSeedReplaysTheSameRun(t *testing.T) {
	one, two := scenario(t, 7), scenario(t, 7)
	if !slices.Equal(one, two) {
		for i := range min(len(one), len(two)) {
			if one[i] != two[i] {
				t.Fatalf("runs diverge at step %d:\n%s\n%s", i, one[i], two[i])
			}
		}
		t.Fatalf("runs differ in length: %d, %d", len(one), len(two))
	}
	if other := scenario(t, 8); slices.Equal(one, other) {
		t.Fatal("seeds 7 and 8 gave the same run")
	}
}

func TestDatagramLossAndDuplicationFollowTheConfiguration(t *testing.T) {
	w := newWorld(t, Config{Seed: 1, Link: LinkConfig{Latency: time.Millisecond, Loss: 0.2, Duplicate: 0.1}})
	pa, _ := w.packet(w.a, netip.AddrPortFrom(addrA, 0), transports.PacketOptions{})
	pb, rb := w.packet(w.b, netip.AddrPortFrom(addrB, 0), transports.PacketOptions{})
	const sent = 4000
	for i := range sent {
		pa.SendTo([]byte(fmt.Sprint(i)), pb.LocalAddr())
		if i%100 == 0 {
			w.clk.Advance(time.Millisecond)
		}
	}
	w.run(10 * time.Millisecond)
	lost, dups := w.countKinds("drop-loss"), w.countKinds("duplicate")
	if got := len(rb.got()); got != sent-lost+dups {
		t.Fatalf("received %d, want sent-lost+dup = %d", got, sent-lost+dups)
	}
	if r := float64(lost) / sent; r < 0.17 || r > 0.23 {
		t.Errorf("loss rate %.3f, configured 0.2", r)
	}
	if r := float64(dups) / float64(sent-lost); r < 0.08 || r > 0.12 {
		t.Errorf("duplication rate %.3f, configured 0.1", r)
	}
}

func TestPartitionDropsDatagramsUntilHealed(t *testing.T) {
	w := newWorld(t, Config{Link: LinkConfig{Latency: 2 * time.Millisecond}})
	pa, _ := w.packet(w.a, netip.AddrPortFrom(addrA, 0), transports.PacketOptions{})
	pb, rb := w.packet(w.b, netip.AddrPortFrom(addrB, 0), transports.PacketOptions{})
	send := func() {
		for range 10 {
			if err := pa.SendTo([]byte("x"), pb.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		w.run(10 * time.Millisecond)
	}
	w.n.Partition(w.a, w.b)
	send()
	if got := len(rb.got()); got != 0 {
		t.Fatalf("%d datagrams crossed the partition", got)
	}
	w.n.Heal(w.a, w.b)
	send()
	if got := len(rb.got()); got != 10 {
		t.Fatalf("%d datagrams after healing, want 10", got)
	}
}

func TestStreamStaysOrderedUnderJitterReorderAndLoss(t *testing.T) {
	w := newWorld(t, Config{Seed: 3, Link: LinkConfig{Latency: 10 * time.Millisecond, Jitter: 50 * time.Millisecond,
		Reorder: 0.5, Loss: 0.2}})
	accepted := w.listenRecs(80)
	s, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(newRec(t, nil))
	var want bytes.Buffer
	for i := range 500 {
		b := fmt.Appendf(nil, "%d,", i)
		want.Write(b)
		s.Write(b)
		if i%10 == 0 {
			w.clk.Advance(time.Millisecond)
		}
	}
	w.run(5 * time.Second)
	got, _, _, _ := (*accepted)[0].Snapshot()
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("stream bytes out of order or missing:\n got %.80q...\nwant %.80q...", got, want.Bytes())
	}
	if w.countKinds("retransmit") == 0 {
		t.Error("no segment paid for loss")
	}
}

func (w *world) listenRecs(port uint16) *[]*rec {
	_, accepted := w.listen(w.b, port, transports.ListenOptions{}, func(transports.Stream) *rec { return newRec(w.t, nil) })
	return accepted
}

func TestPartitionHoldsStreamBytesUntilHealed(t *testing.T) {
	w := newWorld(t, Config{Link: LinkConfig{Latency: 5 * time.Millisecond}})
	accepted := w.listenRecs(80)
	s, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr := newRec(t, nil)
	s.Start(cr)
	s.Write([]byte("before "))
	w.run(20 * time.Millisecond)
	w.n.Partition(w.a, w.b)
	s.Write([]byte("during "))
	w.run(time.Minute)
	server := (*accepted)[0]
	if got, _, _, _ := server.Snapshot(); string(got) != "before " {
		t.Fatalf("during the partition the server has %q", got)
	}
	if _, _, closed, _ := cr.Snapshot(); closed {
		t.Fatal("stream closed by a partition without PartitionTimeout")
	}
	w.n.Heal(w.a, w.b)
	s.Write([]byte("after"))
	w.run(50 * time.Millisecond)
	if got, _, _, _ := server.Snapshot(); string(got) != "before during after" {
		t.Fatalf("after healing the server has %q", got)
	}
}

func TestPartitionTimeoutResetsAndTheClientReconnects(t *testing.T) {
	w := newWorld(t, Config{Link: LinkConfig{Latency: 5 * time.Millisecond}, PartitionTimeout: 10 * time.Second})
	var servers []transports.Stream
	_, accepted := w.listen(w.b, 80, transports.ListenOptions{}, func(s transports.Stream) *rec {
		servers = append(servers, s)
		return newRec(t, nil)
	})
	s, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr := newRec(t, nil)
	s.Start(cr)
	w.run(20 * time.Millisecond)
	w.n.Partition(w.a, w.b)
	s.Write([]byte("lost in the middle"))
	w.run(11 * time.Second)
	_, _, closed, cerr := cr.Snapshot()
	if !closed || !errors.Is(cerr, transports.ErrTimeout) || !errors.Is(cerr, ErrPartitioned) {
		t.Fatalf("client closed=%v err=%v, want ErrTimeout and ErrPartitioned", closed, cerr)
	}
	w.n.Heal(w.a, w.b)
	servers[0].Write([]byte("anyone there?"))
	w.run(50 * time.Millisecond)
	if _, _, closed, serr := (*accepted)[0].Snapshot(); !closed || !errors.Is(serr, transports.ErrReset) {
		t.Fatalf("server closed=%v err=%v, want ErrReset", closed, serr)
	}
	s2, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
	if err != nil {
		t.Fatalf("reconnect after healing: %v", err)
	}
	s2.Start(newRec(t, nil))
	s2.Write([]byte("again"))
	w.run(20 * time.Millisecond)
	if got, _, _, _ := (*accepted)[1].Snapshot(); string(got) != "again" {
		t.Fatalf("second connection carried %q", got)
	}
}

func TestDialFailures(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(w *world)
		to    netip.AddrPort
		want  []error
	}{
		{"refused", func(*world) {}, netip.AddrPortFrom(addrB, 81), []error{transports.ErrRefused}},
		{"partition", func(w *world) { w.n.Partition(w.a, w.b) }, netip.AddrPortFrom(addrB, 80), []error{transports.ErrTimeout, ErrPartitioned}},
		{"no such host", func(*world) {}, netip.MustParseAddrPort("10.9.9.9:80"), []error{transports.ErrUnreachable}},
		{"port zero", func(*world) {}, netip.AddrPortFrom(addrB, 0), []error{transports.ErrInvalidAddress}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{Link: LinkConfig{Latency: 5 * time.Millisecond}, ConnectTimeout: 3 * time.Second})
			w.listenRecs(80)
			tc.setup(w)
			var err error
			if tc.want[0] == transports.ErrUnreachable || tc.want[0] == transports.ErrInvalidAddress {
				_, err = w.a.Dial(t.Context(), tc.to, transports.DialOptions{})
			} else {
				_, err = w.dial(w.a, tc.to, transports.DialOptions{})
			}
			for _, want := range tc.want {
				if !errors.Is(err, want) {
					t.Errorf("Dial: %v, want %v", err, want)
				}
			}
		})
	}
}

func TestSuspendedReaderStallsTheWriterAtTheWindow(t *testing.T) {
	w := newWorld(t, Config{Link: LinkConfig{Latency: time.Millisecond}})
	var server transports.Stream
	_, accepted := w.listen(w.b, 80, transports.ListenOptions{}, func(s transports.Stream) *rec {
		server = s
		s.SetReading(false)
		return newRec(t, nil)
	})
	s, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cr := newRec(t, nil)
	s.Start(cr)
	const total = 1 << 20
	s.Write(make([]byte, total))
	w.run(time.Second)
	if _, written, _, _ := cr.Snapshot(); written != defaultWindow {
		t.Fatalf("written %d while the reader is suspended, want the window %d", written, defaultWindow)
	}
	server.SetReading(true)
	w.run(time.Second)
	if got, _, _, _ := (*accepted)[0].Snapshot(); len(got) != total {
		t.Fatalf("server read %d of %d after resuming", len(got), total)
	}
	if _, written, _, _ := cr.Snapshot(); written != total {
		t.Fatalf("written %d, want %d", written, total)
	}
}

func TestCloseAndAbortAreToldApart(t *testing.T) {
	for _, tc := range []struct {
		name            string
		end             func(transports.Stream) error
		local, fromPeer error
	}{
		{"close", transports.Stream.Close, nil, transports.ErrPeerClosed},
		{"abort", transports.Stream.Abort, transports.ErrAborted, transports.ErrReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, Config{Link: LinkConfig{Latency: time.Millisecond}})
			accepted := w.listenRecs(80)
			s, err := w.dial(w.a, netip.AddrPortFrom(addrB, 80), transports.DialOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cr := newRec(t, nil)
			s.Start(cr)
			s.Write([]byte("bye"))
			w.run(10 * time.Millisecond)
			tc.end(s)
			w.run(10 * time.Millisecond)
			if _, _, closed, err := cr.Snapshot(); !closed || !errors.Is(err, tc.local) && err != tc.local {
				t.Errorf("local closed=%v err=%v, want %v", closed, err, tc.local)
			}
			if _, _, closed, err := (*accepted)[0].Snapshot(); !closed || !errors.Is(err, tc.fromPeer) {
				t.Errorf("peer closed=%v err=%v, want %v", closed, err, tc.fromPeer)
			}
		})
	}
}

func TestMulticastReachesOnlyJoinedSockets(t *testing.T) {
	w := newWorld(t, Config{Link: LinkConfig{Latency: time.Millisecond}})
	g1, g2 := netip.MustParseAddr("239.0.0.1"), netip.MustParseAddr("239.0.0.2")
	any := netip.AddrPortFrom(netip.IPv4Unspecified(), 1900)
	pa, ra := w.packet(w.a, any, transports.PacketOptions{ReuseAddr: true})
	pb, rb := w.packet(w.b, any, transports.PacketOptions{ReuseAddr: true})
	pc, rc := w.packet(w.c, any, transports.PacketOptions{ReuseAddr: true})
	must(t, pa.JoinGroup(g1, ""))
	must(t, pb.JoinGroup(g1, "eth0"))
	must(t, pc.JoinGroup(g2, "eth0"))
	must(t, pa.SendTo([]byte("one"), netip.AddrPortFrom(g1, 1900)))
	must(t, pa.SendTo([]byte("two"), netip.AddrPortFrom(g2, 1900)))
	w.run(5 * time.Millisecond)
	names := func(r *pktRec) string {
		var s []string
		for _, p := range r.got() {
			s = append(s, fmt.Sprintf("%s>%v", p.Data, p.To))
		}
		return strings.Join(s, " ")
	}
	for _, tc := range []struct {
		host string
		r    *pktRec
		want string
	}{{"a (loopback)", ra, "one>239.0.0.1"}, {"b", rb, "one>239.0.0.1"}, {"c", rc, "two>239.0.0.2"}} {
		if got := names(tc.r); got != tc.want {
			t.Errorf("%s got %q, want %q", tc.host, got, tc.want)
		}
	}
	must(t, w.b.RemoveInterface("eth0"))
	w.n.Partition(w.a, w.c)
	pa.SendTo([]byte("three"), netip.AddrPortFrom(g1, 1900))
	pa.SendTo([]byte("four"), netip.AddrPortFrom(g2, 1900))
	w.run(5 * time.Millisecond)
	if len(rb.got()) != 1 || len(rc.got()) != 1 {
		t.Errorf("after b lost its interface and c was cut off: b %q, c %q", names(rb), names(rc))
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOversizedDatagramIsTruncatedAndBadSendsFail(t *testing.T) {
	w := newWorld(t, Config{})
	pa, _ := w.packet(w.a, netip.AddrPortFrom(addrA, 0), transports.PacketOptions{})
	pb, rb := w.packet(w.b, netip.AddrPortFrom(addrB, 0), transports.PacketOptions{MaxDatagram: 10})
	for _, tc := range []struct {
		to   netip.AddrPort
		n    int
		want error
	}{
		{netip.AddrPort{}, 1, transports.ErrInvalidAddress},
		{netip.MustParseAddrPort("[fd00::1]:9"), 1, transports.ErrInvalidAddress},
		{netip.MustParseAddrPort("255.255.255.255:9"), 1, transports.ErrInvalidAddress},
		{netip.MustParseAddrPort("10.9.9.9:9"), 1, transports.ErrUnreachable},
		{pb.LocalAddr(), 70000, transports.ErrTooLarge},
	} {
		if err := pa.SendTo(make([]byte, tc.n), tc.to); !errors.Is(err, tc.want) {
			t.Errorf("SendTo(%v): %v, want %v", tc.to, err, tc.want)
		}
	}
	must(t, pa.SendTo(make([]byte, 25), pb.LocalAddr()))
	w.run(time.Millisecond)
	got := rb.got()
	if len(got) != 1 || !got[0].Truncated || len(got[0].Data) != 10 {
		t.Fatalf("got %+v, want one truncated 10-byte datagram", got)
	}
}

func TestInterfaceChangesAreWatched(t *testing.T) {
	w := newWorld(t, Config{})
	var got []string
	watch, err := w.a.WatchInterfaces(func(ev transports.InterfaceEvent) {
		got = append(got, fmt.Sprintf("%v %s %v", ev.Kind, ev.Interface.Name, ev.Prefix))
	})
	must(t, err)
	t.Cleanup(func() { watch.Close() })
	p := netip.MustParsePrefix("192.168.7.2/24")
	must(t, w.a.AddInterface(transports.Interface{Name: "wlan0", Flags: transports.FlagUp | transports.FlagMulticast, MTU: 1500}))
	must(t, w.a.AddPrefix("wlan0", p))
	must(t, w.a.SetInterfaceUp("wlan0", false))
	must(t, w.a.RemoveInterface("wlan0"))
	w.clk.Advance(0)
	want := []string{
		"interface-added eth0 invalid Prefix", "address-added eth0 10.0.0.1/24",
		"interface-added lo invalid Prefix", "address-added lo 127.0.0.1/8", "address-added lo ::1/128",
		"interface-added wlan0 invalid Prefix",
		"address-added wlan0 192.168.7.2/24",
		"interface-changed wlan0 invalid Prefix",
		"address-removed wlan0 192.168.7.2/24", "interface-removed wlan0 invalid Prefix",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n%q\nwant\n%q", got, want)
	}
}
