// Package webrtc holds microstack's WebRTC actors, the counterpart of
// MicroStack's ILibWebRTC and ILibWrapperWebRTC, on pion
// (github.com/pion/webrtc/v4): a peer connection actor that negotiates with
// SDP and trickled ICE candidates (STUN and TURN servers, loopback and mDNS
// options), and one data channel actor per channel, a child of its peer,
// with back-pressure from the channel's buffered amount. They speak the
// messages of package messages/rtcmsg.
//
// Signaling is separate: the peer emits descriptions and candidates as
// events and takes the remote ones as commands. Signaling is an
// http.Handler that answers an offer POSTed as JSON with the answer, for
// browsers and the console, and echoes what arrives on every channel the
// remote opens.
//
// pion calls back on its own goroutines; those callbacks only send messages
// to the actors. Stopping or restarting a peer closes its pion connection
// and waits for pion's goroutines to end; a restarted peer starts with a
// fresh connection, to be negotiated again with a new offer.
package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/asynkron/protoactor-go/actor"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/rtcerr"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Kinds of the WebRTC actors in the runtime's tree.
const (
	Kind        = "webrtc.peer"
	ChannelKind = "webrtc.channel"
)

// Props returns the props of a peer connection actor configured by opts.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &peer{opts: opts} })
}

// ChildSpec returns a supervisor child spec that runs a peer named name:
// transient, so a peer that crashes is restarted with a fresh connection
// (to be negotiated again) and one closed in order stays closed. Its
// StopMessage is rtcmsg.Close, so the handler learns that it closed.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:        name,
		Kind:        Kind,
		Props:       func() *actor.Props { return Props(opts) },
		Restart:     supervisor.Transient,
		StopMessage: &rtcmsg.Close{},
	}
}

type peer struct {
	opts    Options
	log     *slog.Logger
	stats   *inspect.Entry
	self    *actor.PID
	root    *actor.RootContext
	handler *actor.PID

	pc       *pion.PeerConnection
	closing  bool
	channels int // channel actors spawned, for their names

	// waiting are the senders of commands whose LocalDescription waits
	// for ICE gathering to complete.
	waiting []*actor.PID
}

// Messages from pion's callbacks. Each names its connection: a restarted
// peer still receives the callbacks of its predecessor's connection, closed
// on restart, and ignores them.
type (
	localCandidate struct {
		pc *pion.PeerConnection
		c  *pion.ICECandidate
	}
	stateChanged struct {
		pc *pion.PeerConnection
		s  pion.PeerConnectionState
	}
	remoteChannel struct {
		pc *pion.PeerConnection
		dc *pion.DataChannel
	}
)

// Receive is the table of contents of the peer actor.
func (p *peer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		p.release()
	case *actor.Stopped, *actor.Terminated:
	case *rtcmsg.CreateOffer:
		p.createOffer(ctx, m)
	case *rtcmsg.SetRemoteDescription:
		p.setRemoteDescription(ctx, m)
	case *rtcmsg.AddRemoteCandidate:
		p.addRemoteCandidate(ctx, m)
	case *rtcmsg.OpenDataChannel:
		p.openDataChannel(ctx, m)
	case *rtcmsg.Close:
		p.close(ctx)
	case *messages.Register:
		p.handler = m.Handler
	case localCandidate:
		if m.pc == p.pc {
			p.localCandidate(ctx, m.c)
		}
	case stateChanged:
		if m.pc == p.pc {
			p.stateChanged(ctx, m.s)
		}
	case remoteChannel:
		if m.pc == p.pc {
			p.remoteChannel(ctx, m.dc)
		}
	default:
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("webrtc: %T: %w", m, messages.ErrUnknownCommand))
	}
}

func (p *peer) start(ctx actor.Context) {
	p.self = ctx.Self()
	p.root = ctx.ActorSystem().Root
	p.log = p.opts.Logger.With("actor", p.self.Id, "kind", Kind)
	p.stats = inspect.Of(ctx)
	p.handler = p.opts.Handler
	if p.handler == nil {
		p.handler = ctx.Parent()
	}
	pc, err := p.opts.api().NewPeerConnection(p.opts.configuration())
	if err != nil {
		panic(fmt.Errorf("webrtc: new peer connection: %w", err))
	}
	p.pc = pc
	// pion calls these on its own goroutines: they only send messages.
	root, self := p.root, p.self
	pc.OnICECandidate(func(c *pion.ICECandidate) { root.Send(self, localCandidate{pc, c}) })
	pc.OnConnectionStateChange(func(s pion.PeerConnectionState) { root.Send(self, stateChanged{pc, s}) })
	pc.OnDataChannel(func(dc *pion.DataChannel) { root.Send(self, remoteChannel{pc, dc}) })
}

