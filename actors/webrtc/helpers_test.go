package webrtc_test

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
)

// pion ends its goroutines in GracefulClose, but a few of its callbacks and
// timers finish just after: they are named here, one by one, rather than
// ignoring pion wholesale.
func TestMain(m *testing.M) {
	testkit.VerifyTestMain(m)
}

const wait = 15 * time.Second

type env struct {
	t        testing.TB
	system   *actor.ActorSystem
	registry *inspect.Registry
}

func newEnv(t testing.TB) *env {
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	t.Cleanup(system.Shutdown)
	return &env{t: t, system: system, registry: reg}
}

// side is one peer actor and the probe that is its handler.
type side struct {
	peer  *actor.PID
	probe *testkit.Probe
}

func loopbackOptions() webrtc.Options {
	return webrtc.Options{LoopbackOnly: true}
}

func (e *env) peer(name string, opts webrtc.Options) side {
	return e.peerProps(name, opts, nil)
}

// peerProps spawns a peer; wrap, when set, changes its props (a test's
// crash injection).
func (e *env) peerProps(name string, opts webrtc.Options, wrap func(*actor.Props) *actor.Props) side {
	e.t.Helper()
	probe := testkit.NewProbe(e.t, e.system)
	opts.Handler = probe.PID
	props := webrtc.Props(opts)
	if wrap != nil {
		props = wrap(props)
	}
	pid, err := inspect.Spawn(e.system.Root, props, name, webrtc.Kind, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = e.system.Root.StopFuture(pid).Wait() })
	return side{peer: pid, probe: probe}
}

// negotiate runs offer and answer between a and b without trickle: each
// description carries every candidate.
func negotiate(t testing.TB, a, b side) {
	t.Helper()
	a.probe.Send(a.peer, &rtcmsg.CreateOffer{WaitForCandidates: true})
	offer := testkit.FishFor[*rtcmsg.LocalDescription](a.probe, wait, nil)
	if offer.Type != rtcmsg.Offer {
		t.Fatalf("offer type %q", offer.Type)
	}
	b.probe.Send(b.peer, &rtcmsg.SetRemoteDescription{Type: offer.Type, SDP: offer.SDP, WaitForCandidates: true})
	answer := testkit.FishFor[*rtcmsg.LocalDescription](b.probe, wait, nil)
	if answer.Type != rtcmsg.Answer {
		t.Fatalf("answer type %q", answer.Type)
	}
	a.probe.Send(a.peer, &rtcmsg.SetRemoteDescription{Type: answer.Type, SDP: answer.SDP})
	testkit.FishFor[*rtcmsg.RemoteDescriptionSet](a.probe, wait, nil)
}

// opened waits for the DataChannelOpened of label.
func opened(p *testkit.Probe, label string) *rtcmsg.DataChannelOpened {
	return testkit.FishFor(p, wait, func(m *rtcmsg.DataChannelOpened) bool { return m.Label == label })
}

// pair connects two loopback peers over one data channel opened by a.
func (e *env) pair(label string, open *rtcmsg.OpenDataChannel, optsA, optsB webrtc.Options) (a, b side, chA, chB *rtcmsg.DataChannelOpened) {
	e.t.Helper()
	a = e.peer("a", optsA)
	b = e.peer("b", optsB)
	if open == nil {
		open = &rtcmsg.OpenDataChannel{}
	}
	open.Label = label
	a.probe.Send(a.peer, open)
	negotiate(e.t, a, b)
	return a, b, opened(a.probe, label), opened(b.probe, label)
}

// messagesUntil collects the Message events of p until n have arrived.
func messagesUntil(t testing.TB, p *testkit.Probe, n int) []*rtcmsg.Message {
	t.Helper()
	var out []*rtcmsg.Message
	for len(out) < n {
		out = append(out, testkit.FishFor[*rtcmsg.Message](p, wait, nil))
	}
	return out
}
