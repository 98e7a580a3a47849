package store_test

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages/storemsg"
)

const benchWriters = 16

var benchValue = make([]byte, 128)

// putThroughActor puts b.N keys through a store actor from writers
// goroutines, each waiting for its acknowledgement.
func putThroughActor(b *testing.B, opts store.Options, writers int) {
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	defer sys.Shutdown()
	pid := sys.Root.Spawn(store.Props(opts))
	defer func() { _ = sys.Root.StopFuture(pid).Wait() }()
	if _, err := sys.Root.RequestFuture(pid, &storemsg.Has{Key: []byte("warm")}, wait).Result(); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ResetTimer()
	run(writers, func() {
		for {
			i := next.Add(1)
			if i > int64(b.N) {
				return
			}
			res, err := sys.Root.RequestFuture(pid, &storemsg.Put{Key: fmt.Appendf(nil, "k%09d", i), Value: benchValue}, wait).Result()
			if _, ok := res.(*storemsg.Stored); !ok || err != nil {
				b.Errorf("put: %v %v", res, err)
				return
			}
		}
	})
	b.StopTimer()
}

// putRawSynced puts b.N keys into badger directly, one synced transaction
// per put, from writers goroutines.
func putRawSynced(b *testing.B, dir string, writers int) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	var next atomic.Int64
	b.ResetTimer()
	run(writers, func() {
		for {
			i := next.Add(1)
			if i > int64(b.N) {
				return
			}
			if err := db.Update(func(txn *badger.Txn) error { return txn.Set(fmt.Appendf(nil, "k%09d", i), benchValue) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
}

// putRawWriteBatch puts b.N keys into badger with a WriteBatch, without
// sync: badger's fastest bulk path.
func putRawWriteBatch(b *testing.B, dir string) {
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(false).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	b.ResetTimer()
	wb := db.NewWriteBatch()
	for i := range b.N {
		if err := wb.Set(fmt.Appendf(nil, "k%09d", i), benchValue); err != nil {
			b.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

func run(n int, f func()) {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
}

// BenchmarkPut compares puts through the store actor with raw badger in the
// same run and reports actor/raw time ratios (above 1: the actor is slower).
//
//	go test -run '^$' -bench BenchmarkPut ./actors/store/
func BenchmarkPut(b *testing.B) {
	pairs := []struct {
		name       string
		actor, raw func(b *testing.B)
	}{
		{"single-durable",
			func(b *testing.B) { putThroughActor(b, store.Options{Dir: b.TempDir()}, 1) },
			func(b *testing.B) { putRawSynced(b, b.TempDir(), 1) }},
		{"16-writers-durable",
			func(b *testing.B) { putThroughActor(b, store.Options{Dir: b.TempDir()}, benchWriters) },
			func(b *testing.B) { putRawSynced(b, b.TempDir(), benchWriters) }},
		{"16-writers-nosync-vs-writebatch",
			func(b *testing.B) { putThroughActor(b, store.Options{Dir: b.TempDir(), NoSync: true}, benchWriters) },
			func(b *testing.B) { putRawWriteBatch(b, b.TempDir()) }},
	}
	for _, p := range pairs {
		b.Run(p.name, func(b *testing.B) {
			var viaActor, raw float64
			b.Run("actor", func(b *testing.B) {
				p.actor(b)
				viaActor = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
			b.Run("badger", func(b *testing.B) {
				p.raw(b)
				raw = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			})
			if raw > 0 {
				b.ReportMetric(viaActor/raw, "actor/badger")
				fmt.Printf("%s: %.2f\n", p.name, viaActor/raw)
			}
		})
	}
}
