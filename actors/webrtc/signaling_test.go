package webrtc_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func newSignalingServer(t *testing.T, e *env) (*webrtc.Signaling, string) {
	t.Helper()
	sig := webrtc.NewSignaling(e.system, webrtc.SignalingOptions{Peer: loopbackOptions()})
	srv := httptest.NewServer(sig)
	t.Cleanup(func() { srv.Close(); sig.Close() })
	return sig, srv.URL
}

func post(t *testing.T, url, body string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]string{}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestSignalingAnswersAnOfferAndEchoesChannels(t *testing.T) {
	e := newEnv(t)
	sig, url := newSignalingServer(t, e)
	c := e.peer("client", loopbackOptions())
	c.probe.Send(c.peer, &rtcmsg.OpenDataChannel{Label: "echo"})
	c.probe.Send(c.peer, &rtcmsg.OpenDataChannel{Label: "echo-2"})
	c.probe.Send(c.peer, &rtcmsg.CreateOffer{WaitForCandidates: true})
	offer := testkit.FishFor[*rtcmsg.LocalDescription](c.probe, wait, nil)
	body, _ := json.Marshal(webrtc.SessionDescription{Type: offer.Type, SDP: offer.SDP})
	code, answer := post(t, url, string(body))
	if code != http.StatusOK || answer["type"] != "answer" || !strings.Contains(answer["sdp"], "a=candidate") {
		t.Fatalf("POST offer: %d %v", code, answer)
	}
	c.probe.Send(c.peer, &rtcmsg.SetRemoteDescription{Type: rtcmsg.Answer, SDP: answer["sdp"]})
	// The two channels open in either order.
	open := map[string]*rtcmsg.DataChannelOpened{}
	for len(open) < 2 {
		m := testkit.FishFor[*rtcmsg.DataChannelOpened](c.probe, wait, nil)
		open[m.Label] = m
	}
	ch1, ch2 := open["echo"], open["echo-2"]
	c.probe.Send(ch1.Channel, &rtcmsg.Send{Data: []byte("one"), Text: true})
	c.probe.Send(ch2.Channel, &rtcmsg.Send{Data: []byte{2}})
	for range 2 {
		m := testkit.FishFor[*rtcmsg.Message](c.probe, wait, nil)
		switch {
		case m.Channel.Equal(ch1.Channel) && string(m.Data) == "one" && m.Text:
		case m.Channel.Equal(ch2.Channel) && bytes.Equal(m.Data, []byte{2}) && !m.Text:
		default:
			t.Fatalf("echo %q (text %v) on %v", m.Data, m.Text, m.Channel)
		}
	}
	if sig.Sessions() != 1 {
		t.Fatalf("%d sessions, want 1", sig.Sessions())
	}
	// Closing the client ends the session.
	c.probe.Send(c.peer, &rtcmsg.Close{})
	testkit.Eventually(t, wait, func() bool { return sig.Sessions() == 0 }, "session still alive after the client closed")
}

func TestSignalingRefusesBadRequestsWithAClearError(t *testing.T) {
	e := newEnv(t)
	sig, url := newSignalingServer(t, e)
	for _, tc := range []struct {
		body string
		code int
		want string
	}{
		{`not json`, 400, "bad JSON"},
		{`{"type":"answer","sdp":"v=0"}`, 400, `want "offer"`},
		{`{"type":"offer","sdp":"v=0\r\nnonsense"}`, 400, "bad session description"},
	} {
		code, out := post(t, url, tc.body)
		if code != tc.code || !strings.Contains(out["error"], tc.want) {
			t.Errorf("POST %s: %d %v, want %d with %q", tc.body, code, out, tc.code, tc.want)
		}
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	testkit.Eventually(t, wait, func() bool { return sig.Sessions() == 0 }, "refused offers left sessions")
}
