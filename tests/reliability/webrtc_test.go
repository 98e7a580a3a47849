package reliability

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// WebRTC peers connected through the signaling handler, a data channel
// opened and echoed, and closed, one after another: goroutines,
// descriptors and memory come back to where they were.
func TestDataChannelCyclesReturnToBaseline(t *testing.T) {
	n := 20
	if long() {
		n = 1000
	}
	system := testkit.NewSystem(t)
	sig := webrtc.NewSignaling(system, webrtc.SignalingOptions{Peer: webrtc.Options{LoopbackOnly: true}})
	t.Cleanup(sig.Close)
	const wait = 15 * time.Second
	cycle := func() {
		p := testkit.NewProbe(t, system)
		peer := system.Root.Spawn(webrtc.Props(webrtc.Options{LoopbackOnly: true, Handler: p.PID}))
		defer func() { _ = system.Root.StopFuture(peer).Wait() }()
		p.Send(peer, &rtcmsg.OpenDataChannel{Label: "echo"})
		p.Send(peer, &rtcmsg.CreateOffer{WaitForCandidates: true})
		offer := testkit.FishFor[*rtcmsg.LocalDescription](p, wait, nil)
		body, _ := json.Marshal(webrtc.SessionDescription{Type: offer.Type, SDP: offer.SDP})
		rec := httptest.NewRecorder()
		sig.ServeHTTP(rec, httptest.NewRequest("POST", "/offer", bytes.NewReader(body)))
		var answer webrtc.SessionDescription
		if err := json.Unmarshal(rec.Body.Bytes(), &answer); err != nil || rec.Code != 200 {
			t.Fatalf("offer: %d %s", rec.Code, rec.Body)
		}
		p.Send(peer, &rtcmsg.SetRemoteDescription{Type: rtcmsg.Answer, SDP: answer.SDP})
		ch := testkit.FishFor[*rtcmsg.DataChannelOpened](p, wait, nil)
		p.Send(ch.Channel, &rtcmsg.Send{Data: []byte("ping"), Text: true})
		if m := testkit.FishFor[*rtcmsg.Message](p, wait, nil); string(m.Data) != "ping" {
			t.Fatalf("echo %q", m.Data)
		}
		p.Send(peer, &rtcmsg.Close{})
		testkit.Eventually(t, wait, func() bool { return sig.Sessions() == 0 }, "session still alive")
	}
	cycle()
	time.Sleep(200 * time.Millisecond)
	base := measure(t)
	start := time.Now()
	for range n {
		cycle()
	}
	t.Logf("%d data-channel cycles in %v", n, time.Since(start).Round(time.Millisecond))
	report(t, "data-channel cycles", n, base, settle(t, base, 2))
}
