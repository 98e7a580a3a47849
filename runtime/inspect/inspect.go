// Package inspect keeps the live table of actors that the runtime's Tree
// snapshot, the web console and the metrics endpoint read: for each actor its
// path, kind, state, restart count, mailbox length, start time and the
// counters it chooses to publish (bytes in and out, connections, drops).
//
// A Registry is attached to an actor system with Install. Actors enter it by
// being spawned through Spawn (the supervisor does this for its children; an
// actor that spawns its own children, such as a TCP listener spawning
// connections, calls Spawn too) and leave it when they stop. An actor finds
// its own entry with Of(ctx) and publishes counters on it. Every method is
// safe on a nil *Entry, so actors work the same in a system without a
// registry.
package inspect

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/extensions"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/runtime/dispatch"
)

var extensionID = extensions.NextExtensionID()

// State is an actor's lifecycle state as the registry shows it.
type State int32

const (
	// Starting: spawned, Started not yet handled.
	Starting State = iota
	// Running: handling messages.
	Running
	// Restarting: failed and being restarted in place.
	Restarting
	// Stopping: asked to stop, draining or releasing resources.
	Stopping
)

// String names the state.
func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Running:
		return "running"
	case Restarting:
		return "restarting"
	case Stopping:
		return "stopping"
	}
	return "unknown"
}

// Registry is the table of tracked actors of one actor system. The zero value
// is not usable; call NewRegistry.
type Registry struct {
	mu      sync.RWMutex
	entries map[string]*Entry
	now     func() time.Time
}

// NewRegistry returns an empty registry that stamps start times with now
// (time.Now when nil).
func NewRegistry(now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	return &Registry{entries: make(map[string]*Entry), now: now}
}

// ExtensionID implements protoactor's extensions.Extension.
func (r *Registry) ExtensionID() extensions.ExtensionID { return extensionID }

// Install attaches r to system, so that Spawn and Of find it.
func Install(system *actor.ActorSystem, r *Registry) { system.Extensions.Register(r) }

// From returns the registry attached to system, or nil.
func From(system *actor.ActorSystem) *Registry {
	if system == nil {
		return nil
	}
	r, _ := system.Extensions.Get(extensionID).(*Registry)
	return r
}

// Entry is one tracked actor. Counters are updated with atomic operations, so
// an actor may publish from any goroutine it owns.
type Entry struct {
	path      string
	kind      string
	startedAt time.Time
	state     atomic.Int32
	restarts  atomic.Int64
	mailbox   atomic.Pointer[actor.Mailbox]

	mu       sync.Mutex
	counters []*namedCounter // few per actor: a list costs less than a map
	onStop   map[uint64]func()
	hookSeq  uint64
}

type namedCounter struct {
	name string
	v    atomic.Int64
}

// SetMailbox records the actor's mailbox, whose length the entry reports,
// for an actor spawned with SpawnShared. It is a no-op on a nil Entry.
func (e *Entry) SetMailbox(mb actor.Mailbox) {
	if e != nil {
		e.mailbox.Store(&mb)
	}
}

// Path returns the actor's path (its PID's Id).
func (e *Entry) Path() string {
	if e == nil {
		return ""
	}
	return e.path
}

// counter returns the named counter, creating it on first use.
func (e *Entry) counter(name string) *atomic.Int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.counters {
		if c.name == name {
			return &c.v
		}
	}
	c := &namedCounter{name: name}
	e.counters = append(e.counters, c)
	return &c.v
}

// Add adds delta to the named counter. It is a no-op on a nil Entry.
func (e *Entry) Add(name string, delta int64) {
	if e == nil {
		return
	}
	e.counter(name).Add(delta)
}

// Set sets the named counter (a gauge, such as bytes buffered). It is a no-op
// on a nil Entry.
func (e *Entry) Set(name string, v int64) {
	if e == nil {
		return
	}
	e.counter(name).Store(v)
}

