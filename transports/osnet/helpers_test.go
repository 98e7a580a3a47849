package osnet

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/microstack-go/microstack/transports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitFor polls cond until it holds, failing the test after 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// acceptor collects accepted streams and accept errors.
type acceptor struct {
	mu       sync.Mutex
	streams  []transports.Stream
	errs     []error
	closed   bool
	onAccept func(transports.Stream)
}

func (a *acceptor) OnAccept(s transports.Stream) {
	a.mu.Lock()
	a.streams = append(a.streams, s)
	f := a.onAccept
	a.mu.Unlock()
	if f != nil {
		f(s)
	}
}

func (a *acceptor) OnAcceptError(err error) {
	a.mu.Lock()
	a.errs = append(a.errs, err)
	a.mu.Unlock()
}

func (a *acceptor) OnClosed(error) { a.mu.Lock(); a.closed = true; a.mu.Unlock() }

func (a *acceptor) count() (int, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.streams), len(a.errs)
}

// startListener starts l with a and closes it at cleanup, waiting for
// OnClosed so that no goroutine outlives the test.
func startListener(t *testing.T, l transports.Listener, a *acceptor) {
	t.Helper()
	if err := l.Start(a); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		l.Close()
		waitFor(t, "listener OnClosed", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.closed })
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, s := range a.streams {
			s.Abort()
		}
	})
}
