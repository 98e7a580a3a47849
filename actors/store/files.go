package store

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
)

type fileDone struct {
	req   request
	reply any
	err   error
}

func checkPath(path string) error {
	if path == "" {
		return fmt.Errorf("store: no file path: %w", messages.ErrBadCommand)
	}
	return nil
}

func (s *storeActor) backup(ctx actor.Context, r request, m *storemsg.Backup) {
	if err := checkPath(m.Path); err != nil {
		s.fail(ctx, r, err)
		return
	}
	db := s.db
	s.files++
	s.goDo(func() any {
		var version uint64
		size, err := writeFileAtomic(m.Path, func(w io.Writer) error {
			var err error
			version, err = db.Backup(w, m.Since)
			return err
		})
		return fileDone{req: r, reply: &storemsg.BackedUp{Path: m.Path, Bytes: size, Version: version}, err: err}
	})
}

func (s *storeActor) export(ctx actor.Context, r request, m *storemsg.Export) {
	if err := checkPath(m.Path); err != nil {
		s.fail(ctx, r, err)
		return
	}
	db := s.db
	s.files++
	s.goDo(func() any {
		keys := 0
		_, err := writeFileAtomic(m.Path, func(w io.Writer) error {
			var err error
			keys, err = exportJSON(db, w)
			return err
		})
		return fileDone{req: r, reply: &storemsg.Exported{Path: m.Path, Keys: keys}, err: err}
	})
}

// restore takes the store for itself: later commands wait in the stash, and
// the restore starts once the writes, reads and files already running are
// done, because badger's Load must not run beside other transactions.
func (s *storeActor) restore(ctx actor.Context, r request, m *storemsg.Restore) {
	if err := checkPath(m.Path); err != nil {
		s.fail(ctx, r, err)
		return
	}
	s.exclusive = &r
	s.maybeStartExclusive(ctx)
}

func (s *storeActor) maybeStartExclusive(ctx actor.Context) {
	if s.exclusive == nil || s.files > 0 || s.writes.inflight != nil || len(s.writes.pending) > 0 ||
		s.reads.running > 0 || len(s.reads.queue) > 0 || s.state != ready {
		return
	}
	r := *s.exclusive
	m := r.cmd.(*storemsg.Restore)
	db := s.db
	s.files++
	s.goDo(func() any {
		f, err := os.Open(m.Path)
		if err != nil {
			return fileDone{req: r, err: fmt.Errorf("store: restore: %w", err)}
		}
		defer f.Close()
		if err := db.Load(f, 256); err != nil {
			return fileDone{req: r, err: fmt.Errorf("store: restore %s: %w", m.Path, err)}
		}
		return fileDone{req: r, reply: &storemsg.Restored{Path: m.Path}}
	})
}

func (s *storeActor) fileDone(ctx actor.Context, m fileDone) {
	s.files--
	if m.err != nil {
		s.fail(ctx, m.req, m.err)
	} else {
		s.reply(ctx, m.req.from, m.reply)
	}
	if _, ok := m.req.cmd.(*storemsg.Restore); ok && s.exclusive != nil {
		s.exclusive = nil
		stash := s.stash
		s.stash = nil
		if s.state == ready {
			s.replay(ctx, stash)
		} else {
			s.stash = stash // release answers them
		}
		return
	}
	if s.state == ready {
		s.maybeStartExclusive(ctx)
	}
}

// writeFileAtomic writes path through a temporary file in the same
// directory, synced and renamed over path, so that a crash leaves either
// the old file or the whole new one.
func writeFileAtomic(path string, write func(io.Writer) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	bw := bufio.NewWriterSize(tmp, 64<<10)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	var size int64
	if st, serr := tmp.Stat(); serr == nil {
		size = st.Size()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return 0, fmt.Errorf("store: write %s: %w", path, err)
	}
	return size, nil
}

// exportLine is one key of an Export, as a person reads it.
type exportLine struct {
	Key       string     `json:"key,omitempty"`
	Key64     string     `json:"key64,omitempty"`
	Value     *string    `json:"value,omitempty"`
	Value64   string     `json:"value64,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
}

func exportJSON(db *badger.DB, w io.Writer) (int, error) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	keys := 0
	err := db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			var line exportLine
			if utf8.Valid(k) {
				line.Key = string(k)
			} else {
				line.Key64 = base64.StdEncoding.EncodeToString(k)
			}
			if utf8.Valid(v) {
				sv := string(v)
				line.Value = &sv
			} else {
				line.Value64 = base64.StdEncoding.EncodeToString(v)
			}
			if e := expiry(item); !e.IsZero() {
				line.ExpiresAt = &e
			}
			if err := enc.Encode(&line); err != nil {
				return err
			}
			keys++
		}
		return nil
	})
	return keys, err
}

type gcDone struct {
	rewrites int
}

func (s *storeActor) scheduleGC() {
	if s.opts.GCInterval < 0 {
		return
	}
	root, self := s.root, s.self
	s.gcTimer = s.clk.AfterFunc(s.opts.GCInterval, func() { root.Send(self, gcTick{}) })
}

// collectGarbage drops expired cached keys and rewrites value-log files
// that are mostly garbage, in a goroutine.
func (s *storeActor) collectGarbage(ctx actor.Context) {
	now := s.clk.Now()
	for k, c := range s.cache {
		if !c.expires.IsZero() && !now.Before(c.expires) {
			delete(s.cache, k)
		}
	}
	s.stats.Set("cached_keys", int64(len(s.cache)))
	if s.state != ready {
		return
	}
	if s.gcRunning {
		s.scheduleGC()
		return
	}
	s.gcRunning = true
	db, ratio := s.db, s.opts.GCDiscardRatio
	s.goDo(func() any {
		n := 0
		// Each call rewrites at most one file; a bounded loop keeps one
		// round short.
		for range 16 {
			if db.RunValueLogGC(ratio) != nil {
				break
			}
			n++
		}
		return gcDone{rewrites: n}
	})
}

func (s *storeActor) gcDone(ctx actor.Context, m gcDone) {
	s.gcRunning = false
	s.stats.Add("gc_runs", 1)
	s.stats.Add("gc_rewrites", int64(m.rewrites))
	if s.state == ready {
		s.scheduleGC()
	}
}
