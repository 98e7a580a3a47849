package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/microstack-go/microstack/actors/console"
	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/actors/store"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
	"github.com/microstack-go/microstack/supervisor"
)

// fuzzConsole starts a chain with a log hub and an in-memory store and
// returns a console on it; everything stops with tb.
func fuzzConsole(tb testing.TB, allowExec bool) http.Handler {
	tb.Helper()
	hub := logging.NewHub(logging.Options{Capacity: 100, Level: slog.LevelInfo})
	rt := runtime.New(runtime.Options{Name: "agent", Logger: testkit.QuietLogger(),
		Children: []supervisor.ChildSpec{store.ChildSpec("store", store.Options{InMemory: true})}})
	if err := rt.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = rt.Stop(ctx)
	})
	c, err := console.New(console.Options{
		Runtime: rt, Hub: hub, Token: token, AllowExec: allowExec, Logger: testkit.QuietLogger(),
		Store: actor.NewPID(rt.System().Address(), "agent/store"), Timeout: 5 * time.Second,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// serve runs one request through h in process and returns the recorded
// answer.
func serve(h http.Handler, method, target string, body []byte, auth bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://console.test/", bytes.NewReader(body))
	req.URL.Path, req.URL.RawPath = target, ""
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// FuzzConsoleBody sends fuzzed bodies to the console's API calls that take
// one (PUT /api/logs/levels, POST /api/exec, PUT /api/store/{key}) and a
// fuzzed key: the console answers 2xx or 4xx (503 only when the store is
// away), never 500, never panics; a stored value reads back unchanged; a
// request without the token is refused whatever it carries; and exec stays
// off (403) whatever the body says.
func FuzzConsoleBody(f *testing.F) {
	f.Add("debug", []byte(`{"module":"tcp","level":"debug"}`))
	f.Add("settings/name", []byte(`{"module":"default","level":"WARN"}`))
	f.Add("k", []byte(`{"path":"/bin/echo","args":["hi"]}`))
	f.Add("a/b/../c", []byte(`{"module":1}`))
	f.Add("%00", []byte{0xff, 0xfe, 0x00})
	f.Add("", []byte(`{"level":"x"}`))
	f.Add("k", []byte(`{"module":"m","level":"error+4"}`))
	f.Add("ключ", []byte(`null`))
	plain := fuzzConsole(f, false)
	withExec := fuzzConsole(f, true)
	f.Fuzz(func(t *testing.T, key string, body []byte) {
		if len(body) > 64<<10 || len(key) > 2048 {
			return
		}
		ok := func(what string, rec *httptest.ResponseRecorder) {
			if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
			}
		}
		// Levels.
		rec := serve(plain, "PUT", "/api/logs/levels", body, true)
		ok("PUT levels", rec)
		if rec.Code == http.StatusOK && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("PUT levels answered invalid JSON %q", rec.Body)
		}
		// Exec is off: refused whatever the body.
		if rec := serve(plain, "POST", "/api/exec", body, true); rec.Code != http.StatusForbidden {
			t.Fatalf("exec with the runner off: %d %s", rec.Code, rec.Body)
		}
		// Exec on: only bodies that do not name a program are sent (the
		// fuzzer must not run commands), and they must be refused 400.
		var cmd struct {
			Path string   `json:"path"`
			Args []string `json:"args"`
		}
		// Decoded as the console decodes it: the first JSON value only,
		// so that trailing bytes cannot hide a program from this check.
		if err := json.NewDecoder(bytes.NewReader(body)).Decode(&cmd); err != nil || cmd.Path == "" {
			if rec := serve(withExec, "POST", "/api/exec", body, true); rec.Code != http.StatusBadRequest {
				t.Fatalf("exec of %q: %d %s, want 400", body, rec.Code, rec.Body)
			}
		}
		// Store: the key as a path segment, escaped as a browser would.
		path := "/api/store/" + url.PathEscape(key)
		if rec := serve(plain, "PUT", path, body, false); rec.Code != http.StatusUnauthorized {
			t.Fatalf("PUT %s without token: %d", path, rec.Code)
		}
		rec = serve(plain, "PUT", "/api/store/"+key, body, true)
		ok("PUT store", rec)
		if rec.Code != http.StatusOK {
			return
		}
		var got struct {
			Key    string  `json:"key"`
			Value  *string `json:"value"`
			Base64 []byte  `json:"base64"`
		}
		rec = serve(plain, "GET", "/api/store/"+key, nil, true)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %q after a PUT: %d %s", key, rec.Code, rec.Body)
		}
		if err := json.NewDecoder(io.LimitReader(rec.Body, 4<<20)).Decode(&got); err != nil {
			t.Fatalf("GET %q: %v", key, err)
		}
		value := got.Base64
		if got.Value != nil {
			value = []byte(*got.Value)
		}
		if !bytes.Equal(value, body) {
			t.Fatalf("GET %q = %q, PUT %q", key, value, body)
		}
	})
}
