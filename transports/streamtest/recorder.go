package streamtest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/microstack-go/microstack/transports"
)

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: only a failure waits this long, and a full run of the
	// repository's tests under the race detector on two cores has been seen
	// to take over 10 s for the 8 MiB transfer of the suspended-reader test.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rec records a stream's events. It checks the handler contract as it goes:
// no call after OnClosed and no two calls at once.
type rec struct {
	t        *testing.T
	mu       sync.Mutex
	busy     bool
	data     bytes.Buffer
	written  int
	peerEOF  bool
	closed   bool
	closeErr error
	echo     transports.Stream // when set, OnData writes back to it
}

func (r *rec) enter() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.busy {
		r.t.Error("handler called concurrently")
	}
	if r.closed {
		r.t.Error("handler called after OnClosed")
	}
	r.busy = true
}

func (r *rec) leave() { r.mu.Lock(); r.busy = false; r.mu.Unlock() }

func (r *rec) OnData(b []byte) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.data.Write(b)
	echo := r.echo
	r.mu.Unlock()
	if echo != nil {
		if err := echo.Write(b); err != nil {
			r.t.Errorf("echo write: %v", err)
		}
	}
}

func (r *rec) OnWritten(n int) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.written += n
	r.mu.Unlock()
}

func (r *rec) OnClosed(err error) {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.closed, r.closeErr = true, err
	r.mu.Unlock()
}

func (r *rec) snapshot() (data []byte, written int, closed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.data.Bytes()), r.written, r.closed, r.closeErr
}

// sizes returns how many bytes were read and reported written, without
// copying the data: a wait that polls a large transfer must not slow it.
func (r *rec) sizes() (read, written int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.data.Len(), r.written
}

func (r *rec) waitClosed(t *testing.T) error {
	t.Helper()
	waitFor(t, "OnClosed", func() bool { _, _, c, _ := r.snapshot(); return c })
	_, _, _, err := r.snapshot()
	return err
}

// halfRec is a rec that keeps its stream open after the peer's FIN.
type halfRec struct{ rec }

func (r *halfRec) OnPeerClosed() {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.peerEOF = true
	r.mu.Unlock()
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
// OnClosed so that no goroutine outlives the test, then aborts the
// accepted streams.
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

// startStream starts s with r and aborts it at cleanup, waiting for
// OnClosed.
func startStream(t *testing.T, s transports.Stream, r transports.StreamHandler, rr *rec) {
	t.Helper()
	if err := s.Start(r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Abort()
		rr.waitClosed(t)
	})
}

// Recorder is a StreamHandler for other packages' stream tests: it records
// the data, the bytes reported written and the close, checks the handler
// contract as it goes (no two calls at once, none after OnClosed), and
// writes every read back to an echo stream when it has one.
type Recorder struct{ r rec }

// NewRecorder returns a Recorder that reports contract breaches to t; with
// echo set, OnData writes each read back to it.
func NewRecorder(t *testing.T, echo transports.Stream) *Recorder {
	return &Recorder{rec{t: t, echo: echo}}
}

// OnData implements transports.StreamHandler.
func (r *Recorder) OnData(b []byte) { r.r.OnData(b) }

// OnWritten implements transports.StreamHandler.
func (r *Recorder) OnWritten(n int) { r.r.OnWritten(n) }

// OnClosed implements transports.StreamHandler.
func (r *Recorder) OnClosed(err error) { r.r.OnClosed(err) }

// Snapshot returns what was read (a copy), the bytes reported written,
// whether OnClosed came and with what.
func (r *Recorder) Snapshot() (data []byte, written int, closed bool, err error) {
	return r.r.snapshot()
}
