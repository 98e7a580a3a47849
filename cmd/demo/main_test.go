package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microstack-go/microstack/runtime/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyTestMain(m) }

// freePorts makes a test's demo listen on ports the system picks, so tests
// run beside a demo that holds the default ones.
var freePorts = []string{"--console", "127.0.0.1:0", "--stun", "127.0.0.1:0", "--echo-udp", "127.0.0.1:0", "--echo-tcp", "127.0.0.1:0"}

// buildDemo builds the demo binary once per test run.
func buildDemo(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "demo")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build demo: %v", err)
	}
	return bin
}

// lineWaiter reads a process's stdout and lets a test wait for a line.
type lineWaiter struct {
	lines chan string
}

func watchLines(r io.Reader) *lineWaiter {
	w := &lineWaiter{lines: make(chan string, 256)}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	return w
}

func (w *lineWaiter) waitFor(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-w.lines:
			if !ok {
				t.Fatalf("output ended before %q", prefix)
			}
			if strings.HasPrefix(l, prefix) || strings.Contains(l, "msg="+prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("no line %q within 20s", prefix)
		}
	}
}

func TestDemoRestartsOnSIGHUPAndStopsGracefullyOnSIGTERM(t *testing.T) {
	bin := buildDemo(t)
	data := filepath.Join(t.TempDir(), "state")
	cmd := exec.Command(bin, append([]string{"--data", data, "--heartbeat", "50ms"}, freePorts...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := watchLines(stdout)
	logs := watchLines(stderr)
	lines.waitFor(t, "agent: started")
	lines.waitFor(t, "agent: actor tree")
	logs.waitFor(t, "heartbeat")
	if st, err := os.Stat(data); err != nil || !st.IsDir() {
		t.Fatalf("--data dir not created: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	lines.waitFor(t, "agent: restarted (0 did not stop in time)")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	lines.waitFor(t, "agent: stopped")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("demo did not exit within 10s of SIGTERM")
	}
}

func TestDemoFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--help"}, &out, &errOut); code != 0 {
		t.Fatalf("--help exit %d", code)
	}
	for _, flag := range []string{"-data", "-console", "-stun", "-echo-tcp", "-echo-udp", "-discovery", "-discovery-key", "-heartbeat", "-log-level", "-allow-exec", "-transport", "-remote"} {
		if !strings.Contains(errOut.String(), flag) {
			t.Fatalf("--help does not document %s:\n%s", flag, errOut.String())
		}
	}
	errOut.Reset()
	if code := run([]string{"--heartbeat", "-1s"}, &out, &errOut); code != 2 {
		t.Fatalf("bad --heartbeat exit %d", code)
	}
	if code := run([]string{"--no-such-flag"}, &out, &errOut); code != 2 {
		t.Fatalf("unknown flag exit %d", code)
	}
}

// runOnce starts the demo, waits for its id line, stops it with SIGINT and
// returns the id line.
func runOnce(t *testing.T, bin, data string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--data", data, "--log-level", "warn"}, freePorts...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := watchLines(stdout)
	var idLine string
	deadline := time.After(20 * time.Second)
	for idLine == "" {
		select {
		case l, ok := <-lines.lines:
			if !ok {
				t.Fatal("demo output ended before its id line")
			}
			if strings.HasPrefix(l, "agent: id ") {
				idLine = l
			}
		case <-deadline:
			t.Fatal("no id line within 20s")
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	lines.waitFor(t, "agent: stopped")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo exit: %v", err)
	}
	return idLine
}

func TestDemoKeepsItsStateAcrossStarts(t *testing.T) {
	bin := buildDemo(t)
	data := t.TempDir()
	first := runOnce(t, bin, data)
	second := runOnce(t, bin, data)
	id := strings.Fields(first)[2]
	if !strings.HasSuffix(first, "(new)") || second != "agent: id "+id+" (kept in the store)" {
		t.Fatalf("first start %q, second start %q", first, second)
	}
}

// startAgent runs a demo agent with args and returns its console URL's
// address and token.
func startAgent(t *testing.T, bin string, args ...string) (addr, token string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--data", t.TempDir(), "--log-level", "warn"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	lines := watchLines(stdout)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines.lines:
			if !ok {
				t.Fatal("agent output ended before its console line")
			}
			if rest, found := strings.CutPrefix(l, "console: http://"); found {
				addr, token, _ = strings.Cut(rest, "/?token=")
				go func() {
					for range lines.lines {
					}
				}()
				return addr, token
			}
		case <-deadline:
			t.Fatal("no console line within 20s")
		}
	}
}

