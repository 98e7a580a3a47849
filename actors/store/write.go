package store

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
)

// writer is the group-commit state: the writes accepted while a commit is
// in flight wait in pending and go to disk together in the next commit,
// which one goroutine, the committer, runs for as long as badger is open.
type writer struct {
	pending  []*writeReq
	inflight []*writeReq // the batch the committer has; nil when it is idle
	commits  chan []*writeReq
	// dirty counts, per hashed key, the pending and in-flight writes to it,
	// so that a read of a key being written waits for the commit and sees
	// it. Two keys sharing a hash only make a read wait for nothing.
	dirty map[uint64]int32
	seed  maphash.Seed
	// expect is how many requests the last commit answered plus those
	// that were waiting when it ended: about as many writers as are
	// active, who are likely to write again at once. While fewer are
	// pending the next commit lingers (about one commit's time, at most
	// maxLinger) so that they share it, instead of the first to return
	// going alone and the rest waiting for the commit after: with 16
	// writers and a commit that starts at the first put, batches alternate
	// 1 and 15.
	expect     int
	lastCommit time.Duration
	lingering  bool
	lingered   bool
	linger     *time.Timer
	free       []*writeReq
}

// writeReq is one write command: its changes and the reply it earns.
type writeReq struct {
	request
	writes []storemsg.Write
	one    [1]storemsg.Write // writes of a Put or Delete, without an allocation
	bytes  int
}

// newReq returns a cleared write request, reusing one already answered.
func (w *writer) newReq(r request) *writeReq {
	var q *writeReq
	if n := len(w.free); n > 0 {
		q = w.free[n-1]
		w.free[n-1] = nil
		w.free = w.free[:n-1]
	} else {
		q = new(writeReq)
	}
	q.request = r
	return q
}

func (w *writer) recycle(q *writeReq) {
	if len(w.free) < cap(w.free) {
		*q = writeReq{}
		w.free = append(w.free, q)
	}
}

func (w *writer) hash(key []byte) uint64 { return maphash.Bytes(w.seed, key) }

func (w *writer) add(r *writeReq) {
	w.pending = append(w.pending, r)
	for _, c := range r.writes {
		w.dirty[w.hash(c.Key)]++
	}
}

func (w *writer) take(n int) []*writeReq {
	n = min(n, len(w.pending))
	batch := make([]*writeReq, n)
	copy(batch, w.pending)
	m := copy(w.pending, w.pending[n:])
	clear(w.pending[m:])
	w.pending = w.pending[:m]
	return batch
}

func (w *writer) done(batch []*writeReq) {
	for _, r := range batch {
		for _, c := range r.writes {
			h := w.hash(c.Key)
			if w.dirty[h]--; w.dirty[h] <= 0 {
				delete(w.dirty, h)
			}
		}
	}
}

// writing reports whether a pending or in-flight write touches key.
func (w *writer) writing(key []byte) bool {
	return len(w.dirty) > 0 && w.dirty[w.hash(key)] > 0
}

// writingUnder reports whether a pending or in-flight write touches a key
// starting with prefix.
func (w *writer) writingUnder(prefix []byte) bool {
	if len(w.dirty) == 0 {
		return false
	}
	for _, batch := range [][]*writeReq{w.inflight, w.pending} {
		for _, r := range batch {
			for _, c := range r.writes {
				if bytes.HasPrefix(c.Key, prefix) {
					return true
				}
			}
		}
	}
	return false
}

// committed is a commit the committer finished and answered.
type committed struct {
	batch []*writeReq
	took  time.Duration
}

// lingerDone is the end of a commit's wait for the writers of the last.
type lingerDone struct{}

type cached struct {
	value   []byte
	expires time.Time // zero: no expiry
}

func checkKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("store: empty key: %w", messages.ErrBadCommand)
	case len(key) > maxKeyLen:
		return fmt.Errorf("store: key of %d bytes, at most %d: %w", len(key), maxKeyLen, messages.ErrBadCommand)
	case len(key) >= 8 && string(key[:8]) == "!badger!":
		return fmt.Errorf("store: keys starting with !badger! are reserved: %w", messages.ErrBadCommand)
	}
	return nil
}

