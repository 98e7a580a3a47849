package console

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/messages/rtcmsg"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/messages/tcpmsg"
	"github.com/microstack-go/microstack/messages/wsmsg"
	"github.com/microstack-go/microstack/supervisor"
)

// Limits on what a request may carry.
const (
	maxKey   = 1024
	maxValue = 1 << 20
)

func (c *Console) health(w http.ResponseWriter, _ *http.Request) {
	root := c.opts.Runtime.Root()
	if root == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "stopped"})
		return
	}
	res, err := c.ask(root, &supervisor.WhichChildren{})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": err.Error()})
		return
	}
	services := map[string]string{}
	failing := []string{}
	for _, ch := range res.(*supervisor.Children).Children {
		if len(c.opts.Services) > 0 && !slices.Contains(c.opts.Services, ch.Name) {
			continue
		}
		state := "running"
		if !ch.Running {
			state = "down"
			failing = append(failing, ch.Name)
		}
		services[ch.Name] = state
	}
	for _, want := range c.opts.Services {
		if _, ok := services[want]; !ok {
			services[want] = "missing"
			failing = append(failing, want)
		}
	}
	status, code := "ok", http.StatusOK
	if len(failing) > 0 {
		status, code = "failing", http.StatusServiceUnavailable
	}
	slices.Sort(failing)
	writeJSON(w, code, map[string]any{"status": status, "services": services, "failing": failing})
}

func (c *Console) tree(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, c.opts.Runtime.Tree())
}

func (c *Console) crash(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	rt := c.opts.Runtime
	switch {
	case path == "":
		badRequest(w, "path is required")
		return
	case rt.Root() != nil && path == rt.Root().Id:
		badRequest(w, "the root supervisor cannot be crashed: crash one of its children")
		return
	case rt.Registry().Lookup(path) == nil:
		writeError(w, http.StatusNotFound, fmt.Errorf("no actor at %q", path))
		return
	}
	c.log.Warn("crashing an actor on request", "path", path, "remote", r.RemoteAddr)
	rt.System().Root.Send(actor.NewPID(rt.System().Address(), path), &messages.Crash{Reason: "from the console"})
	writeJSON(w, http.StatusAccepted, map[string]string{"crashed": path})
}

// closeMessages says how to close a connection-like actor, by kind: the
// connection panel's close button sends it (graceful: queued data is sent
// first where the protocol has such a close).
var closeMessages = map[string]func() any{
	"tcp.conn":     func() any { return &tcpmsg.Close{} },
	"http.session": func() any { return &httpmsg.CloseSession{} },
	"ws":           func() any { return &wsmsg.Close{Code: 1001, Reason: "closed from the console"} },
	"webrtc.peer":  func() any { return &rtcmsg.Close{} },
}

