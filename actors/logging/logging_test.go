package logging_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/messages/logmsg"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

func TestModulesComeFromTheActorPathAndHaveTheirOwnLevels(t *testing.T) {
	hub := logging.NewHub(logging.Options{Capacity: 100})
	log := slog.New(hub.Handler())
	echo := log.With("actor", "agent/echo-tcp/conn-7")
	store := log.With("actor", "agent/store")

	echo.Debug("hidden: default level is info")
	hub.SetLevel("echo-tcp", slog.LevelDebug)
	echo.Debug("shown", "bytes", 12)
	store.Debug("hidden: store stays at info")
	store.Info("opened", slog.Group("db", "dir", "/tmp/x"))
	log.Warn("no actor", "module", "netif")
	log.Info("plain")

	recs, dropped, last := hub.Since(0, 0, logmsg.Filter{MinLevel: slog.LevelDebug})
	if dropped != 0 || last != 4 || len(recs) != 4 {
		t.Fatalf("records %+v dropped %d last %d", recs, dropped, last)
	}
	want := []struct{ module, msg, attr, val string }{
		{"echo-tcp", "shown", "bytes", "12"},
		{"store", "opened", "db.dir", "/tmp/x"},
		{"netif", "no actor", "module", "netif"},
		{"main", "plain", "", ""},
	}
	for i, w := range want {
		r := recs[i]
		if r.Module != w.module || r.Message != w.msg || (w.attr != "" && r.Attrs[w.attr] != w.val) || r.Seq != uint64(i+1) {
			t.Fatalf("record %d = %+v, want %+v", i, r, w)
		}
	}
	if recs[0].Actor != "agent/echo-tcp/conn-7" {
		t.Fatalf("actor %q", recs[0].Actor)
	}
	if !echo.Enabled(context.Background(), slog.LevelDebug) || store.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("Enabled does not follow the module levels")
	}
	if lv := hub.Levels(); lv["echo-tcp"] != slog.LevelDebug || lv[""] != slog.LevelInfo {
		t.Fatalf("levels %v", lv)
	}
}

func TestRingKeepsTheNewestAndCountsWhatAReaderLost(t *testing.T) {
	hub := logging.NewHub(logging.Options{Capacity: 10})
	log := slog.New(hub.Handler())
	for i := 1; i <= 25; i++ {
		log.Info(fmt.Sprint(i))
	}
	recs, dropped, last := hub.Since(3, 0, logmsg.Filter{})
	if dropped != 12 || last != 25 || len(recs) != 10 || recs[0].Message != "16" || recs[9].Message != "25" {
		t.Fatalf("dropped %d last %d first %q", dropped, last, recs[0].Message)
	}
	recs, _, last = hub.Since(20, 2, logmsg.Filter{})
	if len(recs) != 2 || recs[1].Seq != 22 || last != 22 {
		t.Fatalf("limited read: %d records, last %d", len(recs), last)
	}
}

func TestNextHandlerAlsoGetsRecords(t *testing.T) {
	var buf bytes.Buffer
	hub := logging.NewHub(logging.Options{Next: slog.NewTextHandler(&buf, nil)})
	slog.New(hub.Handler()).With("actor", "agent/x").Info("hello", "k", "v")
	if !strings.Contains(buf.String(), "msg=hello") || !strings.Contains(buf.String(), "actor=agent/x") || !strings.Contains(buf.String(), "k=v") {
		t.Fatalf("next handler got %q", buf.String())
	}
}

func spawnLogger(t *testing.T, hub *logging.Hub) (*actor.ActorSystem, *actor.PID) {
	system := testkit.NewSystem(t)
	pid := system.Root.Spawn(logging.Props(hub))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	return system, pid
}

func TestSubscribersGetNewRecordsWithinTheirWindow(t *testing.T) {
	hub := logging.NewHub(logging.Options{Capacity: 1000})
	system, logger := spawnLogger(t, hub)
	log := slog.New(hub.Handler())
	log.Info("before subscribing")

	sub := testkit.NewProbe(t, system)
	sub.Send(logger, &logmsg.Subscribe{Window: 1, Filter: logmsg.Filter{Modules: []string{"web"}}})
	if s := testkit.Expect[*logmsg.Subscribed](sub, 0); s.After != 1 {
		t.Fatalf("subscribed after %d", s.After)
	}
	log.Info("one", "module", "web")
	log.Info("elsewhere", "module", "db")
	first := testkit.Expect[*logmsg.Records](sub, 0)
	if len(first.Records) != 1 || first.Records[0].Message != "one" {
		t.Fatalf("first batch %+v", first)
	}
	// Window 1: nothing more arrives until the batch is acknowledged.
	for i := 0; i < 5; i++ {
		log.Info(fmt.Sprint("more ", i), "module", "web")
	}
	sub.ExpectNoMessage(50 * time.Millisecond)
	sub.Send(logger, &logmsg.Ack{})
	got := []string{}
	for len(got) < 5 {
		b := testkit.Expect[*logmsg.Records](sub, 0)
		for _, r := range b.Records {
			got = append(got, r.Message)
		}
		sub.Send(logger, &logmsg.Ack{})
	}
	if strings.Join(got, ",") != "more 0,more 1,more 2,more 3,more 4" {
		t.Fatalf("got %v", got)
	}
}

