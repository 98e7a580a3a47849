package store_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/dgraph-io/badger/v4"
	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/storemsg"
	"github.com/microstack-go/microstack/runtime/clock"
	"github.com/microstack-go/microstack/runtime/dispatch"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/supervisor"
)

const crashWriterEnv = "MICROSTACK_STORE_CRASH_WRITER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashWriterEnv); dir != "" {
		os.Exit(crashWriter(dir))
	}
	goleak.VerifyTestMain(m,
		// protoactor's dead-letter throttle keeps a one-second timer
		// goroutine that ends by itself after the system is gone.
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewThrottle.func1.1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		// glog's flush daemon, started by an init function of a badger
		// dependency, lives as long as the process.
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
		// badger.Open leaks its cache monitor and its allocator pool's
		// goroutine when it fails after starting them (DB.cleanup stops
		// neither); these tests make opens fail on purpose.
		goleak.IgnoreAnyFunction("github.com/dgraph-io/badger/v4.(*DB).monitorCache"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2/z.(*AllocatorPool).freeupAllocators"),
		// ristretto's cache cleanup goroutines (badger's block and index
		// caches) stop asynchronously after Close returns.
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2.(*Cache[...]).processItems"),
		goleak.IgnoreAnyFunction("github.com/dgraph-io/ristretto/v2.(*defaultPolicy[...]).processItems"),
	)
}

const wait = 10 * time.Second

func newSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	// protoactor logs every restart of a store that cannot open at info
	// level; the tests provoke those on purpose.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }))
	t.Cleanup(sys.Shutdown)
	return sys
}

// spawn starts a store and stops it (waiting for it to release badger)
// when the test ends.
func spawn(t testing.TB, sys *actor.ActorSystem, opts store.Options) *actor.PID {
	t.Helper()
	pid := sys.Root.Spawn(store.Props(opts))
	t.Cleanup(func() { stop(t, sys, pid) })
	return pid
}

func stop(t testing.TB, sys *actor.ActorSystem, pid *actor.PID) {
	t.Helper()
	if err := sys.Root.StopFuture(pid).Wait(); err != nil {
		t.Errorf("stop store: %v", err)
	}
}

func ask(t testing.TB, sys *actor.ActorSystem, pid *actor.PID, msg any) any {
	t.Helper()
	res, err := sys.Root.RequestFuture(pid, msg, wait).Result()
	if err != nil {
		t.Fatalf("%T: %v", msg, err)
	}
	return res
}

// must asks and fails the test on a CommandFailed.
func must[T any](t testing.TB, sys *actor.ActorSystem, pid *actor.PID, msg any) T {
	t.Helper()
	res := ask(t, sys, pid, msg)
	got, ok := res.(T)
	if !ok {
		t.Fatalf("%T answered %T (%v)", msg, res, res)
	}
	return got
}

// refused asks and returns the error of the CommandFailed it expects.
func refused(t testing.TB, sys *actor.ActorSystem, pid *actor.PID, msg any) error {
	t.Helper()
	res := ask(t, sys, pid, msg)
	f, ok := res.(*messages.CommandFailed)
	if !ok {
		t.Fatalf("%T answered %T (%+v), want CommandFailed", msg, res, res)
	}
	return f.Err
}

// openFailure runs a store under a parent whose strategy records the
// store's failure and stops it, and returns that failure: what a supervisor
// sees when a store cannot open.
func openFailure(t testing.TB, sys *actor.ActorSystem, opts store.Options) error {
	t.Helper()
	reasons := make(chan any, 1)
	strategy := actor.NewOneForOneStrategy(1, time.Second, func(reason any) actor.Directive {
		select {
		case reasons <- reason:
		default:
		}
		return actor.StopDirective
	})
	parent := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Started); ok {
			ctx.Spawn(store.Props(opts))
		}
	}, actor.WithSupervisor(strategy)))
	t.Cleanup(func() { stop(t, sys, parent) })
	select {
	case r := <-reasons:
		err, ok := r.(error)
		if !ok {
			t.Fatalf("store failed with %v, not an error", r)
		}
		return err
	case <-time.After(wait):
		t.Fatal("store did not fail")
		return nil
	}
}