// release closes the pion connection and waits for its goroutines; the
// channel actors, stopped after this, see their streams end.
func (p *peer) release() {
	if p.pc == nil {
		return
	}
	if err := p.pc.GracefulClose(); err != nil {
		p.log.Debug("webrtc: close", "err", err)
	}
	p.pc = nil
}

func (p *peer) usable(ctx actor.Context, cmd any) bool {
	if p.pc == nil || p.closing {
		p.fail(ctx, ctx.Sender(), cmd, fmt.Errorf("webrtc: peer: %w", messages.ErrClosed))
		return false
	}
	return true
}

func (p *peer) createOffer(ctx actor.Context, m *rtcmsg.CreateOffer) {
	if !p.usable(ctx, m) {
		return
	}
	offer, err := p.pc.CreateOffer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(offer)
	}
	if err != nil {
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("webrtc: create offer: %w: %w", rtcmsg.ErrWrongState, err))
		return
	}
	p.describe(ctx, ctx.Sender(), m.WaitForCandidates)
}

func (p *peer) setRemoteDescription(ctx actor.Context, m *rtcmsg.SetRemoteDescription) {
	if !p.usable(ctx, m) {
		return
	}
	var typ pion.SDPType
	switch m.Type {
	case rtcmsg.Offer, rtcmsg.Answer, rtcmsg.PrAnswer, rtcmsg.Rollback:
		typ = pion.NewSDPType(string(m.Type))
	default:
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("%w: unknown type %q", rtcmsg.ErrBadDescription, m.Type))
		return
	}
	if err := p.pc.SetRemoteDescription(pion.SessionDescription{Type: typ, SDP: m.SDP}); err != nil {
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("%w: %w", descriptionError(err), err))
		return
	}
	if typ != pion.SDPTypeOffer {
		ctx.Respond(&rtcmsg.RemoteDescriptionSet{Type: m.Type})
		return
	}
	answer, err := p.pc.CreateAnswer(nil)
	if err == nil {
		err = p.pc.SetLocalDescription(answer)
	}
	if err != nil {
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("webrtc: answer: %w: %w", rtcmsg.ErrBadDescription, err))
		return
	}
	p.describe(ctx, ctx.Sender(), m.WaitForCandidates)
}

// descriptionError tells a description that does not fit the signaling
// state from one that is malformed.
func descriptionError(err error) error {
	var state *rtcerr.InvalidStateError
	var modification *rtcerr.InvalidModificationError
	if errors.As(err, &state) || errors.As(err, &modification) {
		return rtcmsg.ErrWrongState
	}
	return rtcmsg.ErrBadDescription
}

// describe sends the local description to `to`, now or, when asked, once
// ICE gathering has completed.
func (p *peer) describe(ctx actor.Context, to *actor.PID, waitForCandidates bool) {
	if waitForCandidates && p.pc.ICEGatheringState() != pion.ICEGatheringStateComplete {
		p.waiting = append(p.waiting, to)
		return
	}
	p.sendDescription(ctx, to)
}

func (p *peer) sendDescription(ctx actor.Context, to *actor.PID) {
	d := p.pc.LocalDescription()
	if d == nil || to == nil {
		return
	}
	ctx.Send(to, &rtcmsg.LocalDescription{Type: rtcmsg.SDPType(d.Type.String()), SDP: d.SDP})
}

func (p *peer) addRemoteCandidate(ctx actor.Context, m *rtcmsg.AddRemoteCandidate) {
	if !p.usable(ctx, m) {
		return
	}
	if p.pc.RemoteDescription() == nil {
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("webrtc: candidate before the remote description: %w", rtcmsg.ErrWrongState))
		return
	}
	c := m.Candidate
	err := p.pc.AddICECandidate(pion.ICECandidateInit{
		Candidate: c.Candidate, SDPMid: nonEmpty(c.SDPMid), SDPMLineIndex: c.SDPMLineIndex,
		UsernameFragment: nonEmpty(c.UsernameFragment),
	})
	if err != nil {
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("%w: %q: %w", rtcmsg.ErrBadCandidate, c.Candidate, err))
		return
	}
	p.stats.Add("remote_candidates", 1)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (p *peer) localCandidate(ctx actor.Context, c *pion.ICECandidate) {
	if c == nil {
		// Gathering is complete: the local description now carries
		// every candidate.
		for _, to := range p.waiting {
			p.sendDescription(ctx, to)
		}
		p.waiting = nil
		p.tell(ctx, &rtcmsg.GatheringComplete{})
		return
	}
	p.stats.Add("local_candidates", 1)
	init := c.ToJSON()
	out := rtcmsg.Candidate{Candidate: init.Candidate, SDPMLineIndex: init.SDPMLineIndex}
	if init.SDPMid != nil {
		out.SDPMid = *init.SDPMid
	}
	if init.UsernameFragment != nil {
		out.UsernameFragment = *init.UsernameFragment
	}
	p.tell(ctx, &rtcmsg.LocalCandidate{Candidate: out})
}

