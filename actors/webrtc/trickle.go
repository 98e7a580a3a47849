package webrtc

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/net/websocket"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
)

// TrickleMessage is one JSON message of the WebSocket signaling protocol
// that Signaling.Trickle serves. The client sends {"type":"offer","sdp":...}
// and {"type":"candidate","candidate":{...}}; the server sends
// {"type":"answer","sdp":...}, its own candidates the same way (an empty
// "candidate" string ends them) and {"type":"error","error":"..."} for a
// refused offer or candidate, after which the session stays usable.
type TrickleMessage struct {
	Type      string            `json:"type"`
	SDP       string            `json:"sdp,omitempty"`
	Candidate *TrickleCandidate `json:"candidate,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// TrickleCandidate is the JSON form of an ICE candidate (W3C
// RTCIceCandidateInit).
type TrickleCandidate struct {
	Candidate        string  `json:"candidate"`
	SDPMid           string  `json:"sdpMid,omitempty"`
	SDPMLineIndex    *uint16 `json:"sdpMLineIndex,omitempty"`
	UsernameFragment string  `json:"usernameFragment,omitempty"`
}

// trickleBuffer bounds what waits to be written to one WebSocket; a client
// that does not read loses its session rather than growing the queue.
const trickleBuffer = 256

// Trickle returns the WebSocket side of the signaling: one connection per
// session, carrying the offer, the answer and both sides' candidates as they
// are found (trickle ICE). The session echoes as ServeHTTP's do and ends
// when the WebSocket closes.
func (s *Signaling) Trickle() http.Handler {
	return websocket.Handler(s.trickle)
}

func (s *Signaling) trickle(ws *websocket.Conn) {
	ws.MaxPayloadBytes = int(s.opts.MaxBody)
	out := make(chan TrickleMessage, trickleBuffer)
	var once sync.Once
	closeWS := func() { once.Do(func() { _ = ws.Close() }) }
	// The session stops before out is closed, but a stop that outlasts
	// StopFuture's own limit (a peer slow to close) must not make a late
	// sink call send on a closed channel: sink and the close share a lock.
	var outMu sync.Mutex
	outClosed := false
	sink := func(m TrickleMessage) {
		outMu.Lock()
		defer outMu.Unlock()
		if outClosed {
			return
		}
		select {
		case out <- m:
		default:
			closeWS() // the client does not read
		}
	}
	session, err := s.startWith(sink, closeWS)
	if err != nil {
		_ = websocket.JSON.Send(ws, TrickleMessage{Type: "error", Error: err.Error()})
		_ = ws.Close()
		return
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		for m := range out {
			if err := websocket.JSON.Send(ws, m); err != nil {
				closeWS()
			}
		}
	}()
	for {
		var in TrickleMessage
		if err := websocket.JSON.Receive(ws, &in); err != nil {
			break
		}
		switch {
		case in.Type == "offer":
			s.system.Root.Send(session, &rtcmsg.SetRemoteDescription{Type: rtcmsg.Offer, SDP: in.SDP})
		case in.Type == "candidate" && in.Candidate != nil:
			c := in.Candidate
			s.system.Root.Send(session, &rtcmsg.AddRemoteCandidate{Candidate: rtcmsg.Candidate{
				Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
			}})
		default:
			sink(TrickleMessage{Type: "error", Error: fmt.Sprintf("unknown message type %q", in.Type)})
		}
	}
	// The session makes no sink call once stopped.
	_ = s.system.Root.StopFuture(session).Wait()
	outMu.Lock()
	outClosed = true
	close(out)
	outMu.Unlock()
	<-written
	closeWS()
}

func (s *Signaling) startWith(sink func(TrickleMessage), ended func()) (*actor.PID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSignalingClosed
	}
	if len(s.sessions) >= s.opts.MaxSessions {
		return nil, ErrTooManySessions
	}
	props := actor.PropsFromProducer(func() actor.Actor {
		return &session{peerOpts: s.opts.Peer, sink: sink, done: func(pid *actor.PID) { s.forget(pid); ended() }}
	})
	pid, err := inspect.Spawn(s.system.Root, props, "", SessionKind, nil)
	if err != nil {
		return nil, err
	}
	s.sessions[pid.Id] = pid
	return pid, nil
}

// trickled handles what a trickle session's peer sends: the answer, local
// candidates and failures go to the WebSocket.
func (s *session) trickled(m any) {
	switch m := m.(type) {
	case *rtcmsg.LocalDescription:
		s.sink(TrickleMessage{Type: string(m.Type), SDP: m.SDP})
	case *rtcmsg.LocalCandidate:
		c := m.Candidate
		s.sink(TrickleMessage{Type: "candidate", Candidate: &TrickleCandidate{
			Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex, UsernameFragment: c.UsernameFragment,
		}})
	case *rtcmsg.GatheringComplete:
		s.sink(TrickleMessage{Type: "candidate", Candidate: &TrickleCandidate{}})
	case *messages.CommandFailed:
		s.sink(TrickleMessage{Type: "error", Error: m.Err.Error()})
	}
}