// ConnectionKinds are the actor kinds the connections panel lists and can
// close.
func ConnectionKinds() []string {
	kinds := make([]string, 0, len(closeMessages))
	for k := range closeMessages {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

func (c *Console) closeActor(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	rt := c.opts.Runtime
	e := rt.Registry().Lookup(path)
	if path == "" || e == nil {
		writeError(w, http.StatusNotFound, fmt.Errorf("no actor at %q", path))
		return
	}
	kind := e.Info().Kind
	msg, ok := closeMessages[kind]
	if !ok {
		badRequest(w, "a %s is not a connection: only %v can be closed", kind, ConnectionKinds())
		return
	}
	c.log.Info("closing a connection on request", "path", path, "kind", kind, "remote", r.RemoteAddr)
	rt.System().Root.Send(actor.NewPID(rt.System().Address(), path), msg())
	writeJSON(w, http.StatusAccepted, map[string]string{"closing": path})
}

// filter reads the level and module query parameters.
func filter(r *http.Request) (logmsg.Filter, error) {
	var f logmsg.Filter
	q := r.URL.Query()
	if s := q.Get("level"); s != "" {
		l, err := logging.ParseLevel(s)
		if err != nil {
			return f, err
		}
		f.MinLevel = l
	}
	if s := q.Get("module"); s != "" {
		f.Modules = strings.Split(s, ",")
	}
	f.ActorPrefix = q.Get("actor")
	return f, nil
}

func uintParam(r *http.Request, name string) (uint64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

// logsReply is the JSON of GET /api/logs.
type logsReply struct {
	Records []logmsg.Record `json:"records"`
	Dropped uint64          `json:"dropped"`
	Last    uint64          `json:"last"`
}

func (c *Console) logs(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	after, err := uintParam(r, "after")
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	limit, err := uintParam(r, "limit")
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	if limit == 0 || limit > 1000 {
		limit = 200
	}
	recs, dropped, last := c.opts.Hub.Since(after, 0, f)
	if len(recs) > int(limit) {
		recs = recs[len(recs)-int(limit):]
	}
	if recs == nil {
		recs = []logmsg.Record{}
	}
	writeJSON(w, http.StatusOK, logsReply{Records: recs, Dropped: dropped, Last: last})
}

// logStream sends records as server-sent events while the client listens.
// It subscribes through the logging actor with a bounded window and
// acknowledges each batch once written, so a slow browser holds back only
// its own stream.
func (c *Console) logStream(w http.ResponseWriter, r *http.Request) {
	f, err := filter(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming unsupported"))
		return
	}
	after, _ := uintParam(r, "after")
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": log stream\n\n")
	flusher.Flush()

	send := func(recs []logmsg.Record, dropped uint64) error {
		if dropped > 0 {
			if _, err := fmt.Fprintf(w, "event: dropped\ndata: %d\n\n", dropped); err != nil {
				return err
			}
		}
		for _, rec := range recs {
			b, _ := json.Marshal(rec)
			if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
				return err
			}
		}
		flusher.Flush()
		return nil
	}
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()

	if c.opts.LogActor == nil {
		c.pollStream(r, f, after, send, keepalive)
		return
	}
	const window = 4
	batches := make(chan *logmsg.Records, window)
	system := c.opts.Runtime.System()
	logActor := c.opts.LogActor
	bridge := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(logActor, &logmsg.Subscribe{Filter: f, After: after, Window: window})
		case *logmsg.Records:
			// The window guarantees room: at most window batches are
			// unacknowledged, and each is acknowledged after it left the
			// channel.
			batches <- m
		}
	}))
	defer system.Root.Stop(bridge)
	for {
		select {
		case b := <-batches:
			if err := send(b.Records, b.Dropped); err != nil {
				return
			}
			system.Root.Send(logActor, &logmsg.Ack{Subscriber: bridge})
		case <-keepalive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// pollStream serves the stream from the hub directly, for a console built
// without a logging actor.
func (c *Console) pollStream(r *http.Request, f logmsg.Filter, after uint64, send func([]logmsg.Record, uint64) error, keepalive *time.Ticker) {
	if after == 0 {
		after = c.opts.Hub.Last()
	}
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-poll.C:
			recs, dropped, last := c.opts.Hub.Since(after, 500, f)
			after = last
			if len(recs) > 0 || dropped > 0 {
				if err := send(recs, dropped); err != nil {
					return
				}
			}
		case <-keepalive.C:
			if err := send(nil, 0); err != nil {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}

// decodeJSON reads exactly one JSON value of at most limit bytes from the
// request body into v: unknown fields and anything after the value are
// errors, so that a body is never half understood.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func levelsJSON(levels map[string]slog.Level) map[string]string {
	out := make(map[string]string, len(levels))
	for m, l := range levels {
		if m == "" {
			m = "default"
		}
		out[m] = l.String()
	}
	return out
}

func (c *Console) levels(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, levelsJSON(c.opts.Hub.Levels()))
}

func (c *Console) setLevel(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Module string `json:"module"`
		Level  string `json:"level"`
	}
	if err := decodeJSON(w, r, 4096, &body); err != nil {
		badRequest(w, "body: %v", err)
		return
	}
	l, err := logging.ParseLevel(body.Level)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	module := body.Module
	if module == "default" {
		module = ""
	}
	c.opts.Hub.SetLevel(module, l)
	c.log.Info("log level changed", "for", body.Module, "level", l.String())
	writeJSON(w, http.StatusOK, levelsJSON(c.opts.Hub.Levels()))
}

