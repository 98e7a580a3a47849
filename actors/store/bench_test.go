package store_test

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"

	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/internal/cputime"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
)

var (
	benchRounds   = flag.Int("store.rounds", 5, "times each side of a put comparison is measured, alternating")
	benchDuration = flag.Duration("store.duration", time.Second, "length of one measurement")
	benchOnly     = flag.String("store.only", "", "run only the comparisons whose name contains this")
)

const (
	benchWriters = 16
	streamWindow = 1024
)

var benchValue = make([]byte, 128)

func benchKey(i int64) []byte { return fmt.Appendf(nil, "k%012d", i) }

// putSample is one measurement of one side.
type putSample struct {
	puts    int64
	elapsed time.Duration
	cpu     time.Duration // the whole process's, clients included
	commits int64         // the store's group commits; 0 for raw badger
}

// putSide measures puts into a fresh database in dir for about d.
type putSide func(dir string, d time.Duration) (putSample, error)

// untilStopped runs f in writers goroutines until d has passed, each
// calling f with a fresh key number, and returns the puts done and the
// time until the last writer returned.
func untilStopped(writers int, d time.Duration, f func(i int64) error) (int64, time.Duration, error) {
	var next atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	start := time.Now()
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	defer timer.Stop()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := f(next.Add(1)); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, 0, firstErr
	}
	return next.Load(), elapsed, nil
}

// benchStore spawns a store as a chain (package runtime) would: on an
// actor system with an inspect registry, whose entry it returns, and a
// dispatch pool.
func benchStore(opts store.Options) (*actor.ActorSystem, *actor.PID, *inspect.Entry, func(), error) {
	quiet := slog.New(slog.DiscardHandler)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
	pool := dispatch.NewPool(dispatch.Options{})
	dispatch.Install(sys, pool)
	reg := inspect.NewRegistry(nil)
	inspect.Install(sys, reg)
	closeAll := func() { sys.Shutdown(); pool.Close() }
	pid, err := inspect.Spawn(sys.Root, store.Props(opts), "store", store.Kind, nil)
	if err != nil {
		closeAll()
		return nil, nil, nil, nil, err
	}
	stop := func() { _ = sys.Root.StopFuture(pid).Wait(); closeAll() }
	if _, err := sys.Root.RequestFuture(pid, &storemsg.Has{Key: []byte("warm")}, wait).Result(); err != nil {
		stop()
		return nil, nil, nil, nil, err
	}
	return sys, pid, reg.Lookup(pid.Id), stop, nil
}

// throughActor puts through a store actor from writers goroutines, each
// waiting for its acknowledgement (RequestFuture) before its next put, as
// the agent's callers do.
func throughActor(opts store.Options, writers int) putSide {
	return func(dir string, d time.Duration) (putSample, error) {
		opts.Dir = dir
		sys, pid, e, closeStore, err := benchStore(opts)
		if err != nil {
			return putSample{}, err
		}
		defer closeStore()
		commits0, cpu0 := e.Counter("commits"), cputime.Process()
		n, el, err := untilStopped(writers, d, func(i int64) error {
			res, err := sys.Root.RequestFuture(pid, &storemsg.Put{Key: benchKey(i), Value: benchValue}, wait).Result()
			if _, ok := res.(*storemsg.Stored); !ok && err == nil {
				err = fmt.Errorf("put answered %v", res)
			}
			return err
		})
		return putSample{puts: n, elapsed: el, cpu: cputime.Process() - cpu0, commits: e.Counter("commits") - commits0}, err
	}
}

// streamThroughActor puts through a store actor from one writer actor
// that keeps up to window puts in flight, each acknowledged on its own:
// the shape of badger's WriteBatch, whose one goroutine does not wait for
// each put either.
func streamThroughActor(opts store.Options, window int) putSide {
	return func(dir string, d time.Duration) (putSample, error) {
		opts.Dir = dir
		sys, pid, e, closeStore, err := benchStore(opts)
		if err != nil {
			return putSample{}, err
		}
		defer closeStore()
		commits0, cpu0 := e.Counter("commits"), cputime.Process()
		w := &streamer{store: pid, window: window, done: make(chan error, 1)}
		start := time.Now()
		timer := time.AfterFunc(d, func() { w.stop.Store(true) })
		defer timer.Stop()
		wpid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return w }))
		defer sys.Root.Stop(wpid)
		select {
		case err = <-w.done:
		case <-time.After(d + wait):
			return putSample{}, errors.New("stream writer: no end")
		}
		el := time.Since(start)
		return putSample{puts: w.acked, elapsed: el, cpu: cputime.Process() - cpu0, commits: e.Counter("commits") - commits0}, err
	}
}