type consolePeer struct {
	ID, Heartbeat string
}

func peersOf(t *testing.T, addr, token string) []consolePeer {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/api/peers", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var peers []consolePeer
	if err := json.NewDecoder(resp.Body).Decode(&peers); err != nil {
		t.Fatal(err)
	}
	return peers
}

// Two agents sharing a discovery key find each other over multicast on the
// loopback interface, link by WebRTC and exchange heartbeats, which their
// consoles show; an agent with another key is seen by neither.
func TestTwoAgentsDiscoverEachOtherAndExchangeHeartbeats(t *testing.T) {
	bin := buildDemo(t)
	common := []string{"--console", "127.0.0.1:0", "--stun", "", "--echo-tcp", "", "--echo-udp", "", "--discovery", "lo"}
	// Keys of this run only: agents of another run on the machine (a
	// concurrent test run, a demo) share the multicast group on lo, and
	// would be seen with a key they also use.
	run := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	aAddr, aTok := startAgent(t, bin, append(common, "--discovery-key", "shared secret "+run)...)
	bAddr, bTok := startAgent(t, bin, append(common, "--discovery-key", "shared secret "+run)...)
	startAgent(t, bin, append(common, "--discovery-key", "another secret "+run)...)
	linked := func(addr, tok string) bool {
		peers := peersOf(t, addr, tok)
		return len(peers) == 1 && strings.HasPrefix(peers[0].Heartbeat, "open · rtt")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !(linked(aAddr, aTok) && linked(bAddr, bTok)) {
		if time.Now().After(deadline) {
			t.Fatalf("no heartbeat link within 30s: a sees %+v, b sees %+v", peersOf(t, aAddr, aTok), peersOf(t, bAddr, bTok))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A peer offer without the link token is refused.
	resp, err := http.Post("http://"+aAddr+"/peer/offer", "application/json", strings.NewReader(`{"type":"offer","sdp":"v=0"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("offer without the link token: %d", resp.StatusCode)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Two agents serve their actors remotely and join a cluster; the demo's
// controller command lists both as up.
func TestControllerListsTheAgentsOfACluster(t *testing.T) {
	bin := buildDemo(t)
	t.Setenv("MICROSTACK_REMOTE_SECRET", "a shared secret for this test only")
	h1, h2 := freePort(t), freePort(t)
	seeds := h1 + "," + h2
	common := []string{"--console", "127.0.0.1:0", "--stun", "", "--echo-tcp", "", "--echo-udp", "", "--remote", "127.0.0.1:0", "--cluster-seeds", seeds}
	startAgent(t, bin, append(common, "--cluster-listen", h1)...)
	startAgent(t, bin, append(common, "--cluster-listen", h2)...)
	var out bytes.Buffer
	for attempt := 0; ; attempt++ {
		out.Reset()
		cmd := exec.Command(bin, "controller", "-seeds", seeds, "-listen", "127.0.0.1:0")
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if err == nil && strings.Contains(out.String(), "2 agent(s)") && strings.Count(out.String(), " up ") == 2 {
			return
		}
		if attempt == 5 {
			t.Fatalf("controller: %v\n%s", err, out.String())
		}
		time.Sleep(time.Second)
	}
}