// storeValue is a stored value as JSON: Value when it is UTF-8 text,
// Base64 otherwise.
type storeValue struct {
	Key       string     `json:"key"`
	Value     *string    `json:"value,omitempty"`
	Base64    string     `json:"base64,omitempty"`
	Cached    bool       `json:"cached,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

func toStoreValue(key, value []byte, cached bool, expires time.Time) storeValue {
	v := storeValue{Key: string(key), Cached: cached}
	if utf8.Valid(value) {
		s := string(value)
		v.Value = &s
	} else {
		v.Base64 = base64.StdEncoding.EncodeToString(value)
	}
	if !expires.IsZero() {
		v.ExpiresAt = &expires
	}
	return v
}

// storeCall sends a store command and writes the failure, if any.
func (c *Console) storeCall(w http.ResponseWriter, cmd any) (any, bool) {
	if c.opts.Store == nil {
		writeError(w, http.StatusNotFound, errors.New("this agent has no store"))
		return nil, false
	}
	res, err := c.ask(c.opts.Store, cmd)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Errorf("store: %w", err))
		return nil, false
	}
	if f, ok := res.(*messages.CommandFailed); ok {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(f.Err, storemsg.ErrNotFound):
			code = http.StatusNotFound
		case errors.Is(f.Err, messages.ErrBadCommand), errors.Is(f.Err, storemsg.ErrTooBig):
			code = http.StatusBadRequest
		case errors.Is(f.Err, storemsg.ErrUnavailable):
			code = http.StatusServiceUnavailable
		}
		writeError(w, code, f.Err)
		return nil, false
	}
	return res, true
}

func keyOf(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	k := r.PathValue("key")
	if k == "" || len(k) > maxKey {
		badRequest(w, "key must be 1 to %d bytes", maxKey)
		return nil, false
	}
	return []byte(k), true
}

func (c *Console) storeList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			badRequest(w, "limit must be a non-negative number")
			return
		}
		limit = n
	}
	cmd := &storemsg.List{Prefix: []byte(q.Get("prefix")), Limit: limit}
	if a := q.Get("after"); a != "" {
		cmd.After = []byte(a)
	}
	res, ok := c.storeCall(w, cmd)
	if !ok {
		return
	}
	listed := res.(*storemsg.Listed)
	items := make([]storeValue, 0, len(listed.Items))
	for _, it := range listed.Items {
		items = append(items, toStoreValue(it.Key, it.Value, it.Cached, it.ExpiresAt))
	}
	reply := map[string]any{"items": items}
	if listed.Next != nil {
		reply["next"] = string(listed.Next)
	}
	writeJSON(w, http.StatusOK, reply)
}

func (c *Console) storeGet(w http.ResponseWriter, r *http.Request) {
	key, ok := keyOf(w, r)
	if !ok {
		return
	}
	res, ok := c.storeCall(w, &storemsg.Get{Key: key})
	if !ok {
		return
	}
	got := res.(*storemsg.Got)
	writeJSON(w, http.StatusOK, toStoreValue(got.Key, got.Value, got.Cached, got.ExpiresAt))
}

func (c *Console) storePut(w http.ResponseWriter, r *http.Request) {
	key, ok := keyOf(w, r)
	if !ok {
		return
	}
	value, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxValue))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("value larger than %d bytes", maxValue))
			return
		}
		badRequest(w, "body: %v", err)
		return
	}
	if _, ok := c.storeCall(w, &storemsg.Put{Key: key, Value: value}); !ok {
		return
	}
	c.log.Info("store key written from the console", "key", string(key), "bytes", len(value))
	writeJSON(w, http.StatusOK, toStoreValue(key, value, false, time.Time{}))
}

func (c *Console) storeDelete(w http.ResponseWriter, r *http.Request) {
	key, ok := keyOf(w, r)
	if !ok {
		return
	}
	if _, ok := c.storeCall(w, &storemsg.Delete{Key: key}); !ok {
		return
	}
	c.log.Info("store key deleted from the console", "key", string(key))
	w.WriteHeader(http.StatusNoContent)
}