func (s *storeActor) put(ctx actor.Context, r request, m *storemsg.Put) {
	if err := checkKey(m.Key); err != nil {
		s.fail(ctx, r, err)
		return
	}
	if m.TTL < 0 {
		s.fail(ctx, r, fmt.Errorf("store: negative TTL: %w", messages.ErrBadCommand))
		return
	}
	if m.Cached {
		c := cached{value: m.Value}
		if m.TTL > 0 {
			c.expires = s.clk.Now().Add(m.TTL)
		}
		s.cache[string(m.Key)] = c
		s.stats.Set("cached_keys", int64(len(s.cache)))
		s.stats.Add("puts", 1)
		s.reply(ctx, r.from, &storemsg.Stored{Key: m.Key})
		return
	}
	q := s.writes.newReq(r)
	q.one[0] = storemsg.Write{Key: m.Key, Value: m.Value, TTL: m.TTL}
	q.writes, q.bytes = q.one[:], len(m.Value)
	s.enqueue(ctx, q)
}

func (s *storeActor) delete(ctx actor.Context, r request, m *storemsg.Delete) {
	if err := checkKey(m.Key); err != nil {
		s.fail(ctx, r, err)
		return
	}
	if _, ok := s.cache[string(m.Key)]; ok {
		delete(s.cache, string(m.Key))
		s.stats.Set("cached_keys", int64(len(s.cache)))
	}
	q := s.writes.newReq(r)
	q.one[0] = storemsg.Write{Key: m.Key, Delete: true}
	q.writes = q.one[:]
	s.enqueue(ctx, q)
}

func (s *storeActor) batch(ctx actor.Context, r request, m *storemsg.Batch) {
	n := 0
	for i, w := range m.Writes {
		if err := checkKey(w.Key); err != nil {
			s.fail(ctx, r, fmt.Errorf("write %d: %w", i, err))
			return
		}
		if w.TTL < 0 {
			s.fail(ctx, r, fmt.Errorf("write %d: negative TTL: %w", i, messages.ErrBadCommand))
			return
		}
		n += len(w.Value)
	}
	if len(m.Writes) == 0 {
		s.reply(ctx, r.from, &storemsg.Applied{})
		return
	}
	for _, w := range m.Writes {
		if !w.Delete {
			continue
		}
		if _, ok := s.cache[string(w.Key)]; ok {
			delete(s.cache, string(w.Key))
			s.stats.Set("cached_keys", int64(len(s.cache)))
		}
	}
	q := s.writes.newReq(r)
	q.writes, q.bytes = m.Writes, n
	s.enqueue(ctx, q)
}

func (s *storeActor) enqueue(ctx actor.Context, r *writeReq) {
	s.writes.add(r)
	s.flush(ctx)
}

// startCommitter starts the goroutine that commits the batches flush hands
// it, one at a time; release stops it.
func (s *storeActor) startCommitter() {
	commits := make(chan []*writeReq, 1)
	s.writes.commits = commits
	db, root := s.db, s.root
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for batch := range commits {
			start := time.Now()
			errs := commit(db, batch)
			took := time.Since(start)
			s.answerWrites(root, batch, errs)
			s.deliver(committed{batch: batch, took: took})
		}
	}()
}

// stopCommitter lets the committer finish the batch it has and end.
func (s *storeActor) stopCommitter() {
	if s.writes.commits != nil {
		close(s.writes.commits)
		s.writes.commits = nil
	}
	if s.writes.linger != nil {
		s.writes.linger.Stop()
	}
}

// flush hands the pending writes to the committer unless it is busy; the
// writes that arrive meanwhile go in the next commit.
func (s *storeActor) flush(ctx actor.Context) {
	w := &s.writes
	if w.inflight != nil || len(w.pending) == 0 || s.state != ready {
		return
	}
	if len(w.pending) < min(w.expect, s.opts.MaxBatch) && !w.lingered {
		s.lingerForWriters()
		return
	}
	w.lingered = false
	if w.lingering {
		// A late firing that Stop misses only ends a later linger early.
		w.lingering = false
		w.linger.Stop()
	}
	w.inflight = w.take(s.opts.MaxBatch)
	w.commits <- w.inflight // never blocks: the committer is idle
}

