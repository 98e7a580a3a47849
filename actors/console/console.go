// Package console is the agent's web console, MicroStack's ILibRemoteLogging
// grown into a page a person reads at a glance: the live actor tree (with a
// button that crashes an actor on purpose, to watch its supervisor restart
// it), live logs with level and module filters, the data store, discovered
// peers, a WebRTC data-channel test, a process runner when allowed, a health
// endpoint and Prometheus metrics.
//
// The console is an http.Handler, mounted on the HTTP server actor (or any
// net/http server). Every page and API call needs the console token, as
// "Authorization: Bearer TOKEN" or "?token=TOKEN"; a wrong or missing token
// gets 401. The one exception is GET /healthz, for process supervisors and
// load balancers. The page and its script are embedded: no build step, no
// CDN, and it works offline.
//
// API (JSON unless said otherwise):
//
//	GET    /healthz                  200 when every service is up, 503 naming the failing ones
//	GET    /api/tree                 the actor tree
//	POST   /api/actors/crash?path=P  crash actor P (fault injection)
//	POST   /api/actors/close?path=P  close connection P (a TCP connection, HTTP session, WebSocket or peer)
//	GET    /api/logs?after=&limit=&level=&module=   recent log records
//	GET    /api/logs/stream?level=&module=          live log records (server-sent events)
//	GET    /api/logs/levels          per-module levels; PUT {"module","level"} changes one
//	GET    /api/store?prefix=&after=&limit=         list keys
//	GET    /api/store/{key}          read; PUT writes the body; DELETE deletes
//	POST   /api/webrtc/offer         {"type":"offer","sdp"} → {"type":"answer","sdp"}
//	GET    /api/peers                discovered peers
//	POST   /api/exec                 {"path","args"} → output as server-sent events (with AllowExec)
//	GET    /metrics                  Prometheus text format
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/runtime"
)

//go:embed static
var static embed.FS

// Peer is one discovered peer as the console shows it.
type Peer struct {
	ID       string    `json:"id"`
	Name     string    `json:"name,omitempty"`
	Addr     string    `json:"addr"`
	Services []string  `json:"services,omitempty"`
	LastSeen time.Time `json:"lastSeen"`
	// Heartbeat describes the data channel to the peer, when one is open.
	Heartbeat string `json:"heartbeat,omitempty"`
}

// Options configures a console. Runtime, Hub and Token are required.
type Options struct {
	// Runtime is the chain the console shows and acts on.
	Runtime *runtime.Runtime
	// Hub holds the logs; LogActor, when set, is the logging actor that
	// serves live subscriptions (without it the stream polls the hub).
	Hub      *logging.Hub
	LogActor *actor.PID
	// Token is the secret every request but /healthz must carry. Make one
	// with NewToken and keep it (the demo keeps it in its store).
	Token string
	// Store is the data store actor the store panel edits; nil hides it.
	Store *actor.PID
	// WebRTC, when set, answers POST /api/webrtc/offer (the WebRTC
	// signaling handler of actors/webrtc).
	WebRTC http.Handler
	// Peers, when set, lists discovered peers.
	Peers func() []Peer
	// AllowExec enables the process runner. Off by default: with it, anyone
	// holding the token runs commands as the agent's user.
	AllowExec bool
	// Services are the chain children whose state /healthz reports; empty
	// means all of them.
	Services []string
	// Timeout bounds each call the console makes to an actor. Default 5s.
	Timeout time.Duration
	// Logger receives the console's own logs; nil means slog.Default().
	Logger *slog.Logger
}

// Console is the console's handler.
type Console struct {
	opts        Options
	mux         *http.ServeMux
	metrics     http.Handler
	unsubscribe func()
	log         *slog.Logger
}

// Errors of New.
var (
	ErrNoRuntime = errors.New("console: no runtime")
	ErrNoHub     = errors.New("console: no log hub")
	ErrWeakToken = errors.New("console: token must be at least 16 characters")
)

