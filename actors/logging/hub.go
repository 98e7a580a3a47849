// Package logging is MicroStack's ILibRemoteLogging as an actor: every log
// record of the agent, written through log/slog, lands in a bounded ring of
// recent records and is streamed live to subscribers (the web console's log
// panel, a remote tail), with a log level per module that can be changed while
// the agent runs.
//
// A Hub is the ring and the levels; Hub.Handler is the slog.Handler that
// feeds it. The logging actor (Props) serves subscriptions and queries over
// messages (messages/logmsg). A module is the service a record comes from: the
// "module" attribute when a record has one, otherwise the second element of
// its "actor" attribute (the chain's child: "agent/echo-tcp/conn-7" is module
// "echo-tcp"), otherwise "main".
package logging

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microstack-go/microstack/messages/logmsg"
)

// DefaultCapacity is the ring size when Options.Capacity is zero.
const DefaultCapacity = 2000

// Options configures a Hub.
type Options struct {
	// Capacity is how many recent records the ring keeps. Default
	// DefaultCapacity.
	Capacity int
	// Level is the level of modules that have none of their own. Default
	// slog.LevelInfo.
	Level slog.Level
	// Next, when set, also receives every record the hub accepts (for
	// example a text handler on stderr).
	Next slog.Handler
}

// Hub keeps the ring of recent records and the per-module levels. It is safe
// for concurrent use; Handle is O(1) and never blocks on subscribers.
type Hub struct {
	next slog.Handler

	mu       sync.Mutex
	ring     []logmsg.Record
	start    int    // index of the oldest record
	n        int    // records in the ring
	seq      uint64 // sequence number of the last record
	levels   map[string]slog.Level
	defLevel slog.Level
	minLevel atomic.Int64 // the lowest level any module accepts, for a fast Enabled

	notifyMu sync.Mutex
	notify   func() // set by the logging actor: wakes it for new records
}

// NewHub returns an empty hub.
func NewHub(opts Options) *Hub {
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	h := &Hub{next: opts.Next, ring: make([]logmsg.Record, opts.Capacity), levels: map[string]slog.Level{}, defLevel: opts.Level}
	h.minLevel.Store(int64(opts.Level))
	return h
}

// SetLevel sets module's level; module "" sets the default level of modules
// that have none of their own.
func (h *Hub) SetLevel(module string, level slog.Level) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if module == "" {
		h.defLevel = level
	} else {
		h.levels[module] = level
	}
	lowest := h.defLevel
	for _, l := range h.levels {
		lowest = min(lowest, l)
	}
	h.minLevel.Store(int64(lowest))
}

// Levels returns the default level (under "") and every module's level.
func (h *Hub) Levels() map[string]slog.Level {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := maps.Clone(h.levels)
	out[""] = h.defLevel
	return out
}

func (h *Hub) levelOf(module string) slog.Level {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l, ok := h.levels[module]; ok {
		return l
	}
	return h.defLevel
}

// Since returns up to limit records with a sequence number above after that
// match filter, in order; dropped counts the records after it that the ring
// no longer holds (lost to a reader that fell behind by more than the
// capacity); last is the sequence number of the last record examined, where
// the next call should continue. limit <= 0 means no limit.
func (h *Hub) Since(after uint64, limit int, filter logmsg.Filter) (recs []logmsg.Record, dropped, last uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 || after >= h.seq {
		return nil, 0, max(after, h.seq)
	}
	oldest := h.seq - uint64(h.n) + 1
	if after+1 < oldest {
		dropped = oldest - after - 1
		after = oldest - 1
	}
	last = after
	for s := after + 1; s <= h.seq; s++ {
		last = s
		r := h.ring[(h.start+int(s-oldest))%len(h.ring)]
		if !Match(filter, r) {
			continue
		}
		recs = append(recs, r)
		if limit > 0 && len(recs) == limit {
			break
		}
	}
	return recs, dropped, last
}

// Last returns the sequence number of the newest record (0 when none).
func (h *Hub) Last() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.seq
}

func (h *Hub) add(r logmsg.Record) {
	h.mu.Lock()
	h.seq++
	r.Seq = h.seq
	if h.n < len(h.ring) {
		h.ring[(h.start+h.n)%len(h.ring)] = r
		h.n++
	} else {
		h.ring[h.start] = r
		h.start = (h.start + 1) % len(h.ring)
	}
	h.mu.Unlock()
	h.notifyMu.Lock()
	wake := h.notify
	h.notifyMu.Unlock()
	if wake != nil {
		wake()
	}
}

