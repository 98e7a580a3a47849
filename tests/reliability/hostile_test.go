package reliability

import (
	"net/http"

	"crypto/tls"
	"errors"
	"fmt"
	"github.com/asynkron/protoactor-go/actor"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/discovery"
	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/tcp"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports"
	"github.com/microstack-go/microstack/transports/certs"
	"github.com/microstack-go/microstack/transports/sim"
)

// A TLS client verifies by default (a self-signed server is refused) and a
// wrong pin is refused.
func TestTLSVerificationIsOnByDefaultAndAWrongPinIsRefused(t *testing.T) {
	system := testkit.NewSystem(t)
	cert, err := certs.SelfSigned(certs.Options{Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	l := system.Root.Spawn(tcp.ListenerProps(tcp.ListenerOptions{Handler: tcp.EchoHandlerProps,
		TLS: &tcp.ServerTLS{Config: &tls.Config{Certificates: []tls.Certificate{cert}}}}))
	t.Cleanup(func() { _ = system.Root.StopFuture(l).Wait() })
	p := testkit.NewProbe(t, system)
	p.Send(l, &tcpmsg.Bind{Local: netip.MustParseAddrPort("127.0.0.1:0")})
	addr := testkit.Expect[*tcpmsg.Bound](p, 0).Local
	for _, tc := range []struct {
		name string
		opts *tcpmsg.TLSOptions
		want error
	}{
		{"default verification", &tcpmsg.TLSOptions{}, transports.ErrTLS},
		{"wrong pin", &tcpmsg.TLSOptions{Pins: [][]byte{make([]byte, 32)}}, certs.ErrPinMismatch},
	} {
		c := system.Root.Spawn(tcp.ConnectionProps(tcp.Options{}))
		t.Cleanup(func() { _ = system.Root.StopFuture(c).Wait() })
		p := testkit.NewProbe(t, system)
		p.Send(c, &tcpmsg.Connect{Remote: addr, Options: tcpmsg.ConnectOptions{TLS: tc.opts}})
		f := testkit.FishFor[*messages.CommandFailed](p, 10*time.Second, nil)
		if !errors.Is(f.Err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, f.Err, tc.want)
		}
	}
}

// Beacons signed with another key are counted as rejected and never make
// a peer.
func TestDiscoveryIgnoresBeaconsWithAWrongKey(t *testing.T) {
	w := testkit.NewSimWorld(t, 7, sim.LinkConfig{Latency: time.Millisecond}, testkit.DriveOptions{})
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	spawn := func(name string, addr netip.Addr, key string) *inspectPID {
		h := w.Net.AddHost(name, addr)
		pid, err := inspect.Spawn(system.Root, discovery.Props(discovery.Options{Network: h, Clock: w.Clock, ID: name, Name: name,
			Key: []byte(key), Period: 100 * time.Millisecond, NoIPv6: true}), name, discovery.Kind, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
		return &inspectPID{pid: pid, name: name}
	}
	a := spawn("a", netip.MustParseAddr("192.168.7.1"), "right key")
	b := spawn("b", netip.MustParseAddr("192.168.7.2"), "right key")
	spawn("stranger", netip.MustParseAddr("192.168.7.3"), "wrong key")
	peers := func(x *inspectPID) []discoverymsg.Peer {
		res, err := system.Root.RequestFuture(x.pid, &discoverymsg.GetPeers{}, 5*time.Second).Result()
		if err != nil {
			t.Fatal(err)
		}
		return res.(*discoverymsg.Peers).Peers
	}
	testkit.Eventually(t, 10*time.Second, func() bool {
		return len(peers(a)) == 1 && len(peers(b)) == 1 && reg.Lookup("a").Counter("beacons-rejected") >= 3
	}, "a and b see each other, and reject the stranger")
	for _, x := range []*inspectPID{a, b} {
		for _, p := range peers(x) {
			if p.ID == "stranger" {
				t.Fatalf("%s accepted the stranger", x.name)
			}
		}
	}
}

// Slowloris: many connections that send a header a byte at a time never
// finish it. They are cut at the header timeout, and other clients are
// served meanwhile.
func TestSlowlorisIsCutAndOthersAreServed(t *testing.T) {
	system := testkit.NewSystem(t)
	pid := system.Root.Spawn(httpactor.Props(httpactor.Options{ReadHeaderTimeout: time.Second, MaxSessions: 256,
		Routes: []httpactor.Route{{Pattern: "/", Handler: okHandler{}}}}))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr
	const slow = 100
	var conns []net.Conn
	for range slow {
		c := dial(t, addr)
		t.Cleanup(func() { c.Close() })
		_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, c)
	}
	before := measure(t)
	start := time.Now()
	for i := 0; time.Since(start) < 3*time.Second; i++ {
		for _, c := range conns {
			_, _ = fmt.Fprintf(c, "X-%d: a\r\n", i) // the trickle; errors once cut
		}
		if a := rawRequest(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); a.code != 200 {
			t.Fatalf("a normal client got %d while %d slow ones trickle", a.code, slow)
		}
		time.Sleep(200 * time.Millisecond)
	}
	cut := 0
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		// Cut: the server answered (408) or closed; a timeout means the
		// connection is still held open.
		n, err := c.Read(make([]byte, 512))
		var ne net.Error
		if n > 0 || (err != nil && !(errors.As(err, &ne) && ne.Timeout())) {
			cut++
		}
	}
	after := measure(t)
	if cut != slow {
		t.Errorf("%d of %d slowloris connections still open after the header timeout", slow-cut, slow)
	}
	t.Logf("%d slowloris connections: cut %d; RSS %d -> %d KiB, goroutines %d -> %d", slow, cut, before.rssKiB, after.rssKiB, before.goroutines, after.goroutines)
	if after.rssKiB-before.rssKiB > rssBoundKiB() {
		t.Fatalf("RSS grew by %d KiB", after.rssKiB-before.rssKiB)
	}
}

type okHandler struct{}

func (okHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

type inspectPID struct {
	pid  *actor.PID
	name string
}
