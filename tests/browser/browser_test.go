// Package browser tests microstack's WebRTC actors against a real browser:
// headless Chromium (Debian package chromium) loads a test page that opens
// a data channel to the webrtc.Signaling endpoint and checks that its
// messages are echoed.
//
// The browser runs in a network namespace of its own that has only the
// loopback interface up, so it cannot reach any other network. Loopback is
// per namespace, so the page's server and Go peer must live there too: the
// test starts a helper, this test binary run again inside the namespace
// (ip netns exec) with MICROSTACK_BROWSER_HELPER set, which serves the page
// and the signaling endpoint on 127.0.0.1, starts Chromium on it, waits for
// the page's report and prints it. Creating the namespace needs root (or
// CAP_SYS_ADMIN), as `make test` runs in CI.
package browser

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/testkit"
)

//go:embed page.html
var page []byte

const helperEnv = "MICROSTACK_BROWSER_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	testkit.VerifyTestMain(m)
}

// result is what the page reports.
type result struct {
	OK      bool     `json:"ok"`
	Error   string   `json:"error"`
	Got     []string `json:"got"`
	SCTPMax int      `json:"sctpMax"`
}

func TestChromiumDataChannelIsEchoed(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is missing (Debian package chromium): run tests/setup.sh or apt-get install -y chromium: %v", err)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("ip (Debian package iproute2) is missing: %v", err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ns := "msbrowser-" + strconv.Itoa(os.Getpid())
	if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s (needs root or CAP_SYS_ADMIN): %v: %s", ns, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(ip, "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", ns, err, out)
		}
	})
	if out, err := exec.Command(ip, "netns", "exec", ns, ip, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("bring lo up in %s: %v: %s", ns, err, out)
	}
	out, err := exec.Command(ip, "netns", "exec", ns, ip, "-o", "link", "show", "up").CombinedOutput()
	if err != nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), " lo:") {
		t.Fatalf("namespace %s should have only lo up: %v: %s", ns, err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip, "netns", "exec", ns, self, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+chromium, "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var res *result
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok {
			res = new(result)
			if err := json.Unmarshal([]byte(line), res); err != nil {
				t.Fatalf("bad result line %q: %v", line, err)
			}
		}
	}
	if res == nil {
		t.Fatalf("helper reported nothing (%v)\nstdout:\n%s\nstderr:\n%s", runErr, stdout.String(), tail(stderr.String(), 4000))
	}
	if !res.OK {
		t.Fatalf("page failed: %s\nstderr:\n%s", res.Error, tail(stderr.String(), 4000))
	}
	var want []string
	for i := range 10 {
		want = append(want, fmt.Sprint("ping ", i))
	}
	want = append(want, "binary:1,2,3,250")
	if strings.Join(res.Got, "|") != strings.Join(want, "|") {
		t.Fatalf("echoed %q, want %q", res.Got, want)
	}
	if runErr != nil {
		t.Fatalf("helper: %v\nstderr:\n%s", runErr, tail(stderr.String(), 4000))
	}
	t.Logf("chromium got %d messages echoed; its SCTP max message size is %d", len(res.Got), res.SCTPMax)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
