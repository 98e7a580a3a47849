package store

import "github.com/dgraph-io/badger/v4"

// BadgerOptions are the badger options a store opened with o uses, for the
// benchmarks' raw badger side.
func BadgerOptions(o Options) badger.Options { return badgerOptions(o.withDefaults()) }