// streamer is the writer actor of streamThroughActor.
type streamer struct {
	store    *actor.PID
	window   int
	stop     atomic.Bool
	next     int64
	inflight int
	acked    int64 // read after done
	done     chan error
}

func (w *streamer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		for range w.window {
			w.put(ctx)
		}
	case *storemsg.Stored:
		w.inflight--
		w.acked++
		switch {
		case !w.stop.Load():
			w.put(ctx)
		case w.inflight == 0:
			w.finish(nil)
		}
	case *messages.CommandFailed:
		w.finish(m.Err)
	}
}

// finish reports the end once; done has room for one.
func (w *streamer) finish(err error) {
	select {
	case w.done <- err:
	default:
	}
}

func (w *streamer) put(ctx actor.Context) {
	w.next++
	w.inflight++
	ctx.Request(w.store, &storemsg.Put{Key: benchKey(w.next), Value: benchValue})
}

// rawSyncedTxns puts into badger directly from writers goroutines, one
// synced transaction (db.Update) per put.
func rawSyncedTxns(writers int) putSide {
	return func(dir string, d time.Duration) (putSample, error) {
		db, err := badger.Open(store.BadgerOptions(store.Options{Dir: dir}))
		if err != nil {
			return putSample{}, err
		}
		defer db.Close()
		cpu0 := cputime.Process()
		n, el, err := untilStopped(writers, d, func(i int64) error {
			return db.Update(func(txn *badger.Txn) error { return txn.Set(benchKey(i), benchValue) })
		})
		return putSample{puts: n, elapsed: el, cpu: cputime.Process() - cpu0}, err
	}
}

// rawWriteBatch puts into badger, without sync, through one WriteBatch fed
// by one goroutine: badger's fastest bulk path. The time includes the
// final Flush, which waits for every put to be written.
func rawWriteBatch(dir string, d time.Duration) (putSample, error) {
	db, err := badger.Open(store.BadgerOptions(store.Options{Dir: dir, NoSync: true}))
	if err != nil {
		return putSample{}, err
	}
	defer db.Close()
	cpu0 := cputime.Process()
	wb := db.NewWriteBatch()
	n, el, err := untilStopped(1, d, func(i int64) error { return wb.Set(benchKey(i), benchValue) })
	if err != nil {
		wb.Cancel()
		return putSample{}, err
	}
	start := time.Now()
	if err := wb.Flush(); err != nil {
		return putSample{}, err
	}
	el += time.Since(start)
	return putSample{puts: n, elapsed: el, cpu: cputime.Process() - cpu0}, nil
}

// putComparison is one line of the performance issue's store targets.
type putComparison struct {
	name, about    string
	actor, raw     putSide
	actorAs, rawAs string
}

var putComparisons = []putComparison{
	{
		name:  "store-durable-16w",
		about: "16 writers, each waiting for its put to be synced; target ≥ 5",
		actor: throughActor(store.Options{}, benchWriters), actorAs: "actor",
		raw: rawSyncedTxns(benchWriters), rawAs: "badger-txn-per-put",
	},
	{
		name:  "store-durable-1w",
		about: "one writer, each put synced before the next (no group to commit)",
		actor: throughActor(store.Options{}, 1), actorAs: "actor",
		raw: rawSyncedTxns(1), rawAs: "badger-txn-per-put",
	},
	{
		name:  "store-nosync-16w",
		about: "16 writers through the actor with NoSync, each waiting for its put, vs one goroutine filling badger's WriteBatch",
		actor: throughActor(store.Options{NoSync: true}, benchWriters), actorAs: "actor",
		raw: rawWriteBatch, rawAs: "badger-writebatch",
	},
	{
		name: "store-nosync-stream",
		about: fmt.Sprintf("one writer actor streaming puts through the actor with NoSync, %d in flight, each acknowledged, "+
			"vs one goroutine filling badger's WriteBatch; target ≥ 0.9", streamWindow),
		actor: streamThroughActor(store.Options{NoSync: true}, streamWindow), actorAs: "actor",
		raw: rawWriteBatch, rawAs: "badger-writebatch",
	},
}

