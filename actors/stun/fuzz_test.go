package stun_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	pionstun "github.com/pion/stun/v2"

	"github.com/microstack-go/microstack/actors/stun"
	"github.com/microstack-go/microstack/messages/stunmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/transports/osnet"
)

// FuzzStunPacket sends a fuzzed datagram to the STUN server actor, then a
// valid binding request from the same socket: the good request is always
// answered with its own transaction ID, so no datagram stops the server.
func FuzzStunPacket(f *testing.F) {
	f.Add([]byte("hello, not stun"))
	f.Add([]byte{0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42})
	f.Add(pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest).Raw)
	f.Add(pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest, pionstun.Fingerprint).Raw)
	f.Add(pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest, pionstun.NewSoftware("x"),
		pionstun.NewUsername("u:v"), pionstun.Fingerprint).Raw)
	f.Add(pionstun.MustBuild(pionstun.TransactionID, pionstun.NewType(pionstun.MethodAllocate, pionstun.ClassRequest)).Raw)
	f.Add(pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingSuccess,
		&pionstun.XORMappedAddress{IP: net.IPv4(127, 0, 0, 1), Port: 9}).Raw)
	f.Add([]byte{})
	system := testkit.NewSystem(f)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	pid, err := inspect.Spawn(system.Root, stun.ServerProps(stun.ServerOptions{
		Network: osnet.New(osnet.Options{}), Local: loopback,
	}), "stun-server", stun.ServerKind, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &stunmsg.GetLocalAddress{}, 5*time.Second).Result()
	if err != nil {
		f.Fatal(err)
	}
	srv := net.UDPAddrFromAddrPort(res.(*stunmsg.LocalAddress).Addr)
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { conn.Close() })
	buf := make([]byte, 2048)
	f.Fuzz(func(t *testing.T, packet []byte) {
		if len(packet) > 1500 {
			return
		}
		if _, err := conn.WriteToUDP(packet, srv); err != nil && len(packet) > 0 {
			t.Fatal(err)
		}
		req := pionstun.MustBuild(pionstun.TransactionID, pionstun.BindingRequest, pionstun.Fingerprint)
		if _, err := conn.WriteToUDP(req.Raw, srv); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		_ = conn.SetReadDeadline(deadline)
		for time.Now().Before(deadline) {
			n, _, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			resp := &pionstun.Message{Raw: bytes.Clone(buf[:n])}
			if resp.Decode() == nil && resp.TransactionID == req.TransactionID {
				if resp.Type != pionstun.BindingSuccess {
					t.Fatalf("after %x: answer %v", packet, resp.Type)
				}
				return
			}
		}
		t.Fatalf("after %x the server did not answer a good binding request", packet)
	})
}
