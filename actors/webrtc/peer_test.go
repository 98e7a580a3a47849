package webrtc_test

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestThousandOrderedMessagesArriveInOrder(t *testing.T) {
	e := newEnv(t)
	a, b, chA, chB := e.pair("ordered", nil, loopbackOptions(), loopbackOptions())
	if !chA.Ordered || chA.Remote || !chB.Remote || !chB.Ordered {
		t.Fatalf("opened events %+v / %+v", chA, chB)
	}
	const n = 1000
	for i := range n {
		a.probe.Send(chA.Channel, &rtcmsg.Send{Data: []byte(strconv.Itoa(i)), Text: true})
	}
	got := messagesUntil(t, b.probe, n)
	for i, m := range got {
		if string(m.Data) != strconv.Itoa(i) || !m.Text || !m.Channel.Equal(chB.Channel) {
			t.Fatalf("message %d = %q (text %v from %v), want %q", i, m.Data, m.Text, m.Channel, strconv.Itoa(i))
		}
	}
	// No refusal and no failure (a late state change of the connection may
	// still come).
	for {
		e, ok := a.probe.Next(200 * time.Millisecond)
		if !ok {
			break
		}
		switch e.Message.(type) {
		case *messages.WriteRefused, *messages.CommandFailed:
			t.Fatalf("writer got %T %+v", e.Message, e.Message)
		}
	}
}

func TestUnorderedLossyChannelDeliversEveryMessageOnce(t *testing.T) {
	e := newEnv(t)
	zero := uint16(0)
	a, b, chA, chB := e.pair("lossy", &rtcmsg.OpenDataChannel{Unordered: true, MaxRetransmits: &zero}, loopbackOptions(), loopbackOptions())
	if chB.Ordered || chB.MaxRetransmits == nil || *chB.MaxRetransmits != 0 || chA.Ordered {
		t.Fatalf("remote side sees ordered=%v maxRetransmits=%v", chB.Ordered, chB.MaxRetransmits)
	}
	const n = 200
	for i := range n {
		a.probe.Send(chA.Channel, &rtcmsg.Send{Data: []byte{byte(i)}})
	}
	seen := make(map[byte]bool)
	for _, m := range messagesUntil(t, b.probe, n) {
		if len(m.Data) != 1 || m.Text || seen[m.Data[0]] {
			t.Fatalf("unexpected or duplicate message %v", m.Data)
		}
		seen[m.Data[0]] = true
	}
}

func TestLargeMessageArrivesWholeAndTooLargeIsRefused(t *testing.T) {
	e := newEnv(t)
	a, b, chA, _ := e.pair("big", nil, loopbackOptions(), loopbackOptions())
	big := bytes.Repeat([]byte("0123456789abcdef"), 60<<10/16)
	a.probe.Send(chA.Channel, &rtcmsg.Send{Data: append([]byte(nil), big...), Ack: "big"})
	if ack := testkit.Expect[*messages.WriteAck](a.probe, wait); ack.Ack != "big" {
		t.Fatalf("ack %v", ack.Ack)
	}
	if got := messagesUntil(t, b.probe, 1)[0]; !bytes.Equal(got.Data, big) {
		t.Fatalf("60 KiB message arrived as %d bytes", len(got.Data))
	}
	tooBig := make([]byte, chA.MaxMessageSize+1)
	a.probe.Send(chA.Channel, &rtcmsg.Send{Data: tooBig})
	f := testkit.Expect[*messages.CommandFailed](a.probe, wait)
	if !errors.Is(f.Err, rtcmsg.ErrMessageTooLarge) {
		t.Fatalf("too large send failed with %v", f.Err)
	}
	// Nothing was cut and sent, and the channel still works.
	a.probe.Send(chA.Channel, &rtcmsg.Send{Data: []byte("after")})
	if got := messagesUntil(t, b.probe, 1)[0]; string(got.Data) != "after" {
		t.Fatalf("after a refused message got %q", got.Data)
	}
}

func TestManyChannelsOnOnePeer(t *testing.T) {
	e := newEnv(t)
	a := e.peer("a", loopbackOptions())
	b := e.peer("b", loopbackOptions())
	const before, after = 10, 10
	for i := range before {
		a.probe.Send(a.peer, &rtcmsg.OpenDataChannel{Label: fmt.Sprint("ch-", i)})
	}
	negotiate(t, a, b)
	for i := range after {
		a.probe.Send(a.peer, &rtcmsg.OpenDataChannel{Label: fmt.Sprint("ch-", before+i)})
	}
	local := make(map[string]*actor.PID)
	remote := make(map[string]*actor.PID)
	for len(local) < before+after {
		m := testkit.FishFor[*rtcmsg.DataChannelOpened](a.probe, wait, nil)
		local[m.Label] = m.Channel
	}
	for len(remote) < before+after {
		m := testkit.FishFor[*rtcmsg.DataChannelOpened](b.probe, wait, nil)
		remote[m.Label] = m.Channel
	}
	for label, ch := range local {
		a.probe.Send(ch, &rtcmsg.Send{Data: []byte(label), Text: true})
	}
	for _, m := range messagesUntil(t, b.probe, before+after) {
		if !remote[string(m.Data)].Equal(m.Channel) {
			t.Fatalf("message %q arrived on channel %v, want %v", m.Data, m.Channel, remote[string(m.Data)])
		}
	}
}

