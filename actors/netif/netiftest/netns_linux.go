package netiftest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// RoleEnv names the environment variable that tells a re-executed test
// binary which role to play; empty in the parent.
const RoleEnv = "MICROSTACK_NETNS_ROLE"

// Role returns the role this process plays, empty for the parent.
func Role() string { return os.Getenv(RoleEnv) }

// Require skips the test when it cannot create namespaces (not root) and
// fails it, with a message saying what to install, when the ip tool is
// missing.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("the ip tool (iproute2) is missing: run tests/setup.sh or apt-get install iproute2: %v", err)
	}
}

// Name returns a name unique to this process for tag, short enough for an
// interface name (15 bytes) when tag is at most 6 bytes.
func Name(tag string) string { return fmt.Sprintf("%s%d", tag, os.Getpid()) }

// Namespace is a network namespace created for one test.
type Namespace struct {
	Name string
}

// NewNamespace creates a namespace named after tag and the process id,
// brings its loopback up and deletes it when the test ends.
func NewNamespace(t testing.TB, tag string) *Namespace {
	t.Helper()
	ns := &Namespace{Name: "ms-" + Name(tag)}
	run(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.IP(t, "link", "set", "lo", "up")
	return ns
}

// IP runs "ip -n NS args...", failing the test on error, and returns its
// output.
func (ns *Namespace) IP(t testing.TB, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// NoDAD turns off IPv6 duplicate address detection on the namespace's
// interface ifname (and for interfaces created later), so that addresses
// are usable, and multicast can be sent, as soon as they are added. Call
// it before the interface comes up.
func (ns *Namespace) NoDAD(t testing.TB, ifname string) {
	t.Helper()
	for _, name := range []string{"default", ifname} {
		run(t, "ip", "netns", "exec", ns.Name, "sysctl", "-q", "-w", "net.ipv6.conf."+name+".accept_dad=0")
	}
}

// Veth creates a veth pair with one end, aName, in a and the other, bName,
// in b, with DAD off on both; neither end is up. Deleting a namespace
// deletes its end and with it the pair.
func Veth(t testing.TB, a *Namespace, aName string, b *Namespace, bName string) {
	t.Helper()
	run(t, "ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
	a.NoDAD(t, aName)
	b.NoDAD(t, bName)
}

// Do runs fn on an OS thread switched into the namespace. A socket fn
// creates stays in the namespace for its whole life, wherever it is used
// from afterwards. The thread is discarded when fn returns.
func (ns *Namespace) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the runtime ends a locked thread with its
		// goroutine, so no other goroutine runs in the namespace.
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Child is the test binary re-executed inside a namespace.
type Child struct {
	t     testing.TB
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error
	shown bool // the output was put in a failure message

	mu     sync.Mutex
	cond   *sync.Cond
	events []string
	used   []bool // taken by Expect
	out    bytes.Buffer
}

// Start runs the test function test of this binary inside the namespace
// with RoleEnv set to role and the extra environment env ("K=V"). Its
// EVENT lines are read with Expect; it is killed, by its PID, when the
// test ends if it has not exited.
func (ns *Namespace) Start(t testing.TB, test, role string, env ...string) *Child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", ns.Name, exe, "-test.run=^"+test+"$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), RoleEnv+"="+role), env...)
	c := &Child{t: t, name: role + "@" + ns.Name, cmd: cmd, done: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", c.name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.out.WriteString(line + "\n")
			if ev, ok := strings.CutPrefix(line, "EVENT "); ok {
				c.events = append(c.events, ev)
				c.used = append(c.used, false)
			}
			c.mu.Unlock()
			c.cond.Broadcast()
		}
		c.err = cmd.Wait()
		close(c.done)
		c.cond.Broadcast()
	}()
	t.Cleanup(func() {
		c.Kill()
		<-c.done
		if t.Failed() && !c.shown {
			t.Logf("output of %s:\n%s", c.name, c.Output())
		}
	})
	return c
}

// Expect waits for an EVENT line that starts with prefix and that no
// earlier Expect returned, in the order the child printed them (so lines
// of other kinds may come in between, before or after), and fails the test
// if none comes within timeout or the child exits first.
func (c *Child) Expect(prefix string, timeout time.Duration) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	wake := time.AfterFunc(timeout, c.cond.Broadcast)
	defer wake.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i, ev := range c.events {
			if !c.used[i] && strings.HasPrefix(ev, prefix) {
				c.used[i] = true
				return ev
			}
		}
		select {
		case <-c.done:
			c.t.Fatalf("%s exited (%v) before %q:\n%s", c.name, c.err, prefix, c.out.String())
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no %q from %s within %v:\n%s", prefix, c.name, timeout, c.out.String())
		}
		c.cond.Wait()
	}
}

// Events returns every EVENT line so far.
func (c *Child) Events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.events...)
}

// Output returns everything the child printed so far.
func (c *Child) Output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

// Stop closes the child's standard input, which asks a role to finish,
// and waits up to timeout for it to exit; it fails the test if the child
// does not exit in time or exits with an error.
func (c *Child) Stop(timeout time.Duration) {
	c.t.Helper()
	_ = c.stdin.Close()
	c.Wait(timeout)
}

// Wait waits up to timeout for the child to exit and fails the test,
// showing its output, unless it exited with status 0.
func (c *Child) Wait(timeout time.Duration) {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		c.Kill()
		<-c.done
		c.shown = true
		c.t.Fatalf("%s did not exit within %v:\n%s", c.name, timeout, c.Output())
	}
	if c.err != nil {
		c.shown = true
		c.t.Fatalf("%s: %v:\n%s", c.name, c.err, c.Output())
	}
}

// Kill kills the child by its PID (SIGKILL), as a crash would end it.
func (c *Child) Kill() {
	if c.cmd.Process != nil {
		_ = c.cmd.Process.Kill()
	}
}

// Killed waits for the child to end after Kill.
func (c *Child) Killed() { <-c.done }

// Event prints an EVENT line for the parent to read.
func Event(format string, args ...any) {
	fmt.Fprintf(os.Stdout, "EVENT "+format+"\n", args...)
}

// StdinClosed returns a channel closed when the parent closes the child's
// standard input (Child.Stop) or the parent dies.
func StdinClosed() <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(ch)
	}()
	return ch
}

func run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