// Counter reads the named counter; zero when it was never set.
func (e *Entry) Counter(name string) int64 {
	if e == nil {
		return 0
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.counters {
		if c.name == name {
			return c.v.Load()
		}
	}
	return 0
}

// SetState records the actor's state. It is a no-op on a nil Entry.
func (e *Entry) SetState(s State) {
	if e == nil {
		return
	}
	e.state.Store(int32(s))
}

// SetRestarts records how many times the actor was restarted. It is a no-op
// on a nil Entry.
func (e *Entry) SetRestarts(n int) {
	if e == nil {
		return
	}
	e.restarts.Store(int64(n))
}

// OnStop registers f to run once when the actor stops (after its Stopped
// message), for resources tied to the actor's life such as timers. The
// returned function unregisters f; call it when the resource ends first, so
// that a long-lived actor does not collect hooks.
func (e *Entry) OnStop(f func()) (remove func()) {
	if e == nil {
		return func() {}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.onStop == nil {
		e.onStop = make(map[uint64]func())
	}
	e.hookSeq++
	id := e.hookSeq
	e.onStop[id] = f
	return func() {
		e.mu.Lock()
		delete(e.onStop, id)
		e.mu.Unlock()
	}
}

// Info is a point-in-time copy of an Entry.
type Info struct {
	Path      string           `json:"path"`
	Kind      string           `json:"kind"`
	State     string           `json:"state"`
	Restarts  int              `json:"restarts"`
	Mailbox   int              `json:"mailbox"`
	StartedAt time.Time        `json:"startedAt"`
	Counters  map[string]int64 `json:"counters,omitempty"`
}

// Info copies the entry.
func (e *Entry) Info() Info {
	in := Info{
		Path:      e.path,
		Kind:      e.kind,
		State:     State(e.state.Load()).String(),
		Restarts:  int(e.restarts.Load()),
		StartedAt: e.startedAt,
	}
	if mb := e.mailbox.Load(); mb != nil {
		in.Mailbox = (*mb).UserMessageCount()
	}
	e.mu.Lock()
	if len(e.counters) > 0 {
		in.Counters = make(map[string]int64, len(e.counters))
		for _, c := range e.counters {
			in.Counters[c.name] = c.v.Load()
		}
	}
	e.mu.Unlock()
	return in
}

// Lookup returns the entry at path, or nil.
func (r *Registry) Lookup(path string) *Entry {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.entries[path]
}

// Len returns how many actors are tracked.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.entries)
}

// Snapshot copies every entry, sorted by path so that a parent comes right
// before its children.
func (r *Registry) Snapshot() []Info {
	r.mu.RLock()
	out := make([]Info, 0, len(r.entries))
	for _, e := range r.entries {
		out = append(out, e.Info())
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

func (r *Registry) add(path, kind string) *Entry {
	e := &Entry{path: path, kind: kind, startedAt: r.now()}
	r.mu.Lock()
	r.entries[path] = e
	r.mu.Unlock()
	return e
}

func (r *Registry) remove(e *Entry) {
	r.mu.Lock()
	if r.entries[e.path] == e {
		delete(r.entries, e.path)
	}
	r.mu.Unlock()
	e.mu.Lock()
	hooks := e.onStop
	e.onStop = nil
	e.mu.Unlock()
	for _, f := range hooks {
		f()
	}
}

// Of returns the entry of the actor whose context this is, or nil when the
// actor is not tracked.
func Of(ctx interface {
	ActorSystem() *actor.ActorSystem
	Self() *actor.PID
}) *Entry {
	r := From(ctx.ActorSystem())
	if r == nil || ctx.Self() == nil {
		return nil
	}
	return r.Lookup(ctx.Self().Id)
}

// Spawn spawns props as a child of parent under name (a generated unique name
// when name is empty) and tracks it as kind until it stops. mailbox, when not
// nil, replaces the props' mailbox; it must be set here rather than on props
// because the registry wraps the mailbox to read its length. A tracked actor
// panics on messages.Crash (fault injection), whatever its own Receive does.
// Without a registry in the system, Spawn is parent.SpawnNamed.
func Spawn(parent actor.SpawnerContext, props *actor.Props, name, kind string, mailbox actor.MailboxProducer) (*actor.PID, error) {
	return spawn(parent, props, name, kind, mailbox)
}

// Lifecycle is the registry's bookkeeping for an actor spawned with
// SpawnShared, which the actor calls itself from Receive for
// *actor.Started, *actor.Restarting, *actor.Stopping, *actor.Stopped and
// *messages.Crash (it panics on Crash, as a tracked actor does). Spawn
// puts the same bookkeeping in a receiver middleware instead; protoactor
// gives an actor with any middleware an extra context and wraps each of
// its messages in an envelope, which an actor that exists by the
// thousand, such as a connection, should not pay for.
func Lifecycle(ctx actor.Context) {
	r := From(ctx.ActorSystem())
	if r == nil {
		if _, ok := ctx.Message().(*messages.Crash); ok {
			panic(ctx.Message())
		}
		return
	}
	e := r.Lookup(ctx.Self().Id)
	if e == nil {
		return
	}
	e.before(ctx.Message())
	if _, ok := ctx.Message().(*actor.Stopped); ok {
		r.remove(e)
	}
}

// before records what a lifecycle message says about the actor, before the
// actor handles it, and panics on messages.Crash.
func (e *Entry) before(msg any) {
	switch msg.(type) {
	case *actor.Started:
		e.SetState(Running)
	case *actor.Restarting:
		e.restarts.Add(1)
		e.SetState(Restarting)
	case *actor.Stopping:
		e.SetState(Stopping)
	case *messages.Crash:
		panic(msg)
	}
}

// SpawnShared spawns props as a child of parent under name (generated when
// empty) and tracks it as kind, without copying the props or adding a
// middleware: for actors spawned by the thousand from one props, such as
// connections. The actor must call Lifecycle for its lifecycle messages.
// The returned entry takes the actor's mailbox with SetMailbox when its
// length should be reported. Without a registry it is parent.SpawnNamed.
func SpawnShared(parent actor.SpawnerContext, props *actor.Props, name, kind string) (*actor.PID, *Entry, error) {
	if name == "" {
		name = kind + "-" + parent.ActorSystem().ProcessRegistry.NextId()
	}
	r := From(parent.ActorSystem())
	if r == nil {
		pid, err := parent.SpawnNamed(props, name)
		return pid, nil, err
	}
	path := name
	if self := parent.Self(); self != nil {
		path = self.Id + "/" + name
	}
	e := r.add(path, kind)
	pid, err := parent.SpawnNamed(props, name)
	if err != nil {
		r.remove(e)
		return nil, nil, err
	}
	return pid, e, nil
}

func spawn(parent actor.SpawnerContext, props *actor.Props, name, kind string, mailbox actor.MailboxProducer) (*actor.PID, error) {
	if name == "" {
		name = kind + "-" + parent.ActorSystem().ProcessRegistry.NextId()
	}
	r := From(parent.ActorSystem())
	if r == nil {
		if mailbox != nil {
			props = props.Clone(actor.WithMailbox(mailbox))
		}
		return parent.SpawnNamed(props, name)
	}
	path := name
	if self := parent.Self(); self != nil {
		path = self.Id + "/" + name
	}
	if mailbox == nil {
		mailbox = actor.Unbounded()
	}
	e := r.add(path, kind)
	tracked := props.Clone(
		actor.WithMailbox(func() actor.Mailbox {
			mb := mailbox()
			e.mailbox.Store(&mb)
			return mb
		}),
		actor.WithReceiverMiddleware(func(next actor.ReceiverFunc) actor.ReceiverFunc {
			return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
				e.before(env.Message)
				next(c, env)
				if _, ok := env.Message.(*actor.Stopped); ok {
					r.remove(e)
				}
			}
		}),
	)
	pid, err := parent.SpawnNamed(tracked, name)
	if err != nil {
		r.remove(e)
		return nil, err
	}
	if e.mailbox.Load() == nil {
		// The props chose their mailbox at spawn (dispatch.HereProps):
		// asked for here, so that the entry reports its length.
		if mb, _, ok := dispatch.Find(parent.ActorSystem(), pid); ok {
			var m actor.Mailbox = mb
			e.mailbox.Store(&m)
		}
	}
	return pid, nil
}
