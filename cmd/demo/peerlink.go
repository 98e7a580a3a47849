package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/webrtc"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/discoverymsg"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
)

// Peer links: two demo agents that find each other by discovery open a
// WebRTC data channel to each other and exchange heartbeats over it; the
// console shows each link's state and round-trip time.
//
// Each agent answers offers on POST /peer/offer of its console server. That
// route is not behind the console token, which a peer does not know:
// instead it needs a link token derived from the discovery key, so only
// agents that share the key (and so trust each other's beacons) can link.
// Without a discovery key there are no links: a stranger on the LAN could
// otherwise open peer connections to the agent.

// linkTokenFor derives the link token from the discovery secret.
func linkTokenFor(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("microstack demo peer link"))
	return hex.EncodeToString(m.Sum(nil))
}

// peerOfferHandler guards a signaling handler with the link token.
func peerOfferHandler(token string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, `{"error":"wrong link token"}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Messages of the peer-links actor.
type (
	linkBeat   struct{}
	getLinks   struct{}
	linkStatus struct {
		State string
		RTT   time.Duration
		Beats int
		Last  time.Time
	}
	links    map[string]linkStatus
	answered struct {
		peerID string
		pc     *actor.PID
		sdp    string
		err    error
	}
)

func (linkBeat) IgnoreDeadLetterLogging() {}

type link struct {
	peerID string
	url    string
	pc     *actor.PID
	ch     *actor.PID
	status linkStatus
	sent   map[int]time.Time
}

type peerLinks struct {
	discovery *actor.PID
	token     string
	selfID    string
	log       *slog.Logger
	period    time.Duration

	links  map[string]*link // by peer id
	byPC   map[string]*link // by peer connection actor id
	seq    int
	cancel context.CancelFunc
	ctx    context.Context
	wg     sync.WaitGroup
	stopHB runtime.Cancel
}

func peerLinksProps(discovery *actor.PID, selfID, token string, period time.Duration, log *slog.Logger) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &peerLinks{discovery: discovery, selfID: selfID, token: token, period: period, log: log}
	})
}

func (p *peerLinks) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.started(ctx)
	case *actor.Stopping, *actor.Restarting:
		p.stopping()
	case *discoverymsg.Subscribed:
		for _, peer := range m.Peers {
			p.connect(ctx, peer)
		}
	case *discoverymsg.PeerSeen:
		p.connect(ctx, m.Peer)
	case *discoverymsg.PeerLost:
		p.drop(ctx, m.ID, "lost")
	case answered:
		p.answer(ctx, m)
	case *rtcmsg.DataChannelOpened:
		p.opened(ctx, m)
	case *rtcmsg.ConnectionStateChanged:
		p.stateChanged(ctx, m)
	case *rtcmsg.Message:
		p.echoed(ctx, m)
	case linkBeat:
		p.beat(ctx)
	case getLinks:
		p.report(ctx)
	case *messages.CommandFailed:
		p.log.Warn("peer link command failed", "err", m.Err)
	}
}

func (p *peerLinks) started(ctx actor.Context) {
	p.links, p.byPC = map[string]*link{}, map[string]*link{}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	ctx.Request(p.discovery, &discoverymsg.Subscribe{Subscriber: ctx.Self()})
	p.stopHB = runtime.SendEvery(ctx.ActorSystem(), ctx.Self(), p.period, linkBeat{})
}

func (p *peerLinks) stopping() {
	if p.stopHB != nil {
		p.stopHB()
	}
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait() // the HTTP exchanges this actor started
}

// connect opens a link to a peer that announced a console address.
func (p *peerLinks) connect(ctx actor.Context, peer discoverymsg.Peer) {
	if peer.ID == p.selfID || p.links[peer.ID] != nil || len(peer.Services) == 0 {
		return
	}
	// The console is the first service an agent announces.
	consoleAddr := peer.Services[0]
	opts := webrtc.Options{Logger: p.log.With("module", "peerlink")}
	// Peers on this machine (discovery on lo) meet over loopback.
	opts.LoopbackOnly = consoleAddr.Addr().IsLoopback()
	pc, err := inspect.Spawn(ctx, webrtc.Props(opts), "peer-"+sanitize(peer.ID), "webrtc.peer", nil)
	if err != nil {
		p.log.Warn("peer link", "peer", peer.ID, "err", err)
		return
	}
	l := &link{peerID: peer.ID, url: "http://" + consoleAddr.String() + "/peer/offer", pc: pc, sent: map[int]time.Time{}}
	l.status.State = "connecting"
	p.links[peer.ID], p.byPC[pc.Id] = l, l
	ctx.Request(pc, &rtcmsg.OpenDataChannel{Label: "heartbeat", Handler: ctx.Self()})
	// The offer is an answer to this request, not an event: ReenterAfter
	// ties it to its link without blocking the actor.
	ctx.ReenterAfter(ctx.RequestFuture(pc, &rtcmsg.CreateOffer{WaitForCandidates: true}, 30*time.Second), func(res any, err error) {
		if m, ok := res.(*rtcmsg.LocalDescription); ok && err == nil && p.links[peer.ID] == l {
			p.offer(ctx, l, m)
			return
		}
		p.log.Warn("peer link: no offer", "peer", peer.ID, "err", err, "reply", fmt.Sprintf("%T", res))
		p.drop(ctx, peer.ID, "no offer")
	})
	p.log.Info("linking to peer", "peer", peer.ID, "console", consoleAddr)
}

// offer posts the local offer to the peer from a goroutine this actor owns.
func (p *peerLinks) offer(ctx actor.Context, l *link, m *rtcmsg.LocalDescription) {
	self, root, token, url, pc := ctx.Self(), ctx.ActorSystem().Root, p.token, l.url, l.pc
	body, _ := json.Marshal(webrtc.SessionDescription{Type: m.Type, SDP: m.SDP})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		sdp, err := postOffer(p.ctx, url, token, body)
		root.Send(self, answered{peerID: l.peerID, pc: pc, sdp: sdp, err: err})
	}()
}

func postOffer(ctx context.Context, url, token string, body []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("peer answered %s", resp.Status)
	}
	var answer webrtc.SessionDescription
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&answer); err != nil {
		return "", err
	}
	return answer.SDP, nil
}

func (p *peerLinks) answer(ctx actor.Context, m answered) {
	l := p.links[m.peerID]
	if l == nil || l.pc != m.pc {
		return
	}
	if m.err != nil {
		p.log.Warn("peer link signaling failed", "peer", m.peerID, "err", m.err)
		p.drop(ctx, m.peerID, "signaling failed")
		return
	}
	ctx.Request(l.pc, &rtcmsg.SetRemoteDescription{Type: rtcmsg.Answer, SDP: m.sdp})
}

func (p *peerLinks) opened(ctx actor.Context, m *rtcmsg.DataChannelOpened) {
	for _, l := range p.links {
		if l.pc.Equal(ctx.Sender()) || (m.Channel != nil && strings.HasPrefix(m.Channel.Id, l.pc.Id+"/")) {
			l.ch = m.Channel
			l.status.State = "open"
			p.log.Info("peer link open", "peer", l.peerID)
			return
		}
	}
}

func (p *peerLinks) stateChanged(ctx actor.Context, m *rtcmsg.ConnectionStateChanged) {
	l := p.byPC[ctx.Sender().GetId()]
	if l == nil {
		return
	}
	switch m.State {
	case rtcmsg.StateFailed, rtcmsg.StateClosed:
		// Dropped: the next beacon from the peer links again.
		p.drop(ctx, l.peerID, string(m.State))
	default:
		if l.ch == nil {
			l.status.State = string(m.State)
		}
	}
}

func (p *peerLinks) beat(ctx actor.Context) {
	p.seq++
	now := time.Now()
	for _, l := range p.links {
		if l.ch == nil {
			continue
		}
		l.sent[p.seq] = now
		for s := range l.sent {
			if s < p.seq-10 { // an echo that never came
				delete(l.sent, s)
			}
		}
		ctx.Request(l.ch, &rtcmsg.Send{Data: []byte("hb " + strconv.Itoa(p.seq)), Text: true})
	}
}

// echoed reads a heartbeat echoed by the peer.
func (p *peerLinks) echoed(ctx actor.Context, m *rtcmsg.Message) {
	seq, err := strconv.Atoi(strings.TrimPrefix(string(m.Data), "hb "))
	if err != nil {
		return
	}
	for _, l := range p.links {
		if l.ch != nil && l.ch.Equal(m.Channel) {
			if at, ok := l.sent[seq]; ok {
				delete(l.sent, seq)
				l.status.RTT = time.Since(at)
				l.status.Beats++
				l.status.Last = time.Now()
				inspect.Of(ctx).Add("heartbeats", 1)
			}
			return
		}
	}
}

func (p *peerLinks) drop(ctx actor.Context, peerID, why string) {
	l := p.links[peerID]
	if l == nil {
		return
	}
	delete(p.links, peerID)
	delete(p.byPC, l.pc.Id)
	ctx.Stop(l.pc)
	p.log.Info("peer link closed", "peer", peerID, "why", why)
}

func (p *peerLinks) report(ctx actor.Context) {
	out := links{}
	for id, l := range p.links {
		out[id] = l.status
	}
	ctx.Respond(out)
}

// describe formats a link's status for the console.
func (s linkStatus) describe() string {
	if s.Beats == 0 {
		return s.State
	}
	return fmt.Sprintf("%s · rtt %v · %d heartbeats · last %v ago", s.State, s.RTT.Round(10*time.Microsecond), s.Beats, time.Since(s.Last).Round(time.Second))
}

// sanitize makes a peer id usable in an actor name.
func sanitize(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, id)
}
