// Package stuntest starts a real STUN/TURN server for tests: Debian's coturn
// (the turnserver binary), bound to 127.0.0.1 only, with one static user, no
// TLS, and loopback peers allowed so that relayed data flows between local
// peers. A test that needs it fails, rather than skips, when turnserver is
// missing: tests/setup.sh installs it.
package stuntest

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Coturn is a running turnserver.
type Coturn struct {
	// Addr is the listening address, for UDP and TCP alike.
	Addr netip.AddrPort
	// User, Password and Realm are the long-term credentials it accepts.
	User, Password, Realm string
	// Log holds what the server printed so far; read it when a test fails.
	Log func() string
}

// StartCoturn starts turnserver on a free port of 127.0.0.1 and stops it by
// its PID when the test ends.
func StartCoturn(t testing.TB) *Coturn {
	t.Helper()
	bin, err := exec.LookPath("turnserver")
	if err != nil {
		t.Fatalf("turnserver (Debian package coturn) is missing: run tests/setup.sh or apt-get install -y coturn: %v", err)
	}
	port := freePort(t)
	c := &Coturn{
		Addr:     netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), port),
		User:     "microstack",
		Password: "test-secret",
		Realm:    "microstack.test",
	}
	dir := t.TempDir()
	var out lockedBuffer
	c.Log = out.String
	// The relay port range sits away from the listening port, and
	// --allow-loopback-peers is needed for relayed data to reach 127.0.0.1
	// peers: without it allocations succeed but nothing flows.
	relayMin := 20000 + int(port)%20000
	cmd := exec.Command(bin,
		"-n", "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1",
		"--listening-port="+strconv.Itoa(int(port)),
		"--min-port="+strconv.Itoa(relayMin), "--max-port="+strconv.Itoa(relayMin+200),
		"--lt-cred-mech", "--fingerprint",
		"--user="+c.User+":"+c.Password, "--realm="+c.Realm,
		"--allow-loopback-peers", "--no-multicast-peers",
		"--pidfile="+filepath.Join(dir, "turnserver.pid"),
		"--log-file=stdout", "--simple-log", "--no-software-attribute",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start turnserver: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = terminate(cmd.Process)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", c.Addr.String(), time.Second)
		if err == nil {
			_ = conn.Close()
			break
		}
		select {
		case <-done:
			t.Fatalf("turnserver exited at start:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnserver not listening on %v within 10s:\n%s", c.Addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}

// URL returns the server's "turn:" URL for transport "udp" or "tcp".
func (c *Coturn) URL(transport string) string {
	return fmt.Sprintf("turn:%s?transport=%s", c.Addr, transport)
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t testing.TB) uint16 {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return uint16(port)
		}
	}
	t.Fatalf("no port free for both UDP and TCP on 127.0.0.1")
	return 0
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
