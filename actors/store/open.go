package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/messages/storemsg"
)

// open opens badger as o says. It blocks on disk I/O and runs in a goroutine
// the actor owns.
func open(o Options) (*badger.DB, error) {
	switch len(o.EncryptionKey) {
	case 0, 16, 24, 32:
	default:
		return nil, fmt.Errorf("store: encryption key of %d bytes, want 16, 24 or 32: %w",
			len(o.EncryptionKey), storemsg.ErrWrongKey)
	}
	if !o.InMemory {
		if err := checkDir(o.Dir, o.Create); err != nil {
			return nil, err
		}
	}
	bo := badgerOptions(o)
	db, err := badger.Open(bo)
	if err != nil {
		return nil, classify(o.Dir, err)
	}
	return db, nil
}

// badgerOptions are the badger options of a store configured by o.
func badgerOptions(o Options) badger.Options {
	var bo badger.Options
	if o.InMemory {
		bo = badger.DefaultOptions("").WithInMemory(true)
	} else {
		bo = badger.DefaultOptions(o.Dir).WithSyncWrites(!o.NoSync)
	}
	// An agent's settings store, not a database server: badger's defaults
	// (64 MiB memtables, 256 MiB block cache) are sized for the latter.
	bo = bo.WithMemTableSize(16 << 20).
		WithBlockCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumVersionsToKeep(1).
		WithLogger(badgerLogger{o.Logger.With("component", "badger")})
	if len(o.EncryptionKey) > 0 {
		bo = bo.WithEncryptionKey(o.EncryptionKey).WithIndexCacheSize(o.IndexCacheSize)
	}
	if o.Badger != nil {
		bo = o.Badger(bo)
	}
	return bo
}

func checkDir(dir string, create bool) error {
	if dir == "" {
		return fmt.Errorf("store: no directory given: %w", storemsg.ErrMissing)
	}
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: create %s: %w", dir, err)
		}
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: %s: %w", dir, storemsg.ErrMissing)
	case err != nil:
		return fmt.Errorf("store: %w", err)
	case !st.IsDir():
		return fmt.Errorf("store: %s is not a directory: %w", dir, storemsg.ErrMissing)
	}
	return nil
}

// classify maps badger's open errors, which it formats as text rather than
// wrapping, to the sentinels a caller can test.
func classify(dir string, err error) error {
	msg := err.Error()
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(msg, w) {
				return true
			}
		}
		return false
	}
	switch {
	case has("Cannot acquire directory lock"):
		return fmt.Errorf("store: open %s: %w (%v)", dir, storemsg.ErrLocked, err)
	case errors.Is(err, badger.ErrEncryptionKeyMismatch), has("Encryption key mismatch", "key registry", "encryption key"):
		return fmt.Errorf("store: open %s: %w (%v)", dir, storemsg.ErrWrongKey, err)
	case has("manifest", "MANIFEST", "checksum", "corrupt", "Corrupt", "bad magic", "truncat", "unexpected EOF", "invalid"):
		return fmt.Errorf("store: open %s: %w (%v)", dir, storemsg.ErrCorrupt, err)
	}
	return fmt.Errorf("store: open %s: %w", dir, err)
}

// badgerLogger sends badger's logs to the store's slog.Logger.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) { b.log(slog.LevelError, f, a) }

func (b badgerLogger) Warningf(f string, a ...any) { b.log(slog.LevelWarn, f, a) }

func (b badgerLogger) Infof(f string, a ...any) { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) Debugf(f string, a ...any) { b.log(slog.LevelDebug, f, a) }

func (b badgerLogger) log(level slog.Level, f string, a []any) {
	ctx := context.Background()
	if b.l.Enabled(ctx, level) {
		b.l.Log(ctx, level, strings.TrimSpace(fmt.Sprintf(f, a...)))
	}
}
