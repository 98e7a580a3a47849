// Package store is microstack's data store: an actor that owns one badger
// database (github.com/dgraph-io/badger/v4) and answers the commands of
// package messages/storemsg, as MicroStack's ILibSimpleDataStore serves
// MeshAgent's settings.
//
// Writes are durable by default: Put, Delete and Batch are answered once
// their bytes are synced to disk. The actor batches the writes that arrive
// while a commit is in flight into the next commit (group commit), so many
// concurrent writers share one fsync instead of paying one each; when the
// writers it has just answered are likely to write again, the next commit
// waits for them (about one commit's time at most) rather than leave
// without them. Reads,
// commits, backups and garbage collection run in goroutines the actor owns;
// Receive never waits on the disk. When the actor stops or restarts it
// commits what it had accepted, waits for those goroutines and closes the
// database, so a restarted store can open the same directory again.
//
// Besides persisted keys the store keeps cached keys, which live in memory
// only and override persisted ones (MicroStack's cached values), and keys
// with a time to live. A store can be encrypted at rest, kept in memory for
// tests, backed up to a file and restored from it, and exported as JSON
// lines. Opening a directory that is missing, locked by another process or
// corrupt fails with storemsg.ErrMissing, ErrLocked or ErrCorrupt: the
// commands waiting for the open are answered with that error and the actor
// fails, so its supervisor's restart policy decides what happens next.
package store

import (
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/internal/inbox"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

// Kind is the store actor's kind in the runtime's tree.
const Kind = "store"

// Props returns the props of a store actor configured by opts. The store's
// mailbox runs on the actor system's dispatch.Pool when it has one (a
// chain installs one): a store hears from many writers, and protoactor's
// default of a fresh goroutine per mailbox activation, with the growth of
// its stack, cost more than handling the put.
func Props(opts Options) *actor.Props {
	opts = opts.withDefaults()
	return actor.PropsFromProducer(func() actor.Actor { return &storeActor{opts: opts} },
		actor.WithSpawnFunc(spawnOnPool))
}

func spawnOnPool(system *actor.ActorSystem, id string, props *actor.Props, parent actor.SpawnerContext) (*actor.PID, error) {
	return actor.DefaultSpawner(system, id, dispatch.Props(system, props), parent)
}

// ChildSpec returns a supervisor child spec that runs a store actor named
// name: permanent, so a store that fails (a disk error, a directory still
// locked) is restarted under the supervisor's intensity limits.
func ChildSpec(name string, opts Options) supervisor.ChildSpec {
	return supervisor.ChildSpec{
		Name:    name,
		Kind:    Kind,
		Props:   func() *actor.Props { return Props(opts) },
		Restart: supervisor.Permanent,
	}
}

type state int

const (
	opening state = iota
	ready
	failed
	closed
)

// request is a command with the actor that sent it.
type request struct {
	from *actor.PID
	cmd  any
}

type storeActor struct {
	opts  Options
	log   *slog.Logger
	clk   clock.Clock
	stats *inspect.Entry
	self  *actor.PID
	root  *actor.RootContext

	state   state
	openErr error
	db      *badger.DB

	// stash holds commands that arrived while the store was opening or
	// while a Restore had it to itself; they run, in order, afterwards.
	stash     []request
	exclusive *request

	cache map[string]cached

	writes writer
	reads  reader
	files  int // backups, restores and exports running

	gcTimer   clock.Timer
	gcRunning bool

	wg      sync.WaitGroup
	results *inbox.Inbox // delivered by goroutines, handled by drain
}

// nudge tells the actor that goroutines delivered results.
type nudge struct{}

// gcTick is the garbage-collection timer firing.
type gcTick struct{}

// Receive is the table of contents of the store actor.
func (s *storeActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		s.start(ctx)
	case *actor.Stopping, *actor.Restarting:
		s.release(ctx)
	case *actor.Stopped, *actor.ReceiveTimeout:
	case nudge:
		s.drain(ctx)
	case gcTick:
		s.collectGarbage(ctx)
	case *storemsg.Get, *storemsg.Put, *storemsg.Delete, *storemsg.Has, *storemsg.List,
		*storemsg.Batch, *storemsg.Backup, *storemsg.Restore, *storemsg.Export:
		s.accept(ctx, request{from: ctx.Sender(), cmd: m})
	default:
		s.fail(ctx, request{from: ctx.Sender(), cmd: m}, fmt.Errorf("store: %T: %w", m, messages.ErrUnknownCommand))
	}
}

// accept runs a command now, or stashes it while the store opens or a
// Restore runs.
func (s *storeActor) accept(ctx actor.Context, r request) {
	switch {
	case s.state == opening || s.exclusive != nil:
		s.stash = append(s.stash, r)
		return
	case s.state == failed:
		s.fail(ctx, r, fmt.Errorf("%w: %w", storemsg.ErrUnavailable, s.openErr))
		return
	case s.state == closed:
		s.fail(ctx, r, fmt.Errorf("store: %w", messages.ErrClosed))
		return
	}
	switch m := r.cmd.(type) {
	case *storemsg.Get:
		s.get(ctx, r, m)
	case *storemsg.Has:
		s.has(ctx, r, m)
	case *storemsg.List:
		s.list(ctx, r, m)
	case *storemsg.Put:
		s.put(ctx, r, m)
	case *storemsg.Delete:
		s.delete(ctx, r, m)
	case *storemsg.Batch:
		s.batch(ctx, r, m)
	case *storemsg.Backup:
		s.backup(ctx, r, m)
	case *storemsg.Export:
		s.export(ctx, r, m)
	case *storemsg.Restore:
		s.restore(ctx, r, m)
	}
}

