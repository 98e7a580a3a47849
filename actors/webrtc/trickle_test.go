package webrtc_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestTrickleOverWebSocketEchoesAndReportsBadCandidates(t *testing.T) {
	e := newEnv(t)
	sig := webrtc.NewSignaling(e.system, webrtc.SignalingOptions{Peer: loopbackOptions()})
	srv := httptest.NewServer(sig.Trickle())
	t.Cleanup(func() { srv.Close(); sig.Close() })
	ws, err := websocket.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), "", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan webrtc.TrickleMessage, 64)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			var m webrtc.TrickleMessage
			if websocket.JSON.Receive(ws, &m) != nil {
				return
			}
			in <- m
		}
	}()
	t.Cleanup(func() { _ = ws.Close(); <-readerDone })

	c := e.peer("client", loopbackOptions())
	c.probe.Send(c.peer, &rtcmsg.OpenDataChannel{Label: "trickle-echo"})
	c.probe.Send(c.peer, &rtcmsg.CreateOffer{})
	offer := testkit.Expect[*rtcmsg.LocalDescription](c.probe, wait)
	send := func(m webrtc.TrickleMessage) {
		if err := websocket.JSON.Send(ws, m); err != nil {
			t.Fatal(err)
		}
	}
	send(webrtc.TrickleMessage{Type: "offer", SDP: offer.SDP})
	send(webrtc.TrickleMessage{Type: "candidate", Candidate: &webrtc.TrickleCandidate{Candidate: "candidate:nonsense"}})

	var ch *rtcmsg.DataChannelOpened
	sawError, answered := false, false
	deadline := time.Now().Add(wait)
	for (ch == nil || !sawError) && time.Now().Before(deadline) {
		select {
		case m := <-in:
			switch m.Type {
			case "answer":
				answered = true
				c.probe.Send(c.peer, &rtcmsg.SetRemoteDescription{Type: rtcmsg.Answer, SDP: m.SDP})
			case "candidate":
				if answered && m.Candidate.Candidate != "" {
					c.probe.Send(c.peer, &rtcmsg.AddRemoteCandidate{Candidate: rtcmsg.Candidate{
						Candidate: m.Candidate.Candidate, SDPMid: m.Candidate.SDPMid, SDPMLineIndex: m.Candidate.SDPMLineIndex,
					}})
				}
			case "error":
				if !strings.Contains(m.Error, "bad ICE candidate") {
					t.Fatalf("error %q, want a bad candidate", m.Error)
				}
				sawError = true
			}
		default:
		}
		if env, ok := c.probe.Next(5 * time.Millisecond); ok {
			switch m := env.Message.(type) {
			case *rtcmsg.LocalCandidate:
				cand := m.Candidate
				send(webrtc.TrickleMessage{Type: "candidate", Candidate: &webrtc.TrickleCandidate{
					Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex,
				}})
			case *rtcmsg.DataChannelOpened:
				ch = m
			case *messages.CommandFailed:
				t.Fatalf("client: %v", m)
			}
		}
	}
	if ch == nil || !sawError {
		t.Fatalf("channel open %v, error reported %v", ch != nil, sawError)
	}
	c.probe.Send(ch.Channel, &rtcmsg.Send{Data: []byte("over websocket"), Text: true})
	if got := testkit.FishFor[*rtcmsg.Message](c.probe, wait, nil); string(got.Data) != "over websocket" {
		t.Fatalf("echo %q", got.Data)
	}
	// Closing the WebSocket ends the session.
	_ = ws.Close()
	testkit.Eventually(t, wait, func() bool { return sig.Sessions() == 0 }, "session alive after the WebSocket closed")
}