func diskOpts(t testing.TB) store.Options {
	return store.Options{Dir: t.TempDir()}
}

func TestPutGetHasDeleteRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts func(t *testing.T) store.Options
	}{
		{"disk", func(t *testing.T) store.Options { return diskOpts(t) }},
		{"disk-nosync", func(t *testing.T) store.Options { return store.Options{Dir: t.TempDir(), NoSync: true} }},
		{"memory", func(t *testing.T) store.Options { return store.Options{InMemory: true} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newSystem(t)
			pid := spawn(t, sys, tc.opts(t))
			must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("name"), Value: []byte("meshagent")})
			got := must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("name")})
			if string(got.Value) != "meshagent" || got.Cached || !got.ExpiresAt.IsZero() {
				t.Fatalf("Get = %+v", got)
			}
			if c := must[*storemsg.Checked](t, sys, pid, &storemsg.Has{Key: []byte("name")}); !c.Exists {
				t.Fatal("Has after Put = false")
			}
			must[*storemsg.Deleted](t, sys, pid, &storemsg.Delete{Key: []byte("name")})
			if c := must[*storemsg.Checked](t, sys, pid, &storemsg.Has{Key: []byte("name")}); c.Exists {
				t.Fatal("Has after Delete = true")
			}
			if err := refused(t, sys, pid, &storemsg.Get{Key: []byte("name")}); !errors.Is(err, storemsg.ErrNotFound) {
				t.Fatalf("Get after Delete: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestBadCommandsAreRefusedAndStoreKeepsRunning(t *testing.T) {
	sys := newSystem(t)
	pid := spawn(t, sys, store.Options{InMemory: true})
	for _, cmd := range []any{
		&storemsg.Put{Value: []byte("no key")},
		&storemsg.Get{},
		&storemsg.Put{Key: []byte("!badger!head"), Value: []byte("x")},
		&storemsg.Put{Key: []byte("k"), TTL: -time.Second},
		&storemsg.Batch{Writes: []storemsg.Write{{Key: []byte("a")}, {Key: nil}}},
		&storemsg.Backup{},
	} {
		if err := refused(t, sys, pid, cmd); !errors.Is(err, messages.ErrBadCommand) {
			t.Errorf("%T: %v, want ErrBadCommand", cmd, err)
		}
	}
	if err := refused(t, sys, pid, "hello"); !errors.Is(err, messages.ErrUnknownCommand) {
		t.Errorf("string: %v, want ErrUnknownCommand", err)
	}
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("k"), Value: []byte("v")})
}

func TestReadAfterUnansweredWriteSeesIt(t *testing.T) {
	sys := newSystem(t)
	pid := spawn(t, sys, diskOpts(t))
	// Send writes and reads back to back without waiting: each read must
	// see the write sent before it.
	var futures []*actor.Future
	for i := range 50 {
		k := []byte(fmt.Sprintf("k%02d", i))
		sys.Root.RequestFuture(pid, &storemsg.Put{Key: k, Value: []byte{byte(i)}}, wait)
		futures = append(futures, sys.Root.RequestFuture(pid, &storemsg.Get{Key: k}, wait))
	}
	for i, f := range futures {
		res, err := f.Result()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := res.(*storemsg.Got)
		if !ok || len(got.Value) != 1 || got.Value[0] != byte(i) {
			t.Fatalf("read %d answered %+v", i, res)
		}
	}
}

func TestListAfterUnansweredWritesSeesThem(t *testing.T) {
	sys := newSystem(t)
	pid := spawn(t, sys, diskOpts(t))
	for i := range 20 {
		sys.Root.RequestFuture(pid, &storemsg.Put{Key: []byte(fmt.Sprintf("p/%02d", i)), Value: []byte("v")}, wait)
	}
	got := must[*storemsg.Listed](t, sys, pid, &storemsg.List{Prefix: []byte("p/"), KeysOnly: true})
	if len(got.Items) != 20 {
		t.Fatalf("list sent after 20 puts saw %d keys", len(got.Items))
	}
}