func (s *storeActor) start(ctx actor.Context) {
	if stale(ctx) {
		s.state = closed
		return
	}
	s.log = s.opts.Logger.With("actor", ctx.Self().Id, "kind", Kind)
	s.clk = s.opts.Clock
	s.stats = inspect.Of(ctx)
	s.self = ctx.Self()
	s.root = ctx.ActorSystem().Root
	self, root := s.self, s.root
	s.results = inbox.New(func() { root.Send(self, nudge{}) })
	s.cache = make(map[string]cached)
	s.writes.dirty = make(map[uint64]int32)
	s.writes.seed = maphash.MakeSeed()
	s.writes.free = make([]*writeReq, 0, s.opts.MaxBatch)
	s.state = opening
	opts := s.opts
	s.goDo(func() any {
		db, err := open(opts)
		return opened{db: db, err: err}
	})
}

type opened struct {
	db  *badger.DB
	err error
}

func (s *storeActor) opened(ctx actor.Context, m opened) {
	if s.state == closed {
		// The actor stopped while badger opened: close it at once.
		if m.db != nil {
			_ = m.db.Close()
		}
		return
	}
	stash := s.stash
	s.stash = nil
	if m.err != nil {
		s.state = failed
		s.openErr = m.err
		s.log.Error("store: open failed", "dir", s.opts.Dir, "err", m.err)
		for _, r := range stash {
			s.fail(ctx, r, fmt.Errorf("%w: %w", storemsg.ErrUnavailable, m.err))
		}
		// Failing hands the decision to the supervisor's restart policy.
		panic(m.err)
	}
	s.db = m.db
	s.state = ready
	s.startCommitter()
	s.log.Debug("store: opened", "dir", s.opts.Dir, "inMemory", s.opts.InMemory)
	s.scheduleGC()
	s.replay(ctx, stash)
}

func (s *storeActor) replay(ctx actor.Context, stash []request) {
	for i, r := range stash {
		s.accept(ctx, r)
		if s.exclusive != nil {
			// A Restore took the store: the rest waits again, in order.
			s.stash = append(append([]request(nil), stash[i+1:]...), s.stash...)
			return
		}
	}
}

// stale reports whether this incarnation was started after its actor had
// stopped. protoactor handles a Restart that was queued behind a Stop (a
// failure racing with a stop request) by incarnating the stopped actor
// again, out of the process registry; such an incarnation must not open the
// store, or it would hold the directory lock for ever.
func stale(ctx actor.Context) bool {
	_, ok := ctx.ActorSystem().ProcessRegistry.Get(ctx.Self())
	return !ok
}

// goDo runs f in a goroutine the actor owns and delivers its result.
func (s *storeActor) goDo(f func() any) { s.results.Go(&s.wg, f) }

// deliver queues a result and nudges the actor to handle it. Results are
// kept outside the mailbox so that release can handle those that arrive
// after the actor stopped taking messages.
func (s *storeActor) deliver(result any) { s.results.Put(result) }

func (s *storeActor) drain(ctx actor.Context) {
	for _, r := range s.results.Take() {
		switch m := r.(type) {
		case opened:
			s.opened(ctx, m)
		case committed:
			s.committed(ctx, m)
		case readDone:
			s.readDone(ctx, m)
		case fileDone:
			s.fileDone(ctx, m)
		case gcDone:
			s.gcDone(ctx, m)
		case lingerDone:
			s.lingerDone(ctx, m)
		}
	}
}

// release commits what was accepted, waits for every goroutine, answers
// every waiting command and closes badger.
func (s *storeActor) release(ctx actor.Context) {
	if s.self == nil {
		return // never started, or a stale incarnation
	}
	if s.gcTimer != nil {
		s.gcTimer.Stop()
	}
	wasReady := s.state == ready
	s.state = closed
	s.stopCommitter()
	s.wg.Wait()
	s.drain(ctx)
	if wasReady && len(s.writes.pending) > 0 {
		batch := s.writes.take(len(s.writes.pending))
		s.answerWrites(ctx, batch, commit(s.db, batch))
		s.committed(ctx, committed{batch: batch})
	}
	closedErr := fmt.Errorf("store: %w", messages.ErrClosed)
	for _, r := range s.stash {
		s.fail(ctx, r, closedErr)
	}
	s.stash = nil
	if s.exclusive != nil {
		s.fail(ctx, *s.exclusive, closedErr)
		s.exclusive = nil
	}
	for _, q := range s.reads.queue {
		s.fail(ctx, q.req, closedErr)
	}
	s.reads.queue = nil
	if s.db != nil {
		if err := s.db.Close(); err != nil {
			s.log.Error("store: close", "err", err)
		}
		s.db = nil
	}
	s.stats.Set("cached_keys", 0)
}

// sender is what replies go through: the actor's context in Receive, the
// root context in the committer.
type sender interface {
	Send(pid *actor.PID, message any)
}

func (s *storeActor) reply(ctx sender, to *actor.PID, msg any) {
	if to != nil {
		ctx.Send(to, msg)
	}
}

func (s *storeActor) fail(ctx sender, r request, err error) {
	s.stats.Add("failures", 1)
	s.reply(ctx, r.from, &messages.CommandFailed{Cmd: r.cmd, Err: err})
}
