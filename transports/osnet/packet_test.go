package osnet

import (
	"bytes"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// pktRec records datagrams.
type pktRec struct {
	mu     sync.Mutex
	pkts   []transports.Packet
	closed bool
}

func (r *pktRec) OnPacket(p transports.Packet) {
	r.mu.Lock()
	r.pkts = append(r.pkts, p)
	r.mu.Unlock()
}
func (r *pktRec) OnClosed(error) { r.mu.Lock(); r.closed = true; r.mu.Unlock() }

func (r *pktRec) got() []transports.Packet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transports.Packet(nil), r.pkts...)
}

// openPacket opens and starts a packet socket, closing it at cleanup.
func openPacket(t *testing.T, n *Network, local netip.AddrPort, o transports.PacketOptions) (transports.PacketConn, *pktRec) {
	t.Helper()
	p, err := n.ListenPacket(local, o)
	if err != nil {
		if local.Addr().Is6() {
			t.Skipf("no IPv6: %v", err)
		}
		t.Fatal(err)
	}
	r := &pktRec{}
	if err := p.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		waitFor(t, "packet OnClosed", func() bool { r.mu.Lock(); defer r.mu.Unlock(); return r.closed })
	})
	return p, r
}

func TestPacketsOverLoopback(t *testing.T) {
	for _, lb := range loopbacks {
		t.Run(lb.name, func(t *testing.T) {
			n := New(Options{})
			a, _ := openPacket(t, n, netip.AddrPortFrom(lb.addr, 0), transports.PacketOptions{})
			b, br := openPacket(t, n, netip.AddrPortFrom(lb.addr, 0), transports.PacketOptions{})
			if err := a.SendTo([]byte("ping"), b.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "datagram", func() bool { return len(br.got()) == 1 })
			p := br.got()[0]
			if string(p.Data) != "ping" || p.From != a.LocalAddr() || p.Truncated {
				t.Errorf("got %+v from %v", p, a.LocalAddr())
			}
			if p.To.IsValid() && p.To != lb.addr {
				t.Errorf("destination %v, want %v", p.To, lb.addr)
			}
		})
	}
}

func TestOversizedDatagramIsReportedTruncated(t *testing.T) {
	n := New(Options{})
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	a, _ := openPacket(t, n, lo, transports.PacketOptions{})
	b, br := openPacket(t, n, lo, transports.PacketOptions{MaxDatagram: 100})
	big := bytes.Repeat([]byte("x"), 500)
	a.SendTo(big, b.LocalAddr())
	a.SendTo(big[:100], b.LocalAddr())
	waitFor(t, "two datagrams", func() bool { return len(br.got()) == 2 })
	got := br.got()
	if !got[0].Truncated || len(got[0].Data) != 100 {
		t.Errorf("500-byte datagram: truncated=%v len=%d, want true 100", got[0].Truncated, len(got[0].Data))
	}
	if got[1].Truncated || len(got[1].Data) != 100 {
		t.Errorf("100-byte datagram: truncated=%v len=%d, want false 100", got[1].Truncated, len(got[1].Data))
	}
}

func TestSendToBadDestinationFailsAndSocketStaysOpen(t *testing.T) {
	n := New(Options{})
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	a, _ := openPacket(t, n, lo, transports.PacketOptions{})
	b, br := openPacket(t, n, lo, transports.PacketOptions{})
	for _, tc := range []struct {
		name string
		to   netip.AddrPort
		size int
		want error
	}{
		{"zero address", netip.AddrPort{}, 1, transports.ErrInvalidAddress},
		{"port zero", netip.MustParseAddrPort("127.0.0.1:0"), 1, transports.ErrInvalidAddress},
		{"unspecified", netip.MustParseAddrPort("0.0.0.0:9"), 1, transports.ErrInvalidAddress},
		{"ipv6 on ipv4 socket", netip.MustParseAddrPort("[::1]:9"), 1, transports.ErrInvalidAddress},
		{"broadcast not enabled", netip.MustParseAddrPort("255.255.255.255:9"), 1, transports.ErrInvalidAddress},
		{"too large", b.LocalAddr(), 70000, transports.ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := a.SendTo(make([]byte, tc.size), tc.to); !errors.Is(err, tc.want) {
				t.Fatalf("SendTo: %v, want %v", err, tc.want)
			}
		})
	}
	if err := a.SendTo([]byte("still here"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "datagram after errors", func() bool { return len(br.got()) == 1 })
}