// A commit waits a moment for the writers of the last one; when they stop
// writing, the one writer left must not wait for them.
func TestCommitsDoNotWaitForWritersThatLeft(t *testing.T) {
	sys := newSystem(t)
	pid := spawn(t, sys, diskOpts(t))
	for round := range 3 {
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte(fmt.Sprintf("g%d/%d", round, w)), Value: []byte("v")})
			}()
		}
		wg.Wait()
		for i := range 5 {
			must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte(fmt.Sprintf("alone%d/%d", round, i)), Value: []byte("v")})
		}
	}
}

func TestStoreRunsOnTheSystemsDispatchPool(t *testing.T) {
	sys := newSystem(t)
	pool := dispatch.NewPool(dispatch.Options{})
	t.Cleanup(pool.Close)
	dispatch.Install(sys, pool)
	pid := spawn(t, sys, store.Options{InMemory: true})
	for i := range 20 {
		must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte("v")})
	}
	if pool.Stats().Started == 0 {
		t.Fatal("the store's mailbox never ran on the pool")
	}
}

func TestListPagesThroughPrefixInOrder(t *testing.T) {
	sys := newSystem(t)
	pid := spawn(t, sys, diskOpts(t))
	var writes []storemsg.Write
	for i := range 25 {
		writes = append(writes, storemsg.Write{Key: []byte(fmt.Sprintf("cfg/%02d", i)), Value: []byte(fmt.Sprint(i))})
	}
	writes = append(writes, storemsg.Write{Key: []byte("other"), Value: []byte("x")})
	must[*storemsg.Applied](t, sys, pid, &storemsg.Batch{Writes: writes})
	// A cached key joins the listing in order and overrides a persisted one.
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("cfg/07"), Value: []byte("override"), Cached: true})
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("cfg/10x"), Value: []byte("cached"), Cached: true})

	var keys []string
	var after []byte
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("listing did not end")
		}
		page := must[*storemsg.Listed](t, sys, pid, &storemsg.List{Prefix: []byte("cfg/"), Limit: 10, After: after})
		for _, it := range page.Items {
			keys = append(keys, string(it.Key))
			if string(it.Key) == "cfg/07" && (string(it.Value) != "override" || !it.Cached) {
				t.Errorf("cfg/07 = %+v, want the cached override", it)
			}
		}
		if page.Next == nil {
			break
		}
		after = page.Next
	}
	if len(keys) != 26 || keys[0] != "cfg/00" || keys[11] != "cfg/10x" || keys[25] != "cfg/24" {
		t.Fatalf("listed %d keys: %v", len(keys), keys)
	}
	for i := 1; i < len(keys); i++ {
		if keys[i-1] >= keys[i] {
			t.Fatalf("keys out of order: %q then %q", keys[i-1], keys[i])
		}
	}
	page := must[*storemsg.Listed](t, sys, pid, &storemsg.List{Prefix: []byte("other"), KeysOnly: true})
	if len(page.Items) != 1 || page.Items[0].Value != nil || page.Next != nil {
		t.Fatalf("keys-only listing = %+v", page)
	}
}