// lingerForWriters arms the timer that ends a commit's wait for the
// writers of the last one, if it is not armed yet.
func (s *storeActor) lingerForWriters() {
	w := &s.writes
	if w.lingering {
		return
	}
	w.lingering = true
	d := min(max(w.lastCommit, minLinger), maxLinger)
	if w.linger == nil {
		w.linger = time.AfterFunc(d, func() { s.deliver(lingerDone{}) })
		return
	}
	w.linger.Reset(d)
}

func (s *storeActor) lingerDone(ctx actor.Context, m lingerDone) {
	w := &s.writes
	if !w.lingering {
		return // a flush came first
	}
	w.lingering = false
	w.lingered = true
	s.flush(ctx)
}

// committed does the actor's part of a finished commit, whose commands the
// committer has already answered.
func (s *storeActor) committed(ctx actor.Context, m committed) {
	w := &s.writes
	w.inflight = nil
	w.done(m.batch)
	w.expect = len(m.batch) + len(w.pending)
	w.lastCommit = m.took
	for _, r := range m.batch {
		w.recycle(r)
	}
	if s.state == ready {
		s.flush(ctx)
		s.pumpReads(ctx)
		s.maybeStartExclusive(ctx)
	}
}

// answerWrites counts a finished commit and answers its commands. The
// committer calls it as soon as the commit returns, so that a writer's
// next write is on its way while the actor is still told of the commit.
func (s *storeActor) answerWrites(to sender, batch []*writeReq, errs []error) {
	// Counters first, so that whoever reads them after an answer sees it
	// counted.
	var puts, deletes, batches, bytesIn int64
	for i, r := range batch {
		if errs != nil && errs[i] != nil {
			continue
		}
		switch r.cmd.(type) {
		case *storemsg.Put:
			puts++
		case *storemsg.Delete:
			deletes++
		case *storemsg.Batch:
			batches++
		}
		bytesIn += int64(r.bytes)
	}
	s.stats.Add("commits", 1)
	for _, c := range [...]struct {
		name string
		n    int64
	}{{"puts", puts}, {"deletes", deletes}, {"batches", batches}, {"bytes_in", bytesIn}} {
		if c.n > 0 {
			s.stats.Add(c.name, c.n)
		}
	}
	for i, r := range batch {
		if errs != nil && errs[i] != nil {
			s.fail(to, r.request, fmt.Errorf("store: commit: %w", errs[i]))
			continue
		}
		s.reply(to, r.from, answer(r.cmd))
	}
}

// answer is the reply a committed write command earns.
func answer(cmd any) any {
	switch c := cmd.(type) {
	case *storemsg.Put:
		return &storemsg.Stored{Key: c.Key}
	case *storemsg.Delete:
		return &storemsg.Deleted{Key: c.Key}
	case *storemsg.Batch:
		return &storemsg.Applied{Count: len(c.Writes)}
	}
	return nil
}

// commit writes a group of requests in one transaction, so that with
// synced writes the whole group costs one fsync. If the group fails as a
// whole (too big for one transaction, or one bad request) each request is
// retried alone, so that each is applied or refused on its own.
func commit(db *badger.DB, batch []*writeReq) []error {
	err := db.Update(func(txn *badger.Txn) error {
		for _, r := range batch {
			if err := apply(txn, r.writes); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return nil
	}
	errs := make([]error, len(batch))
	if len(batch) == 1 {
		errs[0] = err
		return errs
	}
	for i, r := range batch {
		errs[i] = db.Update(func(txn *badger.Txn) error { return apply(txn, r.writes) })
	}
	return errs
}

func apply(txn *badger.Txn, writes []storemsg.Write) error {
	for _, w := range writes {
		var err error
		switch {
		case w.Delete:
			err = txn.Delete(w.Key)
		case w.TTL > 0:
			err = txn.SetEntry(badger.NewEntry(w.Key, w.Value).WithTTL(w.TTL))
		default:
			err = txn.Set(w.Key, w.Value)
		}
		if err != nil {
			if errors.Is(err, badger.ErrTxnTooBig) {
				return fmt.Errorf("%w (%v)", storemsg.ErrTooBig, err)
			}
			return fmt.Errorf("key %q: %w", truncate(w.Key), err)
		}
	}
	return nil
}

func truncate(k []byte) []byte {
	if len(k) > 64 {
		return k[:64]
	}
	return k
}
