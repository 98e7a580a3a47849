package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/console"
	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/inspect"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

const token = "0123456789abcdef0123456789abcdef"

type fixture struct {
	rt  *runtime.Runtime
	hub *logging.Hub
	log *slog.Logger
	srv *httptest.Server
}

func worker() *actor.Props {
	return actor.PropsFromFunc(func(ctx actor.Context) {})
}

func newFixture(t *testing.T, allowExec bool, extra ...supervisor.ChildSpec) *fixture {
	t.Helper()
	hub := logging.NewHub(logging.Options{Capacity: 500, Level: slog.LevelDebug})
	log := slog.New(hub.Handler())
	children := []supervisor.ChildSpec{
		logging.ChildSpec("log", hub),
		store.ChildSpec("store", store.Options{InMemory: true}),
		{Name: "echo", Kind: "test.echo", Props: worker},
	}
	rt := runtime.New(runtime.Options{Name: "agent", Logger: log, Children: append(children, extra...),
		Supervisor: supervisor.Options{Backoff: supervisor.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}, Intensity: 50}})
	if err := rt.Start(); err != nil {
		t.Fatal(err)
	}
	pid := func(n string) *actor.PID { return actor.NewPID(rt.System().Address(), "agent/"+n) }
	c, err := console.New(console.Options{
		Runtime: rt, Hub: hub, LogActor: pid("log"), Token: token, Store: pid("store"),
		AllowExec: allowExec, Logger: log, Services: []string{"log", "store", "echo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = rt.Stop(ctx)
	})
	return &fixture{rt: rt, hub: hub, log: log, srv: srv}
}

func (f *fixture) do(t *testing.T, method, path, body string, auth bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
	return v
}

func TestEveryRouteButHealthzNeedsTheToken(t *testing.T) {
	f := newFixture(t, false)
	for _, path := range []string{"/", "/app.js", "/api/tree", "/api/logs", "/api/store", "/metrics", "/api/peers"} {
		if resp := f.do(t, "GET", path, "", false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without token: %d", path, resp.StatusCode)
		}
		if resp := f.do(t, "GET", path+"?token=wrong", "", false); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a wrong token: %d", path, resp.StatusCode)
		}
		if resp := f.do(t, "GET", path, "", true); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s with the token: %d", path, resp.StatusCode)
		}
	}
	if resp := f.do(t, "POST", "/api/actors/crash?path=agent/echo", "", false); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("crash without token: %d", resp.StatusCode)
	}
	if resp := f.do(t, "GET", "/healthz", "", false); resp.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	// ?token= on the page sets a cookie that authorizes the page's own
	// requests.
	resp := f.do(t, "GET", "/?token="+token, "", false)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		cookie = c
	}
	if resp.StatusCode != 200 || cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("page with ?token: %d, cookie %+v", resp.StatusCode, cookie)
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/app.js", nil)
	req.AddCookie(cookie)
	r2, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 200 {
		t.Fatalf("asset with the cookie: %d", r2.StatusCode)
	}
}