func TestBatchAppliesAllOrNone(t *testing.T) {
	sys := newSystem(t)
	pid := spawn(t, sys, diskOpts(t))
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("gone"), Value: []byte("x")})
	applied := must[*storemsg.Applied](t, sys, pid, &storemsg.Batch{Writes: []storemsg.Write{
		{Key: []byte("a"), Value: []byte("1")},
		{Key: []byte("b"), Value: []byte("2")},
		{Key: []byte("a"), Value: []byte("3")}, // later writes win
		{Key: []byte("gone"), Delete: true},
	}})
	if applied.Count != 4 {
		t.Fatalf("Applied.Count = %d", applied.Count)
	}
	if got := must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("a")}); string(got.Value) != "3" {
		t.Fatalf("a = %q", got.Value)
	}
	if c := must[*storemsg.Checked](t, sys, pid, &storemsg.Has{Key: []byte("gone")}); c.Exists {
		t.Fatal("deleted key still there")
	}
	// One bad write refuses the whole batch: nothing of it is applied.
	refused(t, sys, pid, &storemsg.Batch{Writes: []storemsg.Write{
		{Key: []byte("c"), Value: []byte("1")},
		{Key: []byte(""), Value: []byte("2")},
	}})
	if c := must[*storemsg.Checked](t, sys, pid, &storemsg.Has{Key: []byte("c")}); c.Exists {
		t.Fatal("a refused batch applied a write")
	}
	// A batch too big for one badger transaction is refused whole as well.
	big := make([]storemsg.Write, 0, 2000)
	for i := range cap(big) {
		big = append(big, storemsg.Write{Key: []byte(fmt.Sprintf("big/%04d", i)), Value: bytes.Repeat([]byte{1}, 1000)})
	}
	sys2 := newSystem(t)
	small := spawn(t, sys2, store.Options{InMemory: true, Badger: tinyMemtable})
	if err := refused(t, sys2, small, &storemsg.Batch{Writes: big}); !errors.Is(err, storemsg.ErrTooBig) {
		t.Fatal("oversized batch not refused")
	}
	page := must[*storemsg.Listed](t, sys2, small, &storemsg.List{Prefix: []byte("big/"), KeysOnly: true})
	if len(page.Items) != 0 {
		t.Fatalf("a failed batch left %d keys", len(page.Items))
	}
}

func TestCachedKeysLiveInMemoryOnly(t *testing.T) {
	sys := newSystem(t)
	opts := diskOpts(t)
	pid := sys.Root.Spawn(store.Props(opts))
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("url"), Value: []byte("disk")})
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("url"), Value: []byte("override"), Cached: true})
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("flag"), Value: []byte("on"), Cached: true})
	got := must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("url")})
	if string(got.Value) != "override" || !got.Cached {
		t.Fatalf("Get = %+v, want the cached override", got)
	}
	stop(t, sys, pid)

	pid = spawn(t, sys, opts)
	got = must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("url")})
	if string(got.Value) != "disk" || got.Cached {
		t.Fatalf("after reopen Get = %+v, want the persisted value", got)
	}
	if err := refused(t, sys, pid, &storemsg.Get{Key: []byte("flag")}); !errors.Is(err, storemsg.ErrNotFound) {
		t.Fatalf("cached key survived a reopen: %v", err)
	}
}

func TestKeysExpireAfterTheirTTL(t *testing.T) {
	sys := newSystem(t)
	clk := clock.NewManual(time.Now())
	pid := spawn(t, sys, store.Options{Dir: t.TempDir(), Clock: clk})
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("session"), Value: []byte("x"), TTL: time.Minute, Cached: true})
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("token"), Value: []byte("y"), TTL: time.Second})
	got := must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("token")})
	if got.ExpiresAt.IsZero() || time.Until(got.ExpiresAt) > 2*time.Second {
		t.Fatalf("token expires at %v", got.ExpiresAt)
	}
	clk.Advance(time.Minute)
	if err := refused(t, sys, pid, &storemsg.Get{Key: []byte("session")}); !errors.Is(err, storemsg.ErrNotFound) {
		t.Fatalf("cached key after its TTL: %v", err)
	}
	// Persisted keys expire by badger's wall clock, with one-second
	// granularity: poll, at most a few seconds.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c := must[*storemsg.Checked](t, sys, pid, &storemsg.Has{Key: []byte("token")})
		if !c.Exists {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("persisted key did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMissingDirectoryIsRefusedUnlessCreateIsSet(t *testing.T) {
	sys := newSystem(t)
	dir := filepath.Join(t.TempDir(), "not", "there")
	if err := openFailure(t, sys, store.Options{Dir: dir}); !errors.Is(err, storemsg.ErrMissing) {
		t.Fatalf("missing dir: %v, want ErrMissing", err)
	}
	created := spawn(t, sys, store.Options{Dir: dir, Create: true})
	must[*storemsg.Stored](t, sys, created, &storemsg.Put{Key: []byte("k"), Value: []byte("v")})
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("created dir: %v %v", st, err)
	}
}

