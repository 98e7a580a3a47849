// Package console tests the demo agent's web console the way a person uses
// it: the demo runs as a process, headless Chromium (Debian's chromium,
// driven over the DevTools protocol by chromedp) loads the console with the
// token the agent printed, sees the actor tree, presses crash on a service,
// sees its restart count go up and the service answer again, and sees a new
// log line arrive live. A screenshot is saved in artifacts/.
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// demo is a running demo agent.
type demo struct {
	cmd     *exec.Cmd
	echo    string // the TCP echo service's address
	console string // http://ADDR/?token=TOKEN
	base    string // http://ADDR
	token   string
}

var consoleLine = regexp.MustCompile(`^console: (http://([^/]+))/\?token=([0-9a-f]+)$`)

func startDemo(t *testing.T) *demo {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/demo")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build demo: %v", err)
	}
	// The echo listener must come back on the same port after a crash, so
	// it gets a fixed one: a port the system just handed out and took back.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &demo{echo: probe.Addr().String()}
	probe.Close()
	cmd := exec.Command(bin, "--data", t.TempDir(), "--console", "127.0.0.1:0", "--stun", "127.0.0.1:0",
		"--echo-udp", "127.0.0.1:0", "--echo-tcp", d.echo, "--heartbeat", "200ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.cmd = cmd
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := consoleLine.FindStringSubmatch(sc.Text()); m != nil && d.console == "" {
				d.console, d.base, d.token = m[0][len("console: "):], m[1], m[3]
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo printed no console line")
	}
	return d
}

func newBrowser(t *testing.T) context.Context {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing (Debian package chromium; tests/setup.sh installs it): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Chromium's own WebRTC hides local addresses behind mDNS names that
		// never resolve here, and refuses loopback candidates by default.
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	return ctx
}

// attr reads an attribute of the first element matching sel.
func attr(ctx context.Context, sel, name string) (string, error) {
	res, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), name))
	if err == nil && !res.Exists {
		err = fmt.Errorf("%s has no %s", sel, name)
	}
	return res.Value, err
}

func TestConsoleShowsTheTreeAndACrashedServiceRestarts(t *testing.T) {
	d := startDemo(t)
	ctx := newBrowser(t)
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	const target = "agent/echo-tcp" // the TCP echo listener
	sel := fmt.Sprintf(`li[data-path=%q]`, target)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(d.console),
		chromedp.WaitVisible(chromedp.CSS(`li[data-path="agent"]`)),
		chromedp.WaitVisible(chromedp.CSS(sel)),
	); err != nil {
		t.Fatalf("console did not show the tree: %v", err)
	}
	kinds, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("li[data-kind]")].map(li => li.dataset.kind)`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"chain", "store", "logging", "http.server", "stun.server", "tcp.listener", "demo.heartbeat"} {
		if !contains(kinds, want) {
			t.Fatalf("tree lacks a %s: %v", want, kinds)
		}
	}

	// A live log line: the heartbeat logs every 200 ms.
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#logs li[data-seq]`))); err != nil {
		t.Fatalf("no log line: %v", err)
	}
	firstSeq, err := attr(ctx, `#logs li:last-child`, "data-seq")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 20*time.Second, "a newer log line to arrive live", func() bool {
		s, err := attr(ctx, `#logs li:last-child`, "data-seq")
		a, _ := strconv.Atoi(s)
		b, _ := strconv.Atoi(firstSeq)
		return err == nil && a > b
	})

	echo(t, d.echo)
	// Crash the TCP echo listener from the page and watch its restart count.
	before, err := attr(ctx, sel, "data-restarts")
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel+` > .node > button.crash`))); err != nil {
		t.Fatalf("press crash: %v", err)
	}
	waitFor(t, ctx, 20*time.Second, "the restart count to go up", func() bool {
		now, err := attr(ctx, sel, "data-restarts")
		a, _ := strconv.Atoi(now)
		b, _ := strconv.Atoi(before)
		return err == nil && a == b+1
	})
	// The restarted listener answers on its port again, and every service
	// is up.
	waitFor(t, ctx, 20*time.Second, "the echo port to answer again", func() bool { return tryEcho(d.echo) == nil })
	waitFor(t, ctx, 20*time.Second, "healthz to report every service up", func() bool {
		resp, err := http.Get(d.base + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == 200 && strings.Contains(string(body), `"echo-tcp":"running"`)
	})
	waitFor(t, ctx, 20*time.Second, "the page's health badge to say healthy", func() bool {
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#health`)))
		return err == nil && text == "healthy"
	})

	// The WebRTC panel opens a data channel to the agent, which echoes.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#rtc-connect`))); err != nil {
		t.Fatal(err)
	}
	var rtcState string
	waitFor(t, ctx, 30*time.Second, "the data channel to open", func() bool {
		state, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#rtc-state`)))
		if state != rtcState {
			t.Logf("WebRTC panel: %q", state) // the page dump on failure may not reach the panel
			rtcState = state
		}
		return err == nil && state == "open"
	})
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#rtc-text`), "hello over webrtc"),
		chromedp.Click(chromedp.CSS(`#rtc-send`)),
	); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, 20*time.Second, "the agent's echo", func() bool {
		text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#rtc-log`)))
		return err == nil && strings.Contains(text, "echo: hello over webrtc")
	})

	// A TCP connection shows in the connections panel, and its close button
	// closes it: the client reads end of stream.
	conn, err := net.Dial("tcp", d.echo)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, ctx, 20*time.Second, "the connection to show in the connections panel", func() bool {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll("#conns tr")].filter(tr => tr.children[1] && tr.children[1].textContent === "tcp.conn").length`))
		return err == nil && n == 1
	})
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const tr = [...document.querySelectorAll("#conns tr")].find(tr => tr.children[1] && tr.children[1].textContent === "tcp.conn"); tr.querySelector("button").click(); return true; })()`)); err != nil {
		t.Fatalf("press close: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after close from the console the client read %d bytes, %v; want EOF", n, err)
	}

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("artifacts", "console.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: tests/console/artifacts/console.png (%d bytes)", len(png))
}

func TestConsoleRefusesAWrongToken(t *testing.T) {
	d := startDemo(t)
	for _, url := range []string{d.base + "/", d.base + "/api/tree", d.base + "/?token=00000000000000000000000000000000"} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
	}
}

// tryEcho sends a line to the echo service and checks it comes back.
func tryEcho(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	msg := []byte("hello, echo\n")
	if _, err := c.Write(msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echoed %q", got)
	}
	return nil
}

func echo(t *testing.T, addr string) {
	t.Helper()
	if err := tryEcho(addr); err != nil {
		t.Fatalf("echo at %s: %v", addr, err)
	}
}

func waitFor(t *testing.T, ctx context.Context, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			html, _ := chromedp.Run(context.WithoutCancel(ctx), chromedp.OuterHTML(chromedp.CSS("body")))
			t.Fatalf("waited %v for %s; page:\n%.3000s", d, what, html)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
