package store_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
)

// clearError reports whether res is a refusal a caller can act on: a bad
// command (empty, reserved or oversized key) or a value too big.
func clearError(res any) bool {
	f, ok := res.(*messages.CommandFailed)
	return ok && (errors.Is(f.Err, messages.ErrBadCommand) || errors.Is(f.Err, storemsg.ErrTooBig))
}

// FuzzStoreKey puts random keys and values into a store on disk, persisted
// and cached, and reads them back: every Put is either stored, and then
// Get, Has and List see exactly that value and Delete removes it, or
// refused with a clear error (ErrBadCommand, ErrTooBig); the store keeps
// answering.
func FuzzStoreKey(f *testing.F) {
	f.Add([]byte("settings/name"), []byte("kitchen"), false)
	f.Add([]byte(""), []byte("empty key"), false)
	f.Add([]byte("!badger!head"), []byte("reserved"), false)
	f.Add([]byte("!badger"), []byte("almost reserved"), true)
	f.Add([]byte{0, 0xff, 0xfe}, []byte{}, false)
	f.Add([]byte("k"), bytes.Repeat([]byte{0}, 4096), true)
	f.Add(bytes.Repeat([]byte("k"), 65001), []byte("too long"), false)
	sys := newSystem(f)
	pid := spawn(f, sys, store.Options{Dir: f.TempDir(), NoSync: true, GCInterval: -1})
	f.Fuzz(func(t *testing.T, key, value []byte, cached bool) {
		if len(key) > 70000 || len(value) > 1<<20 {
			return
		}
		res := ask(t, sys, pid, &storemsg.Put{Key: bytes.Clone(key), Value: bytes.Clone(value), Cached: cached})
		if _, ok := res.(*storemsg.Stored); !ok {
			if !clearError(res) {
				t.Fatalf("Put %q: %T %v, want Stored or a clear error", key, res, res)
			}
			// A refused key is refused by Get too, or simply not there.
			switch g := ask(t, sys, pid, &storemsg.Get{Key: bytes.Clone(key)}).(type) {
			case *messages.CommandFailed:
				if !clearError(g) && !errors.Is(g.Err, storemsg.ErrNotFound) {
					t.Fatalf("Get of refused key %q: %v", key, g.Err)
				}
			default:
				if len(key) == 0 || len(key) > 65000 {
					t.Fatalf("Get of refused key %q answered %T", key, g)
				}
			}
			return
		}
		got, ok := ask(t, sys, pid, &storemsg.Get{Key: bytes.Clone(key)}).(*storemsg.Got)
		if !ok || !bytes.Equal(got.Value, value) || !bytes.Equal(got.Key, key) || got.Cached != cached {
			t.Fatalf("Get %q after Put %q (cached %v): %+v", key, value, cached, got)
		}
		if c, ok := ask(t, sys, pid, &storemsg.Has{Key: bytes.Clone(key)}).(*storemsg.Checked); !ok || !c.Exists {
			t.Fatalf("Has %q after Put: %+v", key, c)
		}
		l, ok := ask(t, sys, pid, &storemsg.List{Prefix: bytes.Clone(key), Limit: 1}).(*storemsg.Listed)
		if !ok || len(l.Items) != 1 || !bytes.Equal(l.Items[0].Key, key) || !bytes.Equal(l.Items[0].Value, value) {
			t.Fatalf("List prefix %q: %+v", key, l)
		}
		if _, ok := ask(t, sys, pid, &storemsg.Delete{Key: bytes.Clone(key)}).(*storemsg.Deleted); !ok {
			t.Fatalf("Delete %q refused", key)
		}
		if g, ok := ask(t, sys, pid, &storemsg.Get{Key: bytes.Clone(key)}).(*messages.CommandFailed); !ok || !errors.Is(g.Err, storemsg.ErrNotFound) {
			t.Fatalf("Get %q after Delete: %v", key, g)
		}
	})
}