func TestLockedDirectoryIsRefused(t *testing.T) {
	sys := newSystem(t)
	opts := diskOpts(t)
	first := spawn(t, sys, opts)
	must[*storemsg.Stored](t, sys, first, &storemsg.Put{Key: []byte("k"), Value: []byte("v")})
	if err := openFailure(t, sys, opts); !errors.Is(err, storemsg.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	// Commands that reach a store while it opens are answered with the
	// cause when the open fails (under protoactor's default strategy the
	// store is then restarted, and fails again, until its retries run out).
	// On a loaded machine the store can exhaust those retries and stop
	// before the Get arrives (a dead letter): then it is tried again.
	var err error
	for attempt := 0; ; attempt++ {
		second := sys.Root.Spawn(store.Props(opts))
		res, ferr := sys.Root.RequestFuture(second, &storemsg.Get{Key: []byte("k")}, wait).Result()
		_ = sys.Root.StopFuture(second).Wait()
		if errors.Is(ferr, actor.ErrDeadLetter) && attempt < 10 {
			continue
		}
		f, ok := res.(*messages.CommandFailed)
		if ferr != nil || !ok {
			t.Fatalf("Get on the second store answered %T %+v, %v; want CommandFailed", res, res, ferr)
		}
		err = f.Err
		break
	}
	if !errors.Is(err, storemsg.ErrLocked) || !errors.Is(err, storemsg.ErrUnavailable) {
		t.Fatalf("Get on the second store: %v, want ErrLocked", err)
	}
	// The first store is unaffected.
	must[*storemsg.Got](t, sys, first, &storemsg.Get{Key: []byte("k")})
}

func TestCorruptDirectoryIsRefused(t *testing.T) {
	sys := newSystem(t)
	opts := diskOpts(t)
	pid := sys.Root.Spawn(store.Props(opts))
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("k"), Value: []byte("v")})
	stop(t, sys, pid)
	if err := os.WriteFile(filepath.Join(opts.Dir, "MANIFEST"), []byte("this is not a manifest"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := openFailure(t, sys, opts); !errors.Is(err, storemsg.ErrCorrupt) {
		t.Fatalf("corrupt manifest: %v, want ErrCorrupt", err)
	}
}

func TestEncryptedStoreRefusesWrongKey(t *testing.T) {
	sys := newSystem(t)
	key := bytes.Repeat([]byte{7}, 32)
	opts := store.Options{Dir: t.TempDir(), EncryptionKey: key}
	secret := []byte("the-secret-value-that-must-not-appear-on-disk")
	pid := sys.Root.Spawn(store.Props(opts))
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("secret"), Value: secret})
	stop(t, sys, pid)

	files, _ := filepath.Glob(filepath.Join(opts.Dir, "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, secret) {
			t.Fatalf("%s holds the value in clear", filepath.Base(f))
		}
	}
	for name, k := range map[string][]byte{"wrong key": bytes.Repeat([]byte{8}, 32), "no key": nil} {
		o := opts
		o.EncryptionKey = k
		if err := openFailure(t, sys, o); !errors.Is(err, storemsg.ErrWrongKey) {
			t.Errorf("%s: %v, want ErrWrongKey", name, err)
		}
	}
	pid = spawn(t, sys, opts)
	if got := must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("secret")}); !bytes.Equal(got.Value, secret) {
		t.Fatalf("right key reads %q", got.Value)
	}
}