// New builds the console.
func New(opts Options) (*Console, error) {
	switch {
	case opts.Runtime == nil:
		return nil, ErrNoRuntime
	case opts.Hub == nil:
		return nil, ErrNoHub
	case len(opts.Token) < 16:
		return nil, ErrWeakToken
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Console{opts: opts, mux: http.NewServeMux(), log: opts.Logger.With("module", "console")}
	c.metrics, c.unsubscribe = newMetrics(opts.Runtime)
	c.routes()
	return c, nil
}

// Close stops the console's subscription to the chain's lifecycle events.
// Requests in flight are not affected.
func (c *Console) Close() { c.unsubscribe() }

// NewToken returns a random 128-bit token in hex.
func NewToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ServeHTTP serves the console; every route but /healthz checks the token.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" {
		via := c.authorized(r)
		if via == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="microstack console"`)
			writeError(w, http.StatusUnauthorized, errors.New("missing or wrong console token"))
			return
		}
		if via == "query" {
			// The page's own requests (its script, its style, its event
			// streams) then carry the token without putting it in URLs.
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: c.opts.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		}
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	c.mux.ServeHTTP(w, r)
}

const cookieName = "microstack_token"

// authorized checks the token, from the Authorization header, the token
// query parameter or the console's cookie, and says which carried it ("" when
// none did).
func (c *Console) authorized(r *http.Request) string {
	match := func(got string) bool {
		return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(c.opts.Token)) == 1
	}
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		if match(strings.TrimPrefix(h, "Bearer ")) {
			return "header"
		}
		return ""
	}
	if q := r.URL.Query().Get("token"); q != "" {
		if match(q) {
			return "query"
		}
		return ""
	}
	if ck, err := r.Cookie(cookieName); err == nil && match(ck.Value) {
		return "cookie"
	}
	return ""
}

func (c *Console) routes() {
	page, _ := fs.Sub(static, "static")
	files := http.FileServer(http.FS(page))
	c.mux.Handle("GET /", files)
	c.mux.HandleFunc("GET /healthz", c.health)
	c.mux.HandleFunc("GET /api/tree", c.tree)
	c.mux.HandleFunc("POST /api/actors/crash", c.crash)
	c.mux.HandleFunc("POST /api/actors/close", c.closeActor)
	c.mux.HandleFunc("GET /api/logs", c.logs)
	c.mux.HandleFunc("GET /api/logs/stream", c.logStream)
	c.mux.HandleFunc("GET /api/logs/levels", c.levels)
	c.mux.HandleFunc("PUT /api/logs/levels", c.setLevel)
	c.mux.HandleFunc("GET /api/store", c.storeList)
	c.mux.HandleFunc("GET /api/store/{key...}", c.storeGet)
	c.mux.HandleFunc("PUT /api/store/{key...}", c.storePut)
	c.mux.HandleFunc("DELETE /api/store/{key...}", c.storeDelete)
	c.mux.HandleFunc("POST /api/webrtc/offer", c.webrtc)
	c.mux.HandleFunc("GET /api/peers", c.peers)
	c.mux.HandleFunc("GET /api/info", c.info)
	c.mux.HandleFunc("POST /api/exec", c.exec)
	c.mux.Handle("GET /metrics", c.metrics)
}

// info tells the page which panels are on.
func (c *Console) info(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"store":           c.opts.Store != nil,
		"webrtc":          c.opts.WebRTC != nil,
		"peers":           c.opts.Peers != nil,
		"exec":            c.opts.AllowExec,
		"connectionKinds": ConnectionKinds(),
	})
}

func (c *Console) peers(w http.ResponseWriter, _ *http.Request) {
	peers := []Peer{}
	if c.opts.Peers != nil {
		peers = append(peers, c.opts.Peers()...)
	}
	writeJSON(w, http.StatusOK, peers)
}

func (c *Console) webrtc(w http.ResponseWriter, r *http.Request) {
	if c.opts.WebRTC == nil {
		writeError(w, http.StatusNotFound, errors.New("webrtc is not enabled on this agent"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
	c.opts.WebRTC.ServeHTTP(w, r)
}

func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), c.opts.Timeout)
}

// ask sends msg to pid and waits for the answer within the console's
// timeout.
func (c *Console) ask(pid *actor.PID, msg any) (any, error) {
	return c.opts.Runtime.System().Root.RequestFuture(pid, msg, c.opts.Timeout).Result()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	writeError(w, http.StatusBadRequest, fmt.Errorf(format, args...))
}