func (p *peer) stateChanged(ctx actor.Context, s pion.PeerConnectionState) {
	p.tell(ctx, &rtcmsg.ConnectionStateChanged{State: rtcmsg.ConnectionState(s.String())})
	if p.closing {
		return
	}
	switch s {
	case pion.PeerConnectionStateClosed:
		// The remote closed (DTLS close_notify): the connection cannot be
		// used again.
		p.closing = true
		p.tell(ctx, &messages.Closed{Reason: messages.PeerClosed})
		ctx.Stop(p.self)
	case pion.PeerConnectionStateFailed:
		// ICE found no working pair for ICEFailedTimeout, or DTLS failed:
		// with no ICE restart here, the connection is over, as when a
		// crashed remote's close_notify was lost on the way.
		p.closing = true
		p.tell(ctx, &messages.Closed{Reason: messages.ErrorClosed, Err: errConnectionFailed})
		ctx.Stop(p.self)
	}
}

// errConnectionFailed is the error of a connection that reached the
// failed state.
var errConnectionFailed = errors.New("webrtc: connection failed (no ICE pair answered, or DTLS failed)")

func (p *peer) openDataChannel(ctx actor.Context, m *rtcmsg.OpenDataChannel) {
	if !p.usable(ctx, m) {
		return
	}
	ordered := !m.Unordered
	init := &pion.DataChannelInit{Ordered: &ordered, MaxRetransmits: m.MaxRetransmits, MaxPacketLifeTime: m.MaxPacketLifeTime}
	if m.Protocol != "" {
		init.Protocol = &m.Protocol
	}
	dc, err := p.pc.CreateDataChannel(m.Label, init)
	if err != nil {
		p.fail(ctx, ctx.Sender(), m, fmt.Errorf("%w: %w", rtcmsg.ErrBadChannel, err))
		return
	}
	handler := m.Handler
	if handler == nil {
		handler = ctx.Sender()
	}
	p.spawnChannel(ctx, dc, handler, false)
}

func (p *peer) remoteChannel(ctx actor.Context, dc *pion.DataChannel) {
	p.spawnChannel(ctx, dc, p.handler, true)
}

func (p *peer) spawnChannel(ctx actor.Context, dc *pion.DataChannel, handler *actor.PID, remote bool) {
	p.channels++
	props := dispatch.Props(ctx.ActorSystem(), actor.PropsFromProducer(func() actor.Actor {
		return &channel{dc: dc, pc: p.pc, handler: handler, remote: remote, opts: p.opts}
	}))
	name := "dc-" + strconv.Itoa(p.channels)
	if _, err := inspect.Spawn(ctx, props, name, ChannelKind, nil); err != nil {
		p.log.Error("webrtc: spawn channel", "label", dc.Label(), "err", err)
		_ = dc.Close()
		return
	}
	p.stats.Add("channels", 1)
}

// close ends the connection at the handler's request: the handler is told
// and the actor stops, which closes the pion connection.
func (p *peer) close(ctx actor.Context) {
	if p.closing {
		return
	}
	p.closing = true
	p.tell(ctx, &messages.Closed{Reason: messages.ClosedByUs})
	ctx.Stop(p.self)
}

// tell sends an event to the handler, with the peer as sender.
func (p *peer) tell(ctx actor.Context, msg any) {
	if p.handler != nil {
		ctx.Request(p.handler, msg)
	}
}

func (p *peer) fail(ctx actor.Context, to *actor.PID, cmd any, err error) {
	p.stats.Add("failures", 1)
	p.log.Debug("webrtc: command failed", "cmd", fmt.Sprintf("%T", cmd), "err", err)
	if to != nil {
		ctx.Send(to, &messages.CommandFailed{Cmd: cmd, Err: err})
	}
}