func TestBackupRestoreRoundTripAndExport(t *testing.T) {
	sys := newSystem(t)
	src := spawn(t, sys, diskOpts(t))
	for i := range 100 {
		must[*storemsg.Stored](t, sys, src, &storemsg.Put{Key: []byte(fmt.Sprintf("k%03d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	must[*storemsg.Stored](t, sys, src, &storemsg.Put{Key: []byte("bin"), Value: []byte{0xff, 0x00, 0xfe}})
	file := filepath.Join(t.TempDir(), "store.backup")
	b := must[*storemsg.BackedUp](t, sys, src, &storemsg.Backup{Path: file})
	if b.Bytes <= 0 || b.Version == 0 {
		t.Fatalf("BackedUp = %+v", b)
	}

	dst := spawn(t, sys, diskOpts(t))
	must[*storemsg.Stored](t, sys, dst, &storemsg.Put{Key: []byte("local"), Value: []byte("kept")})
	// Commands sent during the restore wait for it and see its result.
	restored := sys.Root.RequestFuture(dst, &storemsg.Restore{Path: file}, wait)
	after := sys.Root.RequestFuture(dst, &storemsg.Get{Key: []byte("k042")}, wait)
	if res, err := restored.Result(); err != nil {
		t.Fatal(err)
	} else if _, ok := res.(*storemsg.Restored); !ok {
		t.Fatalf("Restore answered %+v", res)
	}
	if res, err := after.Result(); err != nil {
		t.Fatal(err)
	} else if got, ok := res.(*storemsg.Got); !ok || string(got.Value) != "v42" {
		t.Fatalf("Get after restore = %+v", res)
	}
	page := must[*storemsg.Listed](t, sys, dst, &storemsg.List{Limit: 1000})
	if len(page.Items) != 102 {
		t.Fatalf("restored store holds %d keys, want 102", len(page.Items))
	}

	export := filepath.Join(t.TempDir(), "store.jsonl")
	ex := must[*storemsg.Exported](t, sys, dst, &storemsg.Export{Path: export})
	if ex.Keys != 102 {
		t.Fatalf("exported %d keys", ex.Keys)
	}
	text, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	if len(lines) != 102 || lines[0] != `{"key":"bin","value64":"/wD+"}` || !strings.Contains(string(text), `{"key":"k007","value":"v7"}`) {
		t.Fatalf("export:\n%s", text[:min(len(text), 300)])
	}
	if err := refused(t, sys, dst, &storemsg.Restore{Path: filepath.Join(t.TempDir(), "none")}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("restore of a missing file: %v", err)
	}
}

func TestValueLogGCRunsOnTheClock(t *testing.T) {
	sys := newSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(sys, reg)
	clk := clock.NewManual(time.Now())
	pid, err := inspect.Spawn(sys.Root, store.Props(store.Options{Dir: t.TempDir(), Clock: clk, GCInterval: time.Minute}), "settings", store.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, sys, pid) })
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("k"), Value: []byte("v")})
	must[*storemsg.Got](t, sys, pid, &storemsg.Get{Key: []byte("k")})
	e := reg.Lookup(pid.Id)
	if e.Counter("puts") != 1 || e.Counter("gets") != 1 || e.Counter("commits") != 1 {
		t.Fatalf("counters = %+v", e.Info().Counters)
	}
	deadline := time.Now().Add(wait)
	for e.Counter("gc_runs") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no garbage collection after the interval")
		}
		clk.Advance(time.Minute)
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentWritersShareCommits(t *testing.T) {
	sys := newSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(sys, reg)
	pid, err := inspect.Spawn(sys.Root, store.Props(diskOpts(t)), "s", store.Kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, sys, pid) })
	const writers, each = 16, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte(fmt.Sprintf("w%d/%d", w, i)), Value: []byte("v")})
			}
		}()
	}
	wg.Wait()
	e := reg.Lookup(pid.Id)
	if puts, commits := e.Counter("puts"), e.Counter("commits"); puts != writers*each || commits >= puts {
		t.Fatalf("%d puts in %d commits: writes were not grouped", puts, commits)
	}
	t.Logf("%d puts in %d commits", e.Counter("puts"), e.Counter("commits"))
}

// TestAcknowledgedWritesSurviveSIGKILL runs this test binary again as a
// writer that prints each key once the store acknowledged it, kills it with
// SIGKILL mid-stream, and checks the reopened store holds every printed key.
func TestAcknowledgedWritesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a writer process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashWriterEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	acked := make(map[string]bool)
	sc := bufio.NewScanner(out)
	sys := newSystem(t)
	for sc.Scan() {
		acked[sc.Text()] = true
		if len(acked) == 50 {
			// While the writer runs, this process cannot open its store.
			if err := openFailure(t, sys, store.Options{Dir: dir}); !errors.Is(err, storemsg.ErrLocked) {
				t.Errorf("open beside the writer: %v, want ErrLocked", err)
			}
		}
		if len(acked) == 400 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	// Lines already in the pipe when the writer died were acknowledged too.
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("writer ended before it was killed: %v", werr)
	}
	pid := spawn(t, sys, store.Options{Dir: dir})
	for k := range acked {
		if _, ok := ask(t, sys, pid, &storemsg.Get{Key: []byte(k)}).(*storemsg.Got); !ok {
			t.Fatalf("acknowledged key %q lost after SIGKILL (%d acknowledged)", k, len(acked))
		}
	}
	t.Logf("%d acknowledged keys survived SIGKILL", len(acked))
}