func TestSuspendedPacketSocketHoldsDatagrams(t *testing.T) {
	n := New(Options{})
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	a, _ := openPacket(t, n, lo, transports.PacketOptions{})
	b, br := openPacket(t, n, lo, transports.PacketOptions{})
	b.SetReading(false)
	for i := range 3 {
		a.SendTo([]byte{byte(i)}, b.LocalAddr())
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(br.got()); got != 0 {
		t.Fatalf("%d datagrams delivered while suspended", got)
	}
	b.SetReading(true)
	waitFor(t, "datagrams after resume", func() bool { return len(br.got()) == 3 })
}

// The groups are joined on the loopback interface and sent with
// IP_MULTICAST_IF set to it and a TTL of 1, so nothing leaves the host.
func TestMulticastDeliversOnlyJoinedGroups(t *testing.T) {
	n := New(Options{})
	lo := loopbackName(t, n)
	groupA := netip.MustParseAddr("239.255.77.1")
	groupB := netip.MustParseAddr("239.255.77.2")
	ra, rar := openPacket(t, n, netip.MustParseAddrPort("0.0.0.0:0"), transports.PacketOptions{ReuseAddr: true})
	port := ra.LocalAddr().Port()
	rb, rbr := openPacket(t, n, netip.AddrPortFrom(netip.IPv4Unspecified(), port), transports.PacketOptions{ReuseAddr: true})
	if err := ra.JoinGroup(groupA, lo); err != nil {
		t.Skipf("cannot join a group on %s: %v", lo, err)
	}
	if err := rb.JoinGroup(groupB, lo); err != nil {
		t.Fatal(err)
	}
	snd, _ := openPacket(t, n, netip.MustParseAddrPort("127.0.0.1:0"), transports.PacketOptions{
		Multicast: transports.MulticastOptions{Interface: lo, TTL: 1},
	})
	// Send a few times: the first datagrams can race the IGMP join.
	for i := 0; i < 20 && (len(rar.got()) == 0 || len(rbr.got()) == 0); i++ {
		if err := snd.SendTo([]byte("to A"), netip.AddrPortFrom(groupA, port)); err != nil {
			t.Skipf("multicast send on %s: %v", lo, err)
		}
		snd.SendTo([]byte("to B"), netip.AddrPortFrom(groupB, port))
		time.Sleep(20 * time.Millisecond)
	}
	if len(rar.got()) == 0 || len(rbr.got()) == 0 {
		t.Skipf("no multicast delivery on %s in this environment", lo)
	}
	for _, tc := range []struct {
		name string
		r    *pktRec
		want string
	}{{"A", rar, "to A"}, {"B", rbr, "to B"}} {
		for _, p := range tc.r.got() {
			if string(p.Data) != tc.want {
				t.Errorf("socket joined to %s got %q (sent to %v)", tc.name, p.Data, p.To)
			}
		}
	}
	if err := ra.LeaveGroup(groupA, lo); err != nil {
		t.Error(err)
	}
	if err := ra.LeaveGroup(groupA, lo); !errors.Is(err, transports.ErrInvalidAddress) {
		t.Errorf("second leave: %v", err)
	}
}

func loopbackName(t *testing.T, n *Network) string {
	t.Helper()
	ifs, err := n.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&transports.FlagLoopback != 0 && ifc.Flags.Up() {
			return ifc.Name
		}
	}
	t.Skip("no loopback interface")
	return ""
}
