package webrtc_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	pion "github.com/pion/webrtc/v4"

	"github.com/microstack-go/microstack/actors/stun/stuntest"
	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestBackPressureRefusesPastHighWaterAndResumes(t *testing.T) {
	e := newEnv(t)
	opts := loopbackOptions()
	opts.HighWater, opts.LowWater = 64<<10, 16<<10
	a, b, chA, _ := e.pair("pressure", nil, opts, loopbackOptions())
	const n = 50
	payload := func(i int) []byte { return []byte(fmt.Sprintf("%04d%s", i, strings.Repeat("x", 16<<10-4))) }
	refusals := 0
	for sent := 0; sent < n; {
		a.probe.Send(chA.Channel, &rtcmsg.Send{Data: payload(sent), Ack: sent})
		switch m := testkit.FishFor[any](a.probe, wait, isWriteReply).(type) {
		case *messages.WriteAck:
			if m.Ack != sent {
				t.Fatalf("ack %v, want %d", m.Ack, sent)
			}
			sent++
		case *messages.WriteRefused:
			refusals++
			if m.Buffered <= 0 {
				t.Fatalf("refused with %d bytes buffered", m.Buffered)
			}
			a.probe.Send(chA.Channel, &rtcmsg.ResumeWriting{})
			testkit.FishFor[*messages.WritingResumed](a.probe, wait, nil)
		default:
			t.Fatalf("unexpected %T %+v", m, m)
		}
	}
	if refusals == 0 {
		t.Fatalf("%d messages of 16 KiB against a 64 KiB high-water mark were never refused", n)
	}
	for i, m := range messagesUntil(t, b.probe, n) {
		if string(m.Data[:4]) != fmt.Sprintf("%04d", i) || len(m.Data) != 16<<10 {
			t.Fatalf("message %d starts %q (%d bytes)", i, m.Data[:4], len(m.Data))
		}
	}
	t.Logf("%d refusals for %d messages", refusals, n)
}

func isWriteReply(m any) bool {
	switch m.(type) {
	case *messages.WriteAck, *messages.WriteRefused, *messages.CommandFailed:
		return true
	}
	return false
}

func TestClosingAChannelTellsBothSides(t *testing.T) {
	e := newEnv(t)
	a, b, chA, chB := e.pair("closing", nil, loopbackOptions(), loopbackOptions())
	a.probe.Send(chA.Channel, &rtcmsg.Close{})
	if c := closedFrom(t, a.probe, chA.Channel); c.Reason != messages.ClosedByUs {
		t.Fatalf("local side closed with %v", c.Reason)
	}
	if c := closedFrom(t, b.probe, chB.Channel); c.Reason != messages.PeerClosed {
		t.Fatalf("remote side closed with %v (%v)", c.Reason, c.Err)
	}
	// Both channel actors stopped; the peers stay up.
	testkit.Eventually(t, wait, func() bool {
		return e.registry.Lookup(chA.Channel.Id) == nil && e.registry.Lookup(chB.Channel.Id) == nil
	}, "channel actors still running")
	_ = b
}

// closedFrom waits for the messages.Closed that pid sent.
// peerAndChannelClosed waits for the Closed of a peer and of its channel,
// which come in either order, and returns the peer's.
func peerAndChannelClosed(t *testing.T, p *testkit.Probe, peer, channel *actor.PID) *messages.Closed {
	t.Helper()
	var c *messages.Closed
	for chClosed := false; c == nil || !chClosed; {
		env, ok := p.Next(wait)
		if !ok {
			t.Fatalf("no Closed from the peer (%v) or its channel (%v)", c, chClosed)
		}
		if m, ok := env.Message.(*messages.Closed); ok {
			switch {
			case env.Sender.Equal(peer):
				c = m
			case env.Sender.Equal(channel):
				chClosed = true
			}
		}
	}
	return c
}

func closedFrom(t *testing.T, p *testkit.Probe, pid *actor.PID) *messages.Closed {
	t.Helper()
	for {
		env, ok := p.Next(wait)
		if !ok {
			t.Fatalf("no Closed from %v", pid)
		}
		if c, ok := env.Message.(*messages.Closed); ok && env.Sender.Equal(pid) {
			return c
		}
	}
}

type crash struct{}

func crashable(p *actor.Props) *actor.Props {
	return p.Configure(actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			if _, ok := env.Message.(crash); ok {
				panic("injected crash")
			}
			next(c, env)
		}
	}))
}

