package store

import (
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/runtime/clock"
)

// Options configures a store actor. The zero value, with Dir set, is a
// durable, unencrypted store on disk whose directory must already exist.
type Options struct {
	// Dir is the store's directory. It must exist unless Create is set, so
	// that a mistyped path is an error (storemsg.ErrMissing) rather than a
	// fresh, empty store. Ignored with InMemory.
	Dir string
	// Create makes Dir, with mode 0700, when it does not exist.
	Create bool
	// InMemory keeps everything in memory, for tests: nothing is written to
	// disk, and Dir, NoSync and GC are ignored.
	InMemory bool
	// NoSync acknowledges Put, Delete and Batch once the write is handed to
	// the operating system instead of once it is synced to disk. Writes
	// then survive a crash of this process but not of the machine (power
	// loss, kernel panic); in exchange each write costs no fsync, which is
	// several times faster on most disks. The default (false) is durable.
	NoSync bool
	// EncryptionKey, when set (16, 24 or 32 bytes, for AES-128, -192 or
	// -256), encrypts the store at rest with badger's own encryption. The
	// same key must be given at every open: another key, or none, is
	// storemsg.ErrWrongKey.
	EncryptionKey []byte
	// IndexCacheSize is the memory badger keeps for table indexes, which it
	// requires with encryption. Default 16 MiB.
	IndexCacheSize int64
	// GCInterval is how often the value log is garbage-collected (badger's
	// RunValueLogGC, rewriting files whose discardable share is at least
	// GCDiscardRatio). Default 10 minutes; negative disables it.
	GCInterval time.Duration
	// GCDiscardRatio is the share of a value-log file that must be garbage
	// before it is rewritten. Default 0.5.
	GCDiscardRatio float64
	// PageSize is the page length of a List whose Limit is not positive,
	// and the cap on any Limit is 10 times it. Default 100.
	PageSize int
	// MaxBatch caps how many write commands one group commit carries.
	// Default 512.
	MaxBatch int
	// Readers caps how many reads (Get, Has, List) run at once; more wait
	// in the actor. Default 4.
	Readers int
	// Badger, when set, gets the badger options the store built and returns
	// the ones to open with: the last word on tuning (memtable size, block
	// cache, compression). The store's own choices (Dir, InMemory, sync,
	// encryption, logger) should be left as they are.
	Badger func(badger.Options) badger.Options
	// Logger receives the store's and badger's logs. Default: discarded.
	Logger *slog.Logger
	// Clock times garbage collection and the expiry of cached keys.
	// Default clock.Real().
	Clock clock.Clock
}

const (
	defaultIndexCacheSize = 16 << 20
	defaultGCInterval     = 10 * time.Minute
	defaultDiscardRatio   = 0.5
	defaultPageSize       = 100
	defaultMaxBatch       = 512
	defaultReaders        = 4
	maxKeyLen             = 65000 // badger's own limit
	// A commit waits for the writers of the last one at least minLinger
	// and at most maxLinger, within those bounds as long as a commit took.
	minLinger = 20 * time.Microsecond
	maxLinger = time.Millisecond
)

func (o Options) withDefaults() Options {
	if o.IndexCacheSize <= 0 {
		o.IndexCacheSize = defaultIndexCacheSize
	}
	if o.GCInterval == 0 {
		o.GCInterval = defaultGCInterval
	}
	if o.GCDiscardRatio <= 0 || o.GCDiscardRatio >= 1 {
		o.GCDiscardRatio = defaultDiscardRatio
	}
	if o.PageSize <= 0 {
		o.PageSize = defaultPageSize
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = defaultMaxBatch
	}
	if o.Readers <= 0 {
		o.Readers = defaultReaders
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real()
	}
	return o
}