type putTotals struct {
	puts, commits int64
	elapsed, cpu  time.Duration
}

func (t *putTotals) add(s putSample) {
	t.puts += s.puts
	t.commits += s.commits
	t.elapsed += s.elapsed
	t.cpu += s.cpu
}

func (t putTotals) rate() float64 { return float64(t.puts) / t.elapsed.Seconds() }

func (t putTotals) cpuPerPut() float64 {
	return float64(t.cpu) / float64(time.Microsecond) / float64(t.puts)
}

// measure alternates the two sides of c rounds times, each on a fresh
// database, and returns their totals.
func (c putComparison) measure(tmp string, rounds int, d time.Duration) (viaActor, raw putTotals, err error) {
	type side struct {
		run    putSide
		totals *putTotals
	}
	order := []side{{c.actor, &viaActor}, {c.raw, &raw}}
	for range rounds {
		for _, sd := range order {
			dir, err := os.MkdirTemp(tmp, c.name)
			if err != nil {
				return viaActor, raw, err
			}
			s, err := sd.run(dir, d)
			_ = os.RemoveAll(dir)
			if err != nil {
				return viaActor, raw, fmt.Errorf("%s: %w", c.name, err)
			}
			sd.totals.add(s)
		}
		order[0], order[1] = order[1], order[0]
	}
	return viaActor, raw, nil
}

// runPuts runs every comparison and prints its "name: ratio" lines to w.
func runPuts(tmp string, rounds int, d time.Duration, w io.Writer, report func(ratio float64, unit string)) error {
	fmt.Fprintf(w, "# store puts of %d B values, %d rounds of %v per side, alternating, fresh database each; "+
		"puts/s ratios above 1: the actor is faster; cpu/put is the whole process's (clients included), below 1: the actor is cheaper\n",
		len(benchValue), rounds, d)
	for _, c := range putComparisons {
		if !strings.Contains(c.name, *benchOnly) {
			continue
		}
		a, r, err := c.measure(tmp, rounds, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "# %s: %s\n", c.name, c.about)
		fmt.Fprintf(w, "# %s %s: %.0f puts/s, %.2f µs CPU/put, %.1f puts/commit\n", c.name, c.actorAs, a.rate(), a.cpuPerPut(), float64(a.puts)/float64(max(a.commits, 1)))
		fmt.Fprintf(w, "# %s %s: %.0f puts/s, %.2f µs CPU/put\n", c.name, c.rawAs, r.rate(), r.cpuPerPut())
		fmt.Fprintf(w, "%s puts/s %s/%s: %.2f\n", c.name, c.actorAs, c.rawAs, a.rate()/r.rate())
		fmt.Fprintf(w, "%s cpu/put %s/%s: %.2f\n", c.name, c.actorAs, c.rawAs, a.cpuPerPut()/r.cpuPerPut())
		report(a.rate()/r.rate(), c.name+"-puts/s-ratio")
	}
	return nil
}

// BenchmarkPut is the store comparison of the performance issue (issue
// 11): puts through the store actor against raw badger on the same badger
// options, each side measured several times, alternating, in one run. It
// prints "name: ratio" lines and runs once whatever b.N is:
//
//	go test -run '^$' -bench BenchmarkPut ./actors/store/
//	go test -run '^$' -bench BenchmarkPut ./actors/store/ -args -store.rounds 5 -store.duration 2s
func BenchmarkPut(b *testing.B) {
	for range b.N {
		if err := runPuts(b.TempDir(), *benchRounds, *benchDuration, os.Stdout, b.ReportMetric); err != nil {
			b.Fatal(err)
		}
	}
}
