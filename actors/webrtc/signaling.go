package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
)

// SessionKind is the kind of a Signaling session actor in the runtime's
// tree; its peer is its child.
const SessionKind = "webrtc.session"

// SignalingOptions configures a Signaling handler.
type SignalingOptions struct {
	// Peer configures the peer of each session. Its Handler is ignored:
	// the session is the handler.
	Peer Options
	// Timeout bounds one offer-to-answer exchange, ICE gathering included.
	// Default 10 s.
	Timeout time.Duration
	// MaxSessions caps the sessions alive at once; more offers are answered
	// 503 Service Unavailable. Default 16.
	MaxSessions int
	// MaxBody caps the size of a POSTed offer. Default 256 KiB.
	MaxBody int64
	// Logger receives the handler's logs. Default: discarded.
	Logger *slog.Logger
}

// SessionDescription is the JSON form of a session description, as the W3C
// RTCSessionDescription serializes: {"type":"offer","sdp":"v=0..."}.
type SessionDescription struct {
	Type rtcmsg.SDPType `json:"type"`
	SDP  string         `json:"sdp"`
}

// signalingError is the JSON body of a refused request.
type signalingError struct {
	Error string `json:"error"`
}

// Signaling is an http.Handler for signaling without trickle: a POST whose
// body is an offer, {"type":"offer","sdp":"..."}, is answered, once the
// answering peer's ICE gathering is complete, with
// {"type":"answer","sdp":"..."}. Each offer gets a session actor with its
// own peer, which echoes every message on every data channel the remote
// opens, and stops when the connection closes or fails. A malformed offer
// is answered 400 with {"error":"..."}.
//
// Sessions are spawned at the top of the actor system; Close stops them.
type Signaling struct {
	system *actor.ActorSystem
	opts   SignalingOptions
	log    *slog.Logger

	mu       sync.Mutex
	sessions map[string]*actor.PID
	closed   bool
}

// NewSignaling returns a Signaling handler whose sessions run in system.
func NewSignaling(system *actor.ActorSystem, opts SignalingOptions) *Signaling {
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 16
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 256 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Signaling{system: system, opts: opts, log: opts.Logger, sessions: make(map[string]*actor.PID)}
}

// ServeHTTP answers a POSTed offer.
func (s *Signaling) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, signalingError{"POST an offer"})
		return
	}
	var offer SessionDescription
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.opts.MaxBody)).Decode(&offer); err != nil {
		reply(w, http.StatusBadRequest, signalingError{"bad JSON: " + err.Error()})
		return
	}
	if offer.Type != rtcmsg.Offer {
		reply(w, http.StatusBadRequest, signalingError{fmt.Sprintf("type %q: want \"offer\"", offer.Type)})
		return
	}
	session, err := s.start()
	if err != nil {
		reply(w, http.StatusServiceUnavailable, signalingError{err.Error()})
		return
	}
	res, err := s.system.Root.RequestFuture(session, &rtcmsg.SetRemoteDescription{
		Type: rtcmsg.Offer, SDP: offer.SDP, WaitForCandidates: true,
	}, s.opts.Timeout).Result()
	switch m := res.(type) {
	case *rtcmsg.LocalDescription:
		reply(w, http.StatusOK, SessionDescription{Type: m.Type, SDP: m.SDP})
		return
	case *messages.CommandFailed:
		s.system.Root.Stop(session)
		reply(w, http.StatusBadRequest, signalingError{m.Err.Error()})
		return
	}
	s.system.Root.Stop(session)
	if err == nil {
		err = fmt.Errorf("unexpected reply %T", res)
	}
	s.log.Warn("webrtc: signaling: no answer", "err", err)
	reply(w, http.StatusGatewayTimeout, signalingError{"no answer: " + err.Error()})
}

// ErrSignalingClosed is the cause of a 503 once Close was called.
var ErrSignalingClosed = errors.New("webrtc: signaling closed")

// ErrTooManySessions is the cause of a 503 when MaxSessions are alive.
var ErrTooManySessions = errors.New("webrtc: too many signaling sessions")

func (s *Signaling) start() (*actor.PID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrSignalingClosed
	}
	if len(s.sessions) >= s.opts.MaxSessions {
		return nil, ErrTooManySessions
	}
	props := actor.PropsFromProducer(func() actor.Actor {
		return &session{peerOpts: s.opts.Peer, done: s.forget}
	})
	pid, err := inspect.Spawn(s.system.Root, props, "", SessionKind, nil)
	if err != nil {
		return nil, err
	}
	s.sessions[pid.Id] = pid
	return pid, nil
}

func (s *Signaling) forget(pid *actor.PID) {
	s.mu.Lock()
	delete(s.sessions, pid.Id)
	s.mu.Unlock()
}

// Sessions returns how many sessions are alive.
func (s *Signaling) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Close refuses further offers, stops every session (closing its peer) and
// waits for them.
func (s *Signaling) Close() {
	s.mu.Lock()
	s.closed = true
	pids := make([]*actor.PID, 0, len(s.sessions))
	for _, pid := range s.sessions {
		pids = append(pids, pid)
	}
	s.mu.Unlock()
	for _, pid := range pids {
		_ = s.system.Root.StopFuture(pid).Wait()
	}
}

func reply(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// session is one signaling exchange's actor: it owns a peer, hands it the
// offer and echoes what arrives on the remote's channels.
type session struct {
	peerOpts Options
	done     func(*actor.PID)
	// sink, for a WebSocket session, carries the peer's answer, candidates
	// and failures to the client; nil for a POSTed offer, whose answer
	// goes to the request's future.
	sink  func(TrickleMessage)
	peer  *actor.PID
	stats *inspect.Entry
}

// Receive is the table of contents of the session actor.
func (s *session) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopped:
		s.done(ctx.Self())
	case *rtcmsg.SetRemoteDescription, *rtcmsg.AddRemoteCandidate:
		if s.sink != nil {
			ctx.Request(s.peer, m) // the answer and failures come back here
		} else {
			ctx.Forward(s.peer) // the peer answers the original sender
		}
	case *rtcmsg.LocalDescription, *rtcmsg.LocalCandidate, *rtcmsg.GatheringComplete, *messages.CommandFailed:
		if s.sink != nil {
			s.trickled(m)
		}
	case *rtcmsg.Message:
		s.echo(ctx, m)
	case *rtcmsg.ConnectionStateChanged:
		if m.State == rtcmsg.StateFailed || m.State == rtcmsg.StateClosed {
			ctx.Stop(ctx.Self())
		}
	case *messages.Closed:
		if ctx.Sender().Equal(s.peer) {
			ctx.Stop(ctx.Self())
		}
	case *messages.WriteRefused:
		s.stats.Add("echo_dropped", 1)
	}
}

func (s *session) start(ctx actor.Context) {
	s.stats = inspect.Of(ctx)
	opts := s.peerOpts
	opts.Handler = ctx.Self()
	pid, err := inspect.Spawn(ctx, Props(opts), "peer", Kind, nil)
	if err != nil {
		panic(fmt.Errorf("webrtc: session: spawn peer: %w", err))
	}
	s.peer = pid
}

func (s *session) echo(ctx actor.Context, m *rtcmsg.Message) {
	s.stats.Add("echoed", 1)
	ctx.Request(m.Channel, &rtcmsg.Send{Data: m.Data, Text: m.Text})
}
