package store

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/messages/storemsg"
)

// reader caps the reads running at once and keeps the rest in order.
type reader struct {
	running int
	queue   []readReq
}

// readReq is a read waiting to run: do runs in a goroutine against badger.
type readReq struct {
	req    request
	key    []byte // a Get's or Has's key
	prefix []byte // a List's prefix
	isList bool
	do     func(db *badger.DB) (reply any, bytes int, err error)
}

type readDone struct {
	req   request
	reply any
	bytes int
	err   error
}

// lookup returns the cached entry of key, dropping it once expired.
func (s *storeActor) lookup(key []byte) (cached, bool) {
	c, ok := s.cache[string(key)]
	if ok && !c.expires.IsZero() && !s.clk.Now().Before(c.expires) {
		delete(s.cache, string(key))
		s.stats.Set("cached_keys", int64(len(s.cache)))
		return cached{}, false
	}
	return c, ok
}

func (s *storeActor) get(ctx actor.Context, r request, m *storemsg.Get) {
	if err := checkKey(m.Key); err != nil {
		s.fail(ctx, r, err)
		return
	}
	if c, ok := s.lookup(m.Key); ok {
		s.stats.Add("gets", 1)
		s.stats.Add("bytes_out", int64(len(c.value)))
		s.reply(ctx, r.from, &storemsg.Got{Key: m.Key, Value: bytes.Clone(c.value), ExpiresAt: c.expires, Cached: true})
		return
	}
	key := m.Key
	s.read(ctx, readReq{req: r, key: key, do: func(db *badger.DB) (any, int, error) {
		var got storemsg.Got
		err := db.View(func(txn *badger.Txn) error {
			item, err := txn.Get(key)
			if err != nil {
				return err
			}
			got = storemsg.Got{Key: key, ExpiresAt: expiry(item)}
			got.Value, err = item.ValueCopy(nil)
			return err
		})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil, 0, fmt.Errorf("store: %q: %w", truncate(key), storemsg.ErrNotFound)
		}
		return &got, len(got.Value), err
	}})
}

func (s *storeActor) has(ctx actor.Context, r request, m *storemsg.Has) {
	if err := checkKey(m.Key); err != nil {
		s.fail(ctx, r, err)
		return
	}
	if _, ok := s.lookup(m.Key); ok {
		s.reply(ctx, r.from, &storemsg.Checked{Key: m.Key, Exists: true})
		return
	}
	key := m.Key
	s.read(ctx, readReq{req: r, key: key, do: func(db *badger.DB) (any, int, error) {
		err := db.View(func(txn *badger.Txn) error {
			_, err := txn.Get(key)
			return err
		})
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			return &storemsg.Checked{Key: key}, 0, nil
		case err != nil:
			return nil, 0, err
		}
		return &storemsg.Checked{Key: key, Exists: true}, 0, nil
	}})
}

func (s *storeActor) list(ctx actor.Context, r request, m *storemsg.List) {
	limit := m.Limit
	if limit <= 0 {
		limit = s.opts.PageSize
	}
	limit = min(limit, 10*s.opts.PageSize)
	// The cached keys of the page are copied now, in the actor, and merged
	// with the persisted ones in the read's goroutine.
	var fromCache []storemsg.Item
	for k := range s.cache {
		key := []byte(k)
		if !bytes.HasPrefix(key, m.Prefix) || (m.After != nil && bytes.Compare(key, m.After) <= 0) {
			continue
		}
		c, ok := s.lookup(key)
		if !ok {
			continue
		}
		it := storemsg.Item{Key: key, ExpiresAt: c.expires, Cached: true}
		if !m.KeysOnly {
			it.Value = bytes.Clone(c.value)
		}
		fromCache = append(fromCache, it)
	}
	slices.SortFunc(fromCache, func(a, b storemsg.Item) int { return bytes.Compare(a.Key, b.Key) })
	s.read(ctx, readReq{req: r, prefix: m.Prefix, isList: true, do: func(db *badger.DB) (any, int, error) {
		return listPage(db, m, fromCache, limit)
	}})
}

// listPage merges the persisted keys after m.After with the cached ones
// (which win on equal keys) into one page of at most limit items.
func listPage(db *badger.DB, m *storemsg.List, fromCache []storemsg.Item, limit int) (*storemsg.Listed, int, error) {
	out := &storemsg.Listed{}
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		io := badger.DefaultIteratorOptions
		io.Prefix = m.Prefix
		io.PrefetchValues = !m.KeysOnly
		it := txn.NewIterator(io)
		defer it.Close()
		seek := m.Prefix
		if m.After != nil && bytes.Compare(m.After, m.Prefix) >= 0 {
			seek = append(bytes.Clone(m.After), 0) // the first key after After
		}
		it.Seek(seek)
		ci := 0
		for len(out.Items) <= limit { // one more than limit tells whether more follow
			onDisk := it.ValidForPrefix(m.Prefix)
			inCache := ci < len(fromCache)
			if !onDisk && !inCache {
				break
			}
			if inCache && (!onDisk || bytes.Compare(fromCache[ci].Key, it.Item().Key()) <= 0) {
				if onDisk && bytes.Equal(fromCache[ci].Key, it.Item().Key()) {
					it.Next()
				}
				out.Items = append(out.Items, fromCache[ci])
				n += len(fromCache[ci].Value)
				ci++
				continue
			}
			item := it.Item()
			entry := storemsg.Item{Key: item.KeyCopy(nil), ExpiresAt: expiry(item)}
			if !m.KeysOnly {
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				entry.Value = v
				n += len(v)
			}
			out.Items = append(out.Items, entry)
			it.Next()
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if len(out.Items) > limit {
		out.Items = out.Items[:limit]
		out.Next = bytes.Clone(out.Items[limit-1].Key)
	}
	return out, n, nil
}

func expiry(item *badger.Item) time.Time {
	if e := item.ExpiresAt(); e != 0 {
		return time.Unix(int64(e), 0)
	}
	return time.Time{}
}

// read queues a read and starts what may run.
func (s *storeActor) read(ctx actor.Context, q readReq) {
	s.reads.queue = append(s.reads.queue, q)
	s.pumpReads(ctx)
}

// pumpReads starts queued reads while fewer than Options.Readers run,
// skipping those that touch a key being written: they run once the commit
// is done, so a read sent after a write sees it.
func (s *storeActor) pumpReads(ctx actor.Context) {
	kept := s.reads.queue[:0]
	for _, q := range s.reads.queue {
		if s.reads.running >= s.opts.Readers || s.blocked(q) {
			kept = append(kept, q)
			continue
		}
		s.reads.running++
		db := s.db
		q := q
		s.goDo(func() any {
			reply, n, err := q.do(db)
			return readDone{req: q.req, reply: reply, bytes: n, err: err}
		})
	}
	clear(s.reads.queue[len(kept):])
	s.reads.queue = kept
}

func (s *storeActor) blocked(q readReq) bool {
	if q.isList {
		return s.writes.writingUnder(q.prefix)
	}
	return s.writes.writing(q.key)
}

func (s *storeActor) readDone(ctx actor.Context, m readDone) {
	s.reads.running--
	if m.err != nil {
		s.fail(ctx, m.req, m.err)
	} else {
		switch m.req.cmd.(type) {
		case *storemsg.Get:
			s.stats.Add("gets", 1)
		case *storemsg.List:
			s.stats.Add("lists", 1)
		}
		s.stats.Add("bytes_out", int64(m.bytes))
		s.reply(ctx, m.req.from, m.reply)
	}
	if s.state == ready {
		s.pumpReads(ctx)
		s.maybeStartExclusive(ctx)
	}
}
