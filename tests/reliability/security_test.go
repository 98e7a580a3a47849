package reliability

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/actors/console"
	httpactor "github.com/microstack-go/microstack/actors/http"
	"github.com/microstack-go/microstack/actors/logging"
	"github.com/microstack-go/microstack/messages/httpmsg"
	"github.com/microstack-go/microstack/runtime"
	"github.com/microstack-go/microstack/runtime/testkit"
)

const token = "0123456789abcdef0123456789abcdef"

func newConsole(t *testing.T, allowExec bool) *httptest.Server {
	t.Helper()
	rt := testkit.StartChain(t, runtime.Options{Name: "agent"})
	c, err := console.New(console.Options{Runtime: rt, Hub: logging.NewHub(logging.Options{Capacity: 10, Level: slog.LevelInfo}),
		Token: token, AllowExec: allowExec, Logger: testkit.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return srv
}

func status(t *testing.T, method, url, auth, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestConsoleRefusesMissingAndWrongTokensAndExecIsOff(t *testing.T) {
	srv := newConsole(t, false)
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + token[:31], "Basic " + token, "bearer" + token} {
		for _, path := range []string{"/api/tree", "/api/store", "/metrics", "/api/logs"} {
			if c := status(t, "GET", srv.URL+path, auth, ""); c != http.StatusUnauthorized {
				t.Errorf("GET %s with %q: %d, want 401", path, auth, c)
			}
		}
		if c := status(t, "POST", srv.URL+"/api/actors/crash?path=agent", auth, ""); c != http.StatusUnauthorized {
			t.Errorf("crash with %q: %d", auth, c)
		}
	}
	if c := status(t, "GET", srv.URL+"/api/tree", "Bearer "+token, ""); c != http.StatusOK {
		t.Fatalf("GET /api/tree with the token: %d", c)
	}
	if c := status(t, "POST", srv.URL+"/api/exec", "Bearer "+token, `{"path":"/bin/true"}`); c != http.StatusForbidden {
		t.Fatalf("exec without --allow-exec: %d, want 403", c)
	}
}

// The HTTP server actor the console is mounted on listens on loopback
// unless told otherwise.
func TestServerBindsLoopbackByDefault(t *testing.T) {
	system := testkit.NewSystem(t)
	pid := system.Root.Spawn(httpactor.Props(httpactor.Options{}))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range res.(*httpmsg.Bound).Endpoints {
		if !ep.Addr.Addr().IsLoopback() {
			t.Fatalf("default endpoint %v is not loopback", ep.Addr)
		}
	}
}

// Static files are served from their folder only: dot-dot paths, encoded
// ones and symbolic links do not reach a file outside it.
func TestStaticFilesCannotEscapeTheirFolder(t *testing.T) {
	root := t.TempDir()
	pub := filepath.Join(root, "public")
	if err := os.Mkdir(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	const secret = "the secret outside"
	if err := os.WriteFile(filepath.Join(root, "secret.txt"), []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pub, "ok.txt"), []byte("public"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "secret.txt"), filepath.Join(pub, "link.txt")); err != nil {
		t.Fatal(err)
	}
	system := testkit.NewSystem(t)
	pid := system.Root.Spawn(httpactor.Props(httpactor.Options{Routes: []httpactor.Route{{Pattern: "/static/", Dir: pub}}}))
	t.Cleanup(func() { _ = system.Root.StopFuture(pid).Wait() })
	res, err := system.Root.RequestFuture(pid, &httpmsg.GetBound{}, 5*time.Second).Result()
	if err != nil {
		t.Fatal(err)
	}
	addr := res.(*httpmsg.Bound).Endpoints[0].Addr
	get := func(path string) (int, string) {
		conn := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		return conn.code, conn.body
	}
	if c, b := get("/static/ok.txt"); c != 200 || b != "public" {
		t.Fatalf("the public file: %d %q", c, b)
	}
	for _, p := range []string{"/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/..%2fsecret.txt", "/static/%2e%2e%2fsecret.txt",
		"/static/link.txt", "/static//../secret.txt", "/static/..\\secret.txt", "/static/./../secret.txt"} {
		if c, b := get(p); strings.Contains(b, secret) {
			t.Errorf("GET %s: %d served the file outside the folder", p, c)
		}
	}
}

type rawAnswer struct {
	code int
	body string
}

// rawRequest sends raw as is (no client-side path cleaning) and reads the
// answer.
func rawRequest(t *testing.T, addr netip.AddrPort, raw string) rawAnswer {
	t.Helper()
	c := dial(t, addr)
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufioReader(c), nil)
	if err != nil {
		return rawAnswer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return rawAnswer{code: resp.StatusCode, body: string(b)}
}
