package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
)

// writer is the group-commit state: the writes accepted while a commit is
// in flight wait in pending and go to disk together in the next commit.
type writer struct {
	pending  []*writeReq
	inflight bool
	// dirty counts, per key, the pending and in-flight writes to it, so
	// that a read of a key being written waits for the commit and sees it.
	dirty map[string]int
}

// writeReq is one write command: its changes and the reply it earns.
type writeReq struct {
	request
	writes []storemsg.Write
	reply  any
	bytes  int
}

func (w *writer) add(r *writeReq) {
	w.pending = append(w.pending, r)
	for _, c := range r.writes {
		w.dirty[string(c.Key)]++
	}
}

func (w *writer) take(n int) []*writeReq {
	n = min(n, len(w.pending))
	batch := w.pending[:n:n]
	w.pending = w.pending[n:]
	return batch
}

func (w *writer) done(batch []*writeReq) {
	for _, r := range batch {
		for _, c := range r.writes {
			k := string(c.Key)
			if w.dirty[k]--; w.dirty[k] <= 0 {
				delete(w.dirty, k)
			}
		}
	}
}

type committed struct {
	batch []*writeReq
	errs  []error // one per request; nil when all succeeded
}

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
	s.enqueue(ctx, &writeReq{
		request: r,
		writes:  []storemsg.Write{{Key: m.Key, Value: m.Value, TTL: m.TTL}},
		reply:   &storemsg.Stored{Key: m.Key},
		bytes:   len(m.Value),
	})
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
	s.enqueue(ctx, &writeReq{
		request: r,
		writes:  []storemsg.Write{{Key: m.Key, Delete: true}},
		reply:   &storemsg.Deleted{Key: m.Key},
	})
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
	s.enqueue(ctx, &writeReq{request: r, writes: m.Writes, reply: &storemsg.Applied{Count: len(m.Writes)}, bytes: n})
}

func (s *storeActor) enqueue(ctx actor.Context, r *writeReq) {
	s.writes.add(r)
	s.flush(ctx)
}

// flush starts a commit of the pending writes unless one is in flight; the
// writes that arrive meanwhile go in the next one.
func (s *storeActor) flush(ctx actor.Context) {
	if s.writes.inflight || len(s.writes.pending) == 0 || s.state != ready {
		return
	}
	batch := s.writes.take(s.opts.MaxBatch)
	s.writes.inflight = true
	db := s.db
	s.goDo(func() any { return committed{batch: batch, errs: commit(db, batch)} })
}

func (s *storeActor) committed(ctx actor.Context, m committed) {
	s.writes.inflight = false
	s.writes.done(m.batch)
	s.stats.Add("commits", 1)
	for i, r := range m.batch {
		if m.errs != nil && m.errs[i] != nil {
			s.fail(ctx, r.request, fmt.Errorf("store: commit: %w", m.errs[i]))
			continue
		}
		switch r.cmd.(type) {
		case *storemsg.Put:
			s.stats.Add("puts", 1)
		case *storemsg.Delete:
			s.stats.Add("deletes", 1)
		case *storemsg.Batch:
			s.stats.Add("batches", 1)
		}
		s.stats.Add("bytes_in", int64(r.bytes))
		s.reply(ctx, r.from, r.reply)
	}
	if s.state == ready {
		s.flush(ctx)
		s.pumpReads(ctx)
		s.maybeStartExclusive(ctx)
	}
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
