package webrtc_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	xws "golang.org/x/net/websocket"

	"github.com/microstack-go/microstack/actors/webrtc"
)

// validOffer is an offer from a browser, trimmed: one data channel.
const validOffer = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=group:BUNDLE 0\r\na=msid-semantic: WMS\r\n" +
	"m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\n" +
	"a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n" +
	"a=setup:actpass\r\na=mid:0\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n"

// fuzzSignaling returns a Signaling handler with short timeouts whose
// sessions end with tb.
func fuzzSignaling(tb testing.TB) *webrtc.Signaling {
	e := newEnv(tb)
	sig := webrtc.NewSignaling(e.system, webrtc.SignalingOptions{Peer: loopbackOptions(), Timeout: 2 * time.Second, MaxSessions: 4})
	tb.Cleanup(sig.Close)
	return sig
}

// FuzzSignalingOffer POSTs fuzzed bodies (JSON around fuzzed SDP, and raw
// bytes) to the signaling handler: it answers 200 with an answer, 400 with
// a JSON error, or 503/504 when busy or slow, never another 5xx, never
// panics.
func FuzzSignalingOffer(f *testing.F) {
	f.Add([]byte(validOffer), false)
	f.Add([]byte("v=0\r\nnonsense"), false)
	f.Add([]byte(`{"type":"offer","sdp":"v=0"}`), true)
	f.Add([]byte(`{"type":"answer"}`), true)
	f.Add([]byte(`not json`), true)
	f.Add([]byte(strings.Replace(validOffer, "a=setup:actpass", "a=setup:bogus", 1)), false)
	f.Add([]byte(strings.Replace(validOffer, "m=application 9", "m=application 99999999999", 1)), false)
	sig := fuzzSignaling(f)
	f.Fuzz(func(t *testing.T, data []byte, raw bool) {
		if len(data) > 64<<10 {
			return
		}
		body := data
		if !raw {
			body, _ = json.Marshal(webrtc.SessionDescription{Type: "offer", SDP: string(data)})
		}
		rec := httptest.NewRecorder()
		sig.ServeHTTP(rec, httptest.NewRequest("POST", "/offer", bytes.NewReader(body)))
		switch rec.Code {
		case http.StatusOK:
			var a webrtc.SessionDescription
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || a.Type != "answer" {
				t.Fatalf("200 without an answer: %q", rec.Body)
			}
		case http.StatusBadRequest, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			var e struct{ Error string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Fatalf("%d without a JSON error: %q", rec.Code, rec.Body)
			}
		default:
			t.Fatalf("POST %.200q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

// FuzzSignalingCandidate sends a valid offer and then fuzzed trickle
// messages (candidates and anything else) on the signaling WebSocket: the
// session answers or reports an error, never crashes the handler, and the
// WebSocket closes cleanly when the client leaves.
func FuzzSignalingCandidate(f *testing.F) {
	f.Add("candidate", "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "0")
	f.Add("candidate", "candidate:1 1 tcp 1 ::1 9 typ host tcptype active", "")
	f.Add("candidate", "", "")
	f.Add("candidate", "candidate:x", "0")
	f.Add("offer", "v=0", "")
	f.Add("bogus", "", "")
	f.Add("candidate", "candidate:1 1 udp 1 999.1.1.1 70000 typ relay raddr 1.2.3.4 rport 5", "9")
	sig := fuzzSignaling(f)
	srv := httptest.NewServer(sig.Trickle())
	f.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http")
	f.Fuzz(func(t *testing.T, typ, candidate, mid string) {
		if len(candidate) > 4096 || len(mid) > 256 || len(typ) > 64 {
			return
		}
		ws, err := xws.Dial(url, "", srv.URL)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.Close()
		_ = ws.SetDeadline(time.Now().Add(5 * time.Second))
		if err := xws.JSON.Send(ws, webrtc.TrickleMessage{Type: "offer", SDP: validOffer}); err != nil {
			t.Fatal(err)
		}
		msg := webrtc.TrickleMessage{Type: typ, Candidate: &webrtc.TrickleCandidate{Candidate: candidate, SDPMid: mid}}
		if typ == "offer" {
			msg = webrtc.TrickleMessage{Type: typ, SDP: candidate}
		}
		if err := xws.JSON.Send(ws, msg); err != nil {
			t.Fatal(err)
		}
		// Read until the answer or an error comes back: the handler is
		// alive and speaking the protocol.
		for range 64 {
			var in webrtc.TrickleMessage
			if err := xws.JSON.Receive(ws, &in); err != nil {
				t.Fatalf("after %q %q: %v", typ, candidate, err)
			}
			if in.Type == "answer" || in.Type == "error" {
				return
			}
		}
		t.Fatalf("no answer nor error after %q %q", typ, candidate)
	})
}