func TestTreeCrashAndRestartCount(t *testing.T) {
	f := newFixture(t, false)
	tree := decode[[]inspect.Info](t, f.do(t, "GET", "/api/tree", "", true))
	restarts := func(tree []inspect.Info) int {
		for _, in := range tree {
			if in.Path == "agent/echo" {
				return in.Restarts
			}
		}
		return -1
	}
	if restarts(tree) != 0 {
		t.Fatalf("tree %+v", tree)
	}
	if resp := f.do(t, "POST", "/api/actors/crash?path=agent/echo", "", true); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("crash: %d", resp.StatusCode)
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		return restarts(decode[[]inspect.Info](t, f.do(t, "GET", "/api/tree", "", true))) == 1
	}, "echo restarted once")
	for path, want := range map[string]int{"agent": 400, "agent/nope": 404, "": 400} {
		if resp := f.do(t, "POST", "/api/actors/crash?path="+path, "", true); resp.StatusCode != want {
			t.Errorf("crash %q: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

func TestHealthzNamesAFailingService(t *testing.T) {
	bad := supervisor.ChildSpec{Name: "flaky", Kind: "test.flaky", Props: func() *actor.Props {
		return actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Started); ok {
				panic("cannot start")
			}
		})
	}}
	f := newFixture(t, false, bad)
	// The console was told to watch log, store and echo: all up.
	if resp := f.do(t, "GET", "/healthz", "", false); resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	c, err := console.New(console.Options{Runtime: f.rt, Hub: f.hub, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	defer srv.Close()
	testkit.Eventually(t, 5*time.Second, func() bool {
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct{ Failing []string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode == 503 && len(body.Failing) == 1 && body.Failing[0] == "flaky"
	}, "healthz 503 naming flaky")
}

func TestLogsQueryStreamAndLevels(t *testing.T) {
	f := newFixture(t, false)
	f.log.Info("hello from a test", "actor", "agent/echo")
	got := decode[struct {
		Records []struct{ Msg, Module string }
		Last    uint64
	}](t, f.do(t, "GET", "/api/logs?module=echo", "", true))
	if len(got.Records) != 1 || got.Records[0].Msg != "hello from a test" || got.Records[0].Module != "echo" {
		t.Fatalf("logs %+v", got)
	}
	resp := f.do(t, "GET", "/api/logs/stream?module=echo", "", true)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream content type %q", ct)
	}
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// The subscription starts with the stream; log until a line arrives.
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for found := false; !found; {
		select {
		case l := <-lines:
			found = strings.HasPrefix(l, "data: ") && strings.Contains(l, "live line")
		case <-tick.C:
			f.log.Info("live line", "actor", "agent/echo")
		case <-deadline:
			t.Fatal("no live record on the stream")
		}
	}
	resp.Body.Close()
	if r := f.do(t, "PUT", "/api/logs/levels", `{"module":"echo","level":"error"}`, true); r.StatusCode != 200 {
		t.Fatalf("set level: %d", r.StatusCode)
	}
	if lv := decode[map[string]string](t, f.do(t, "GET", "/api/logs/levels", "", true)); lv["echo"] != "ERROR" {
		t.Fatalf("levels %v", lv)
	}
	if r := f.do(t, "PUT", "/api/logs/levels", `{"module":"echo","level":"loud"}`, true); r.StatusCode != 400 {
		t.Fatalf("bad level: %d", r.StatusCode)
	}
	if r := f.do(t, "GET", "/api/logs?after=x", "", true); r.StatusCode != 400 {
		t.Fatalf("bad after: %d", r.StatusCode)
	}
}

func TestStoreAPI(t *testing.T) {
	f := newFixture(t, false)
	if r := f.do(t, "PUT", "/api/store/settings/name", "kitchen", true); r.StatusCode != 200 {
		t.Fatalf("put %d", r.StatusCode)
	}
	v := decode[struct{ Key, Value string }](t, f.do(t, "GET", "/api/store/settings/name", "", true))
	if v.Key != "settings/name" || v.Value != "kitchen" {
		t.Fatalf("get %+v", v)
	}
	list := decode[struct{ Items []struct{ Key string } }](t, f.do(t, "GET", "/api/store?prefix=settings/", "", true))
	if len(list.Items) != 1 || list.Items[0].Key != "settings/name" {
		t.Fatalf("list %+v", list)
	}
	if r := f.do(t, "DELETE", "/api/store/settings/name", "", true); r.StatusCode != 204 {
		t.Fatalf("delete %d", r.StatusCode)
	}
	if r := f.do(t, "GET", "/api/store/settings/name", "", true); r.StatusCode != 404 {
		t.Fatalf("get deleted %d", r.StatusCode)
	}
	if r := f.do(t, "PUT", "/api/store/"+strings.Repeat("k", 2000), "x", true); r.StatusCode != 400 {
		t.Fatalf("long key %d", r.StatusCode)
	}
	if r := f.do(t, "PUT", "/api/store/big", strings.Repeat("v", 2<<20), true); r.StatusCode != 413 {
		t.Fatalf("big value %d", r.StatusCode)
	}
	if r := f.do(t, "GET", "/api/store?limit=-1", "", true); r.StatusCode != 400 {
		t.Fatalf("bad limit %d", r.StatusCode)
	}
}

func TestExecIsOffUnlessAllowed(t *testing.T) {
	f := newFixture(t, false)
	if r := f.do(t, "POST", "/api/exec", `{"path":"/bin/echo","args":["hi"]}`, true); r.StatusCode != 403 {
		t.Fatalf("exec without --allow-exec: %d", r.StatusCode)
	}
}

func TestExecStreamsOutputAndExitStatus(t *testing.T) {
	f := newFixture(t, true)
	resp := f.do(t, "POST", "/api/exec", `{"path":"/bin/sh","args":["-c","echo out; echo err >&2; exit 3"]}`, true)
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	for _, want := range []string{"event: stdout\ndata: \"out\\n\"", "event: stderr\ndata: \"err\\n\"", "event: exit\ndata: {\"code\":3"} {
		if !strings.Contains(s, want) {
			t.Fatalf("exec stream lacks %q:\n%s", want, s)
		}
	}
	testkit.Eventually(t, 5*time.Second, func() bool {
		for _, in := range f.rt.Tree() {
			if in.Kind == "process" {
				return false
			}
		}
		return true
	}, "the process actor is gone after the command ended")
	for _, body := range []string{`{"args":["x"]}`, `{"path":"/bin/true"}junk`, `{"path":"/bin/true"}{"path":"/bin/false"}`, `{"path":"/bin/true","shell":true}`} {
		if r := f.do(t, "POST", "/api/exec", body, true); r.StatusCode != 400 {
			t.Fatalf("exec with body %s: %d", body, r.StatusCode)
		}
	}
}

func TestMetricsAndOptionalPanels(t *testing.T) {
	f := newFixture(t, false)
	b, _ := io.ReadAll(f.do(t, "GET", "/metrics", "", true).Body)
	for _, want := range []string{`microstack_actors{kind="store"} 1`, `microstack_actors{kind="chain"} 1`, "go_goroutines"} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("metrics lack %q", want)
		}
	}
	if r := f.do(t, "POST", "/api/webrtc/offer", `{}`, true); r.StatusCode != 404 {
		t.Fatalf("webrtc without a handler: %d", r.StatusCode)
	}
	info := decode[map[string]any](t, f.do(t, "GET", "/api/info", "", true))
	if info["store"] != true || info["webrtc"] != false || info["exec"] != false {
		t.Fatalf("info %v", info)
	}
	if _, err := console.New(console.Options{Runtime: f.rt, Hub: f.hub, Token: "short"}); err == nil {
		t.Fatal("a short token was accepted")
	}
}

func TestCloseAConnectionFromTheConsole(t *testing.T) {
	f := newFixture(t, false)
	// The test's own keep-alive connection to a server actor would be an
	// http.session; here the console runs on httptest, so use the registry:
	// only connection kinds can be closed.
	if r := f.do(t, "POST", "/api/actors/close?path=agent/store", "", true); r.StatusCode != 400 {
		t.Fatalf("closing a store: %d", r.StatusCode)
	}
	if r := f.do(t, "POST", "/api/actors/close?path=agent/nothing", "", true); r.StatusCode != 404 {
		t.Fatalf("closing nothing: %d", r.StatusCode)
	}
	info := decode[map[string]any](t, f.do(t, "GET", "/api/info", "", true))
	if kinds, _ := info["connectionKinds"].([]any); len(kinds) != 4 {
		t.Fatalf("connection kinds %v", info["connectionKinds"])
	}
}