// crashWriter is the writer process of TestAcknowledgedWritesSurviveSIGKILL:
// 8 writers put keys through one store and print each acknowledged key.
// It stops by itself after a bounded number of keys or time.
func crashWriter(dir string) int {
	sys := actor.NewActorSystem()
	pid := sys.Root.Spawn(store.Props(store.Options{Dir: dir}))
	var mu sync.Mutex
	deadline := time.Now().Add(time.Minute)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000 && time.Now().Before(deadline); i++ {
				k := fmt.Sprintf("w%d/%06d", w, i)
				res, err := sys.Root.RequestFuture(pid, &storemsg.Put{Key: []byte(k), Value: bytes.Repeat([]byte{'v'}, 100)}, wait).Result()
				if _, ok := res.(*storemsg.Stored); err != nil || !ok {
					fmt.Fprintln(os.Stderr, "crash writer:", k, res, err)
					return
				}
				mu.Lock()
				fmt.Fprintln(os.Stdout, k)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return 3
}

// tinyMemtable makes badger's transactions small, so that a batch of a
// couple of megabytes is too big for one.
func tinyMemtable(o badger.Options) badger.Options {
	return o.WithMemTableSize(1 << 20).WithValueThreshold(1 << 10)
}

func TestChildSpecRunsAPermanentStore(t *testing.T) {
	spec := store.ChildSpec("settings", store.Options{InMemory: true})
	if spec.Name != "settings" || spec.Kind != store.Kind || spec.Restart != supervisor.Permanent || spec.Props == nil {
		t.Fatalf("spec = %+v", spec)
	}
	sys := newSystem(t)
	pid := spawnProps(t, sys, spec.Props())
	must[*storemsg.Stored](t, sys, pid, &storemsg.Put{Key: []byte("k"), Value: []byte("v")})
}

func spawnProps(t testing.TB, sys *actor.ActorSystem, props *actor.Props) *actor.PID {
	t.Helper()
	pid := sys.Root.Spawn(props)
	t.Cleanup(func() { stop(t, sys, pid) })
	return pid
}

// TestGracefulStopCommitsAcceptedWrites stops a store with a poison pill
// right behind 200 unanswered puts: the last groups are still pending or in
// flight when it stops, and the stop commits and answers them.
func TestGracefulStopCommitsAcceptedWrites(t *testing.T) {
	sys := newSystem(t)
	opts := diskOpts(t)
	pid := sys.Root.Spawn(store.Props(opts))
	must[*storemsg.Checked](t, sys, pid, &storemsg.Has{Key: []byte("warm")})
	var futures []*actor.Future
	for i := range 200 {
		futures = append(futures, sys.Root.RequestFuture(pid, &storemsg.Put{Key: []byte(fmt.Sprintf("k%03d", i)), Value: []byte("v")}, wait))
	}
	if err := sys.Root.PoisonFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	for i, f := range futures {
		if res, err := f.Result(); err != nil {
			t.Fatalf("put %d: %v", i, err)
		} else if _, ok := res.(*storemsg.Stored); !ok {
			t.Fatalf("put %d answered %+v", i, res)
		}
	}
	pid = spawn(t, sys, opts)
	page := must[*storemsg.Listed](t, sys, pid, &storemsg.List{Prefix: []byte("k"), Limit: 1000, KeysOnly: true})
	if len(page.Items) != 200 {
		t.Fatalf("%d of 200 acknowledged puts on disk", len(page.Items))
	}
}
