// Package logmsg holds the messages of the logging actor (actors/logging):
// log records, subscriptions to the live stream, queries of recent records,
// and per-module level changes.
package logmsg

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// Record is one log record as the hub keeps it.
type Record struct {
	// Seq numbers records in the order the hub accepted them, from 1.
	Seq     uint64            `json:"seq"`
	Time    time.Time         `json:"time"`
	Level   slog.Level        `json:"level"`
	Module  string            `json:"module"`
	Actor   string            `json:"actor,omitempty"`
	Message string            `json:"msg"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// Filter selects records. The zero value selects every record.
type Filter struct {
	// MinLevel drops records below it. The zero value is slog.LevelInfo;
	// use slog.LevelDebug (-4) to see debug records.
	MinLevel slog.Level `json:"minLevel"`
	// Modules, when not empty, keeps only records of these modules.
	Modules []string `json:"modules,omitempty"`
	// ActorPrefix, when set, keeps only records whose actor path starts
	// with it.
	ActorPrefix string `json:"actorPrefix,omitempty"`
}

// Subscribe asks the logging actor to send Records to Subscriber (the sender
// when nil) as records matching Filter arrive, starting after sequence
// number After (0: only new records). It is answered with Subscribed.
type Subscribe struct {
	Subscriber *actor.PID
	Filter     Filter
	After      uint64
	// Window is how many Records batches may be unacknowledged; default 8.
	Window int
}

// Ack tells the logging actor that Subscriber (the sender when nil) has
// handled one Records batch. A subscriber has at most Window batches in
// flight (Subscribe.Window); the records it has not yet been sent wait in
// the ring, and those the ring no longer holds are counted in
// Records.Dropped, so a slow reader never makes a queue grow.
type Ack struct {
	Subscriber *actor.PID
}

// Subscribed answers Subscribe with the sequence number the stream starts
// after.
type Subscribed struct {
	After uint64
}

// Unsubscribe ends the subscription of Subscriber (the sender when nil). A
// subscriber that stops is unsubscribed too.
type Unsubscribe struct {
	Subscriber *actor.PID
}

// Records carries records to a subscriber or answers Query. Dropped counts
// records that matched but were lost because the reader fell behind by more
// than the ring holds; Last is the sequence number of the newest record sent
// or examined.
type Records struct {
	Records []Record
	Dropped uint64
	Last    uint64
}

// Query asks for up to Limit recent records after sequence number After
// that match Filter; the answer is Records. Limit <= 0 means all the ring
// holds.
type Query struct {
	After  uint64
	Limit  int
	Filter Filter
}

// SetLevel changes a module's level while the agent runs; Module "" changes
// the default level. The answer is Levels.
type SetLevel struct {
	Module string
	Level  slog.Level
}

// GetLevels asks for the levels; the answer is Levels.
type GetLevels struct{}

// Levels lists the default level (under "") and every module's level.
type Levels struct {
	Levels map[string]slog.Level
}
