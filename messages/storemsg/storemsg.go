// Package storemsg holds the messages of the data store actor
// (actors/store), microstack's counterpart of MicroStack's
// ILibSimpleDataStore: commands (Get, Put, Delete, Has, List, Batch,
// Backup, Restore, Export), the replies that answer them, and the errors a
// caller can tell apart with errors.Is.
//
// Every command is answered exactly once, to its sender: with the reply
// named beside it, or with a *messages.CommandFailed whose Err wraps one of
// the errors below (or messages.ErrBadCommand, messages.ErrClosed).
//
// Keys and values are byte slices and follow the ownership rule of package
// messages: once sent, a slice belongs to the receiver. A reply's slices are
// the caller's to keep.
package storemsg

import (
	"errors"
	"time"
)

// Errors a caller can test for with errors.Is on CommandFailed.Err.
var (
	// ErrNotFound answers a Get for a key that is not stored, was deleted or
	// has expired.
	ErrNotFound = errors.New("store: key not found")
	// ErrLocked means the store's directory is held by another process (or
	// another store actor of this process): two writers never share a store.
	ErrLocked = errors.New("store: directory locked by another process")
	// ErrMissing means the store's directory does not exist and the options
	// did not ask to create it.
	ErrMissing = errors.New("store: directory missing")
	// ErrCorrupt means the store's files could not be read back (a damaged
	// manifest, a checksum mismatch).
	ErrCorrupt = errors.New("store: corrupt")
	// ErrWrongKey means the store is encrypted with another key than the
	// one given, or is encrypted and no key was given.
	ErrWrongKey = errors.New("store: wrong encryption key")
	// ErrTooBig answers a Batch (or a value) too big to be written in one
	// transaction; split it.
	ErrTooBig = errors.New("store: write too big for one transaction")
	// ErrUnavailable answers commands while the store could not be opened.
	ErrUnavailable = errors.New("store: unavailable")
)

// Get asks for the value of Key. Answered with Got, or CommandFailed with
// ErrNotFound.
type Get struct {
	Key []byte
}

// Got answers Get.
type Got struct {
	Key   []byte
	Value []byte
	// ExpiresAt is when the key expires; zero when it has no time to live.
	ExpiresAt time.Time
	// Cached is true when the value came from the memory-only cache, which
	// overrides the persisted value of the same key.
	Cached bool
}

// Put stores Value under Key. Answered with Stored once the write is on disk
// (or, with the store's NoSync option, once it is in the operating system's
// page cache), or with CommandFailed.
type Put struct {
	Key   []byte
	Value []byte
	// TTL, when positive, makes the key expire after that long. Persisted
	// keys expire with one-second granularity by the wall clock; cached keys
	// by the store's clock.
	TTL time.Duration
	// Cached keeps the key in memory only, beside the persisted keys, as
	// MicroStack's ILibSimpleDataStore_Cached does for command-line
	// overrides: it overrides a persisted value of the same key on Get and
	// List, is answered at once, and is lost when the store stops.
	Cached bool
}

// Stored answers Put.
type Stored struct {
	Key []byte
}

// Delete removes Key, from the cache and from disk. Deleting a key that is
// not stored is not an error. Answered with Deleted, durable as Put.
type Delete struct {
	Key []byte
}

// Deleted answers Delete.
type Deleted struct {
	Key []byte
}

// Has asks whether Key is stored (cached or persisted, and not expired).
// Answered with Checked.
type Has struct {
	Key []byte
}

// Checked answers Has.
type Checked struct {
	Key    []byte
	Exists bool
}

// List asks for the keys that start with Prefix, in byte order, one page at
// a time. Answered with Listed.
type List struct {
	Prefix []byte
	// Limit caps the number of items in the page; zero or less means the
	// store's default page size (see store.Options.PageSize).
	Limit int
	// After, when set, starts the page after this key: pass the previous
	// page's Next to get the next page.
	After []byte
	// KeysOnly leaves Item.Value nil, which reads no values from disk.
	KeysOnly bool
}

// Item is one key of a Listed page.
type Item struct {
	Key       []byte
	Value     []byte
	ExpiresAt time.Time
	Cached    bool
}

// Listed answers List.
type Listed struct {
	Items []Item
	// Next is the last key of the page when more keys may follow; nil when
	// the listing is complete.
	Next []byte
}

// Write is one change in a Batch: a put of Value (with an optional TTL), or
// a delete when Delete is true.
type Write struct {
	Key    []byte
	Value  []byte
	TTL    time.Duration
	Delete bool
}

// Batch applies several writes to disk atomically: all of them or none.
// Later writes to the same key win. Answered with Applied, or CommandFailed
// when none was applied. Cached keys cannot be written in a Batch.
type Batch struct {
	Writes []Write
}

// Applied answers Batch.
type Applied struct {
	Count int
}

// Backup writes a backup of the persisted keys (badger's backup stream,
// which carries versions and expiry) to the file at Path, replacing it
// atomically. Since, when not zero, makes an incremental backup of the
// versions newer than a previous BackedUp.Version. Answered with BackedUp.
type Backup struct {
	Path  string
	Since uint64
}

// BackedUp answers Backup.
type BackedUp struct {
	Path  string
	Bytes int64
	// Version is the newest version in the backup; pass it as Backup.Since
	// for an incremental backup.
	Version uint64
}

// Restore loads a file written by Backup into the store, on top of what it
// holds. Other commands wait while it runs. Answered with Restored.
type Restore struct {
	Path string
}

// Restored answers Restore.
type Restored struct {
	Path string
}

// Export writes every persisted key to the file at Path as JSON lines a
// person can read: {"key":..., "value":..., "expiresAt":...}, with keys and
// values that are not valid UTF-8 written base64-encoded under "key64" and
// "value64" instead. Answered with Exported.
type Export struct {
	Path string
}

// Exported answers Export.
type Exported struct {
	Path string
	Keys int
}