func TestASubscriberThatFallsBehindIsToldWhatItLost(t *testing.T) {
	hub := logging.NewHub(logging.Options{Capacity: 10})
	system, logger := spawnLogger(t, hub)
	log := slog.New(hub.Handler())
	sub := testkit.NewProbe(t, system)
	sub.Send(logger, &logmsg.Subscribe{Window: 1})
	testkit.Expect[*logmsg.Subscribed](sub, 0)
	log.Info("first")
	testkit.Expect[*logmsg.Records](sub, 0)
	for i := 0; i < 30; i++ {
		log.Info(fmt.Sprint(i))
	}
	sub.Send(logger, &logmsg.Ack{})
	b := testkit.Expect[*logmsg.Records](sub, 0)
	if b.Dropped != 20 || len(b.Records) != 10 || b.Records[0].Message != "20" {
		t.Fatalf("dropped %d, %d records, first %q", b.Dropped, len(b.Records), b.Records[0].Message)
	}
}

func TestQueryAndLevelsOverMessages(t *testing.T) {
	hub := logging.NewHub(logging.Options{})
	system, logger := spawnLogger(t, hub)
	log := slog.New(hub.Handler())
	for i := 0; i < 5; i++ {
		log.Warn(fmt.Sprint("w", i), "actor", "agent/tcp")
		log.Info(fmt.Sprint("i", i), "actor", "agent/tcp")
	}
	p := testkit.NewProbe(t, system)
	p.Send(logger, &logmsg.Query{Limit: 2, Filter: logmsg.Filter{MinLevel: slog.LevelWarn}})
	r := testkit.Expect[*logmsg.Records](p, 0)
	if len(r.Records) != 2 || r.Records[0].Message != "w3" || r.Records[1].Message != "w4" || r.Last != 10 {
		t.Fatalf("query %+v", r)
	}
	p.Send(logger, &logmsg.SetLevel{Module: "tcp", Level: slog.LevelError})
	if lv := testkit.Expect[*logmsg.Levels](p, 0); lv.Levels["tcp"] != slog.LevelError {
		t.Fatalf("levels %v", lv.Levels)
	}
	log.Warn("dropped now", "actor", "agent/tcp")
	if hub.Last() != 10 {
		t.Fatalf("a warning passed an error-level module: last %d", hub.Last())
	}
}

func TestAStoppedSubscriberIsForgotten(t *testing.T) {
	hub := logging.NewHub(logging.Options{})
	system := testkit.NewSystem(t)
	reg := inspect.NewRegistry(nil)
	inspect.Install(system, reg)
	logger, err := inspect.Spawn(system.Root, logging.Props(hub), "log", "logging", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = system.Root.StopFuture(logger).Wait() })
	subs := func() int64 { return reg.Lookup("log").Counter("subscribers") }
	sub := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	system.Root.RequestWithCustomSender(logger, &logmsg.Subscribe{}, sub)
	testkit.Eventually(t, 5*time.Second, func() bool { return subs() == 1 }, "one subscriber")
	_ = system.Root.StopFuture(sub).Wait()
	testkit.Eventually(t, 5*time.Second, func() bool { return subs() == 0 }, "stopped subscriber forgotten")
}

func Example() {
	hub := logging.NewHub(logging.Options{Capacity: 100})
	log := slog.New(hub.Handler()).With("actor", "agent/echo")
	log.Info("listening", "addr", "127.0.0.1:8471")
	log.Debug("not kept: info is the default level")
	recs, _, _ := hub.Since(0, 0, logmsg.Filter{})
	for _, r := range recs {
		fmt.Println(r.Seq, r.Level, r.Module, r.Message, r.Attrs["addr"])
	}
	// Output:
	// 1 INFO echo listening 127.0.0.1:8471
}