func TestMalformedDescriptionAndCandidateAreRefusedAndThePeerStaysUsable(t *testing.T) {
	e := newEnv(t)
	a := e.peer("a", loopbackOptions())
	b := e.peer("b", loopbackOptions())
	b.probe.Send(b.peer, &rtcmsg.SetRemoteDescription{Type: rtcmsg.Offer, SDP: "v=0\r\nthis is not sdp"})
	if f := testkit.Expect[*messages.CommandFailed](b.probe, wait); !errors.Is(f.Err, rtcmsg.ErrBadDescription) {
		t.Fatalf("bad SDP failed with %v", f.Err)
	}
	b.probe.Send(b.peer, &rtcmsg.SetRemoteDescription{Type: "bogus", SDP: "v=0"})
	if f := testkit.Expect[*messages.CommandFailed](b.probe, wait); !errors.Is(f.Err, rtcmsg.ErrBadDescription) {
		t.Fatalf("bad type failed with %v", f.Err)
	}
	b.probe.Send(b.peer, &rtcmsg.AddRemoteCandidate{Candidate: rtcmsg.Candidate{Candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
	if f := testkit.Expect[*messages.CommandFailed](b.probe, wait); !errors.Is(f.Err, rtcmsg.ErrWrongState) {
		t.Fatalf("early candidate failed with %v", f.Err)
	}
	a.probe.Send(a.peer, &rtcmsg.OpenDataChannel{Label: "still-works"})
	negotiate(t, a, b)
	b.probe.Send(b.peer, &rtcmsg.AddRemoteCandidate{Candidate: rtcmsg.Candidate{Candidate: "candidate:garbage"}})
	if f := testkit.FishFor[*messages.CommandFailed](b.probe, wait, nil); !errors.Is(f.Err, rtcmsg.ErrBadCandidate) {
		t.Fatalf("bad candidate failed with %v", f.Err)
	}
	chA := opened(a.probe, "still-works")
	opened(b.probe, "still-works")
	a.probe.Send(chA.Channel, &rtcmsg.Send{Data: []byte("hello")})
	if got := messagesUntil(t, b.probe, 1)[0]; string(got.Data) != "hello" {
		t.Fatalf("got %q", got.Data)
	}
}

func TestTrickleICE(t *testing.T) {
	e := newEnv(t)
	a := e.peer("a", loopbackOptions())
	b := e.peer("b", loopbackOptions())
	a.probe.Send(a.peer, &rtcmsg.OpenDataChannel{Label: "trickle"})
	a.probe.Send(a.peer, &rtcmsg.CreateOffer{})
	offer := testkit.Expect[*rtcmsg.LocalDescription](a.probe, wait)
	b.probe.Send(b.peer, &rtcmsg.SetRemoteDescription{Type: offer.Type, SDP: offer.SDP})
	answer := testkit.FishFor[*rtcmsg.LocalDescription](b.probe, wait, nil)
	a.probe.Send(a.peer, &rtcmsg.SetRemoteDescription{Type: answer.Type, SDP: answer.SDP})
	// Relay candidates both ways until both sides are open.
	var chA *rtcmsg.DataChannelOpened
	openB := false
	for i := 0; i < 200 && (chA == nil || !openB); i++ {
		if env, ok := a.probe.Next(10 * 1e6); ok {
			switch m := env.Message.(type) {
			case *rtcmsg.LocalCandidate:
				b.probe.Send(b.peer, &rtcmsg.AddRemoteCandidate{Candidate: m.Candidate})
			case *rtcmsg.DataChannelOpened:
				chA = m
			case *messages.CommandFailed:
				t.Fatalf("a: %v", m)
			}
		}
		if env, ok := b.probe.Next(10 * 1e6); ok {
			switch m := env.Message.(type) {
			case *rtcmsg.LocalCandidate:
				a.probe.Send(a.peer, &rtcmsg.AddRemoteCandidate{Candidate: m.Candidate})
			case *rtcmsg.DataChannelOpened:
				openB = true
			case *messages.CommandFailed:
				t.Fatalf("b: %v", m)
			}
		}
	}
	if chA == nil || !openB {
		t.Fatalf("not connected by trickle: a open %v, b open %v", chA != nil, openB)
	}
	a.probe.Send(chA.Channel, &rtcmsg.Send{Data: []byte("trickled")})
	if got := messagesUntil(t, b.probe, 1)[0]; string(got.Data) != "trickled" {
		t.Fatalf("got %q", got.Data)
	}
}