func (h *Hub) setNotify(f func()) {
	h.notifyMu.Lock()
	h.notify = f
	h.notifyMu.Unlock()
}

// Handler returns the slog.Handler that feeds the hub.
func (h *Hub) Handler() slog.Handler { return &handler{hub: h} }

type handler struct {
	hub    *Hub
	attrs  []slog.Attr // from WithAttrs, already prefixed by groups
	groups []string
	module string // known from WithAttrs
	actor  string
	next   slog.Handler
}

func (hd *handler) nextHandler() slog.Handler {
	if hd.next != nil {
		return hd.next
	}
	return hd.hub.next
}

func (hd *handler) Enabled(_ context.Context, level slog.Level) bool {
	if level < slog.Level(hd.hub.minLevel.Load()) {
		return false
	}
	if hd.module != "" || hd.actor != "" {
		return level >= hd.hub.levelOf(moduleOf(hd.module, hd.actor))
	}
	return true // the module may be among the record's own attributes
}

func (hd *handler) Handle(ctx context.Context, r slog.Record) error {
	module, actorPath := hd.module, hd.actor
	attrs := make(map[string]string, len(hd.attrs)+r.NumAttrs())
	for _, a := range hd.attrs {
		attrs[a.Key] = a.Value.String()
	}
	prefix := strings.Join(hd.groups, ".")
	r.Attrs(func(a slog.Attr) bool {
		key := a.Key
		if prefix != "" {
			key = prefix + "." + key
		}
		switch a.Key {
		case "module":
			module = a.Value.String()
		case "actor":
			actorPath = a.Value.String()
		}
		flatten(attrs, key, a.Value)
		return true
	})
	mod := moduleOf(module, actorPath)
	if r.Level < hd.hub.levelOf(mod) {
		return nil
	}
	when := r.Time
	if when.IsZero() {
		when = time.Now()
	}
	hd.hub.add(logmsg.Record{Time: when, Level: r.Level, Module: mod, Actor: actorPath, Message: r.Message, Attrs: attrs})
	if next := hd.nextHandler(); next != nil && next.Enabled(ctx, r.Level) {
		return next.Handle(ctx, r)
	}
	return nil
}

func flatten(into map[string]string, key string, v slog.Value) {
	v = v.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, a := range v.Group() {
			flatten(into, key+"."+a.Key, a.Value)
		}
		return
	}
	into[key] = v.String()
}

func (hd *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *hd
	c.attrs = slices.Clone(hd.attrs)
	prefix := strings.Join(hd.groups, ".")
	for _, a := range as {
		key := a.Key
		if prefix != "" {
			key = prefix + "." + key
		}
		if prefix == "" {
			switch a.Key {
			case "module":
				c.module = a.Value.String()
			case "actor":
				c.actor = a.Value.String()
			}
		}
		m := map[string]string{}
		flatten(m, key, a.Value)
		for k, v := range m {
			c.attrs = append(c.attrs, slog.String(k, v))
		}
	}
	if next := hd.nextHandler(); next != nil {
		c.next = next.WithAttrs(as)
	}
	return &c
}

func (hd *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return hd
	}
	c := *hd
	c.groups = append(slices.Clone(hd.groups), name)
	if next := hd.nextHandler(); next != nil {
		c.next = next.WithGroup(name)
	}
	return &c
}

// moduleOf derives a record's module.
func moduleOf(module, actorPath string) string {
	if module != "" {
		return module
	}
	if actorPath != "" {
		parts := strings.Split(actorPath, "/")
		if len(parts) >= 2 {
			return parts[1]
		}
		return parts[0]
	}
	return "main"
}

// ParseLevel reads a level name (debug, info, warn, error) or number.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log level %q: %w", s, err)
	}
	return l, nil
}

// Match reports whether r passes f.
func Match(f logmsg.Filter, r logmsg.Record) bool {
	if r.Level < f.MinLevel {
		return false
	}
	if len(f.Modules) > 0 && !slices.Contains(f.Modules, r.Module) {
		return false
	}
	return f.ActorPrefix == "" || strings.HasPrefix(r.Actor, f.ActorPrefix)
}
