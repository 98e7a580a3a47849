package http_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	nethttp "net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/messages"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestActorRouteAnswersGoClientWithKeepAlive(t *testing.T) {
	system, reg := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{Routes: []httpactor.Route{{Pattern: "/echo/{rest...}", Actor: echo}}})
	c := newClient(t)
	for i := range 5 {
		resp, err := c.Post(fmt.Sprintf("http://%s/echo/%d", addr, i), "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("POST /echo/%d hi", i); resp.StatusCode != 200 || string(b) != want {
			t.Fatalf("got %d %q, want %q", resp.StatusCode, b, want)
		}
	}
	// One connection carried the five requests: one session, five requests.
	sessions := 0
	for _, in := range reg.Snapshot() {
		if in.Kind == httpactor.SessionKind {
			sessions++
			if in.Counters["requests"] != 5 {
				t.Fatalf("session %s counted %d requests", in.Path, in.Counters["requests"])
			}
		}
	}
	if sessions != 1 {
		t.Fatalf("%d sessions, want 1 (keep-alive)", sessions)
	}
}

func TestCurlAgainstServer(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is required by this test and is not installed")
	}
	system, _ := newSystem(t)
	echo := echoActor(system)
	stopActor(t, system, echo)
	_, addr := startServer(t, system, httpactor.Options{Routes: []httpactor.Route{{Pattern: "/echo", Actor: echo}}})
	url := fmt.Sprintf("http://%s/echo", addr)
	// Two URLs on one command line: curl reuses the connection, and says so.
	out, err := exec.Command(curl, "-sS", "-v", "--max-time", "10", url, url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("GET /echo")) || !bytes.Contains(out, []byte("Re-using existing connection")) {
		t.Fatalf("curl output:\n%s", out)
	}
	// A chunked upload with Expect: 100-continue.
	out, err = exec.Command(curl, "-sS", "-v", "--max-time", "10", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue",
		"--data-binary", "chunky", url).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("100 Continue")) || !bytes.Contains(out, []byte("POST /echo chunky")) {
		t.Fatalf("curl output:\n%s", out)
	}
}

func TestMountedHandlerMiddlewareAndStaticFiles(t *testing.T) {
	system, _ := newSystem(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("file a"), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(filepath.Dir(dir), "secret.txt")
	os.WriteFile(secret, []byte("secret"), 0o644)
	t.Cleanup(func() { os.Remove(secret) })
	os.Symlink(secret, filepath.Join(dir, "link.txt"))

	token := func(pattern string, next nethttp.Handler) nethttp.Handler {
		if pattern == "GET /healthz" {
			return next
		}
		return nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if r.Header.Get("Authorization") != "Bearer t0k" {
				nethttp.Error(w, "no token", nethttp.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	api := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprintf(w, "api %s tls=%v", r.URL.Path, r.TLS != nil)
	})
	_, addr := startServer(t, system, httpactor.Options{
		Middleware: []httpactor.Middleware{token},
		Routes: []httpactor.Route{
			{Pattern: "GET /api/", Handler: api},
			{Pattern: "GET /healthz", Handler: nethttp.HandlerFunc(func(w nethttp.ResponseWriter, _ *nethttp.Request) { io.WriteString(w, "ok") })},
			{Pattern: "GET /static/", Dir: dir},
		},
	})
	c := newClient(t)
	base := fmt.Sprintf("http://%s", addr)
	if code, body := get(t, c, base+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, _ := get(t, c, base+"/api/x"); code != 401 {
		t.Fatalf("api without token: %d", code)
	}
	do := func(path string) (int, string) {
		req, _ := nethttp.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer t0k")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := do("/api/x"); code != 200 || body != "api /api/x tls=false" {
		t.Fatalf("api: %d %q", code, body)
	}
	if code, body := do("/static/a.txt"); code != 200 || body != "file a" {
		t.Fatalf("static: %d %q", code, body)
	}
	if code, _ := do("/static/link.txt"); code == 200 {
		t.Fatal("a symbolic link led outside the folder")
	}
	if code, _ := do("/static/"); code != 404 {
		t.Fatalf("directory listing: %d", code)
	}
	// Path traversal over a raw socket (Go's client would clean the path).
	conn := rawConn(t, addr)
	fmt.Fprintf(conn, "GET /static/../secret.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n\r\nGET /static/%%2e%%2e/secret.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0k\r\n\r\n")
	resps, bodies, _ := readResponses(bufio.NewReader(conn), 2)
	for i, b := range bodies {
		if resps[i].StatusCode == 200 || b == "secret" {
			t.Fatalf("traversal answered %d %q", resps[i].StatusCode, b)
		}
	}
}

func TestHandlerTimeoutAndMissingHandler(t *testing.T) {
	system, _ := newSystem(t)
	silent := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	stopActor(t, system, silent)
	gone := system.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	_ = system.Root.StopFuture(gone).Wait()
	_, addr := startServer(t, system, httpactor.Options{
		HandlerTimeout: 200 * time.Millisecond,
		Routes: []httpactor.Route{
			{Pattern: "/silent", Actor: silent},
			{Pattern: "/gone", Actor: gone},
		},
	})
	c := newClient(t)
	if code, _ := get(t, c, fmt.Sprintf("http://%s/silent", addr)); code != 504 {
		t.Fatalf("silent handler: %d, want 504", code)
	}
	if code, _ := get(t, c, fmt.Sprintf("http://%s/gone", addr)); code != 503 {
		t.Fatalf("stopped handler: %d, want 503", code)
	}
	if code, _ := get(t, c, fmt.Sprintf("http://%s/nothing", addr)); code != 404 {
		t.Fatalf("no route: %d, want 404", code)
	}
}

func TestStreamedResponseWithBackPressure(t *testing.T) {
	system, _ := newSystem(t)
	probe := testkit.NewProbe(t, system)
	// The handler streams three parts, asking for acks.
	handler := system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *httpmsg.Request:
			ctx.Send(m.ReplyTo, &httpmsg.StreamResponse{Header: nethttp.Header{"Trailer": {"X-Sum"}}})
			for i := range 3 {
				ctx.Request(m.ReplyTo, &httpmsg.WriteBody{Data: fmt.Appendf(nil, "part%d;", i), Ack: i})
			}
			ctx.Request(m.ReplyTo, &httpmsg.EndResponse{Trailer: nethttp.Header{"X-Sum": {"3"}}})
		case *messages.WriteAck:
			ctx.Send(probe.PID, m)
		}
	}))
	stopActor(t, system, handler)
	_, addr := startServer(t, system, httpactor.Options{Routes: []httpactor.Route{{Pattern: "/stream", Actor: handler}}})
	conn := rawConn(t, addr)
	fmt.Fprintf(conn, "GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resps, bodies, err := readResponses(bufio.NewReader(conn), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slicesEqual(resps[0].TransferEncoding, []string{"chunked"}) || bodies[0] != "part0;part1;part2;" || resps[0].Trailer.Get("X-Sum") != "3" {
		t.Fatalf("streamed: %v %q trailer %v", resps[0].TransferEncoding, bodies[0], resps[0].Trailer)
	}
	for i := range 3 {
		if a := testkit.Expect[*messages.WriteAck](probe, 0); a.Ack != i {
			t.Fatalf("ack %v, want %d", a.Ack, i)
		}
	}
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, ",") == strings.Join(b, ",")
}