func TestCrashedPeerIsRestartedAndReconnectsThroughANewOffer(t *testing.T) {
	e := newEnv(t)
	// a gives up on a silent b within seconds, should b's close_notify be
	// lost (a loaded machine drops it now and then).
	aOpts := loopbackOptions()
	aOpts.ICEDisconnectedTimeout, aOpts.ICEFailedTimeout = time.Second, 2*time.Second
	a := e.peer("a", aOpts)
	b := e.peerProps("b", loopbackOptions(), crashable)
	a.probe.Send(a.peer, &rtcmsg.OpenDataChannel{Label: "first"})
	negotiate(t, a, b)
	chA := opened(a.probe, "first")
	opened(b.probe, "first")

	e.system.Root.Send(b.peer, crash{})
	// a learns that its channel and its connection ended: closed by b, or
	// failed when b's close_notify did not arrive.
	if c := peerAndChannelClosed(t, a.probe, a.peer, chA.Channel); c.Reason != messages.PeerClosed && c.Reason != messages.ErrorClosed {
		t.Fatalf("a closed with %v", c.Reason)
	}

	// The restarted b (same PID, fresh connection) answers a new offer.
	a2 := e.peer("a2", loopbackOptions())
	a2.probe.Send(a2.peer, &rtcmsg.OpenDataChannel{Label: "second"})
	negotiate(t, a2, b)
	ch2 := opened(a2.probe, "second")
	opened(b.probe, "second")
	a2.probe.Send(ch2.Channel, &rtcmsg.Send{Data: []byte("again")})
	if got := testkit.FishFor[*rtcmsg.Message](b.probe, wait, nil); string(got.Data) != "again" {
		t.Fatalf("got %q", got.Data)
	}
	if n := e.registry.Lookup("b").Info().Restarts; n != 1 {
		t.Fatalf("b restarted %d times, want 1", n)
	}
}

func TestRelayOnlyPeersExchangeDataThroughCoturn(t *testing.T) {
	turn := stuntest.StartCoturn(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			e := newEnv(t)
			opts := loopbackOptions()
			opts.RelayOnly = true
			opts.ICEServers = []webrtc.ICEServer{{URLs: []string{turn.URL(transport)}, Username: turn.User, Credential: turn.Password}}
			a := e.peer("a", opts)
			b := e.peer("b", opts)
			a.probe.Send(a.peer, &rtcmsg.OpenDataChannel{Label: "relayed"})
			a.probe.Send(a.peer, &rtcmsg.CreateOffer{WaitForCandidates: true})
			offer := testkit.FishFor[*rtcmsg.LocalDescription](a.probe, wait, nil)
			if !strings.Contains(offer.SDP, "typ relay") || strings.Contains(offer.SDP, "typ host") {
				t.Fatalf("relay-only offer does not carry relay candidates only:\n%s\ncoturn:\n%s", offer.SDP, turn.Log())
			}
			b.probe.Send(b.peer, &rtcmsg.SetRemoteDescription{Type: offer.Type, SDP: offer.SDP, WaitForCandidates: true})
			answer := testkit.FishFor[*rtcmsg.LocalDescription](b.probe, wait, nil)
			a.probe.Send(a.peer, &rtcmsg.SetRemoteDescription{Type: answer.Type, SDP: answer.SDP})
			chA := opened(a.probe, "relayed")
			chB := opened(b.probe, "relayed")
			for i := range 20 {
				a.probe.Send(chA.Channel, &rtcmsg.Send{Data: []byte(fmt.Sprint("a", i))})
				b.probe.Send(chB.Channel, &rtcmsg.Send{Data: []byte(fmt.Sprint("b", i))})
			}
			for i, m := range messagesUntil(t, b.probe, 20) {
				if string(m.Data) != fmt.Sprint("a", i) {
					t.Fatalf("b got %q, want a%d", m.Data, i)
				}
			}
			for i, m := range messagesUntil(t, a.probe, 20) {
				if string(m.Data) != fmt.Sprint("b", i) {
					t.Fatalf("a got %q, want b%d", m.Data, i)
				}
			}
		})
	}
}

// A remote that falls silent without closing (its close_notify never
// arrives: a crash, a cut cable) fails the connection once ICE gives up,
// and the peer reports Closed with the failure and stops, instead of
// waiting for ever.
func TestPeerWhoseRemoteFallsSilentFailsAndCloses(t *testing.T) {
	e := newEnv(t)
	// b's only socket is one the test holds: closing it cuts b off
	// without a word to a.
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	bOpts := loopbackOptions()
	bOpts.Settings = func(s *pion.SettingEngine) { s.SetICEUDPMux(pion.NewICEUDPMux(nil, sock)) }
	aOpts := loopbackOptions()
	aOpts.ICEDisconnectedTimeout, aOpts.ICEFailedTimeout, aOpts.ICEKeepAlive = 500*time.Millisecond, time.Second, 200*time.Millisecond
	a, _, chA, _ := e.pair("silent", nil, aOpts, bOpts)

	_ = sock.Close()
	c := peerAndChannelClosed(t, a.probe, a.peer, chA.Channel)
	if c.Reason != messages.ErrorClosed || c.Err == nil || !strings.Contains(c.Err.Error(), "failed") {
		t.Fatalf("a closed with %v (%v), want the connection's failure", c.Reason, c.Err)
	}
	testkit.Eventually(t, wait, func() bool {
		p, _ := e.system.ProcessRegistry.Get(a.peer)
		_, alive := p.(*actor.ActorProcess)
		return !alive
	}, "the failed peer did not stop")
}
