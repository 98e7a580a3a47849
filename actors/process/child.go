package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/microstack-go/microstack/messages/procmsg"
)

// stream names an output pipe.
type stream int

const (
	stdout stream = iota
	stderr
)

// child is one running program and the goroutines that serve its pipes:
// a reader per output, a writer for stdin and a waiter for its exit.
type child struct {
	gen     int
	cmd     *exec.Cmd
	pid     int
	started time.Time
	pty     bool

	stdin  *os.File   // the write end of stdin, or the terminal
	output []*os.File // stdout and stderr read ends, or the terminal

	budget *budget
	writes chan stdinJob
	done   chan struct{} // closed to stop the readers
	exited chan struct{} // closed once the child is reaped
	state  *os.ProcessState

	// killed is the signal the actor reports for a child it terminated
	// where the system keeps no such record (Windows); zero elsewhere.
	killed atomic.Int32

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Results the child's goroutines deliver to the actor.
type (
	output struct {
		gen    int
		stream stream
		data   []byte
	}
	outputEnded struct {
		gen    int
		stream stream
	}
	reaped struct {
		gen   int
		state *os.ProcessState
		at    time.Time
	}
	stdinDone struct {
		gen int
		err error
	}
)

// stdinJob is one write to the child's stdin; close closes it instead.
type stdinJob struct {
	data  []byte
	close bool
}

// startChild starts spec as o says. It blocks on fork and exec, so the
// actor runs it in a goroutine of its own.
func startChild(gen int, spec *procmsg.Spawn, o Options) (*child, error) {
	if spec.Path == "" {
		return nil, errors.New("process: empty path")
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = spec.Env
	cmd.Dir = spec.Dir
	c := &child{
		gen:    gen,
		cmd:    cmd,
		pty:    o.PTY,
		budget: newBudget(o.MaxBuffered),
		writes: make(chan stdinJob, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	if o.PTY {
		term, err := startPTY(cmd, o)
		if err != nil {
			return nil, fmt.Errorf("process: start %s: %w", spec.Path, err)
		}
		c.stdin = term
		c.output = []*os.File{term}
	} else {
		files, err := pipes()
		if err != nil {
			return nil, fmt.Errorf("process: pipes: %w", err)
		}
		cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
		cmd.SysProcAttr = pipeAttrs(o)
		err = cmd.Start()
		// The child's ends belong to the child now.
		files[0].Close()
		files[3].Close()
		files[5].Close()
		if err != nil {
			files[1].Close()
			files[2].Close()
			files[4].Close()
			return nil, fmt.Errorf("process: start %s: %w", spec.Path, err)
		}
		c.stdin = files[1]
		c.output = []*os.File{files[2], files[4]}
	}
	c.pid = cmd.Process.Pid
	c.started = time.Now()
	return c, nil
}

// serve starts the goroutines that read, write and wait for the child. The
// actor calls it once it knows the child, so that no result of the child
// reaches the actor before the child itself.
func (c *child) serve(readSize int, deliver func(any)) {
	for i, f := range c.output {
		c.wg.Add(1)
		go c.read(stream(i), f, readSize, deliver)
	}
	c.wg.Add(2)
	go c.write(deliver)
	go c.wait(deliver)
}

// pipes returns stdin's read and write ends, stdout's and stderr's.
func pipes() ([6]*os.File, error) {
	var f [6]*os.File
	for i := 0; i < 6; i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			for _, x := range f[:i] {
				x.Close()
			}
			return f, err
		}
		f[i], f[i+1] = r, w
	}
	return f, nil
}

// read copies one output to the actor in chunks, taking each chunk's room
// from the budget first, so that at most MaxBuffered bytes are read ahead
// of the handler.
func (c *child) read(s stream, f *os.File, size int, deliver func(any)) {
	defer c.wg.Done()
	defer func() { deliver(outputEnded{gen: c.gen, stream: s}) }()
	var buf []byte
	for {
		if !c.budget.acquire(size, c.done) {
			return
		}
		if buf == nil {
			buf = make([]byte, size)
		}
		n, err := f.Read(buf)
		c.budget.release(size - n)
		if n > 0 {
			data := buf[:n:n]
			if n < size/2 {
				// A short read gets a buffer of its size, so that memory
				// follows the budget's count of bytes, and buf is reused.
				data = bytes.Clone(data)
			} else {
				buf = nil // handed over with the event
			}
			deliver(output{gen: c.gen, stream: s, data: data})
		}
		if err != nil {
			// EOF on a pipe; EIO on a terminal whose other side closed.
			return
		}
	}
}

func (c *child) write(deliver func(any)) {
	defer c.wg.Done()
	for job := range c.writes {
		var err error
		if job.close {
			err = c.stdin.Close()
		} else {
			_, err = c.stdin.Write(job.data)
		}
		deliver(stdinDone{gen: c.gen, err: err})
	}
}

func (c *child) wait(deliver func(any)) {
	defer c.wg.Done()
	_ = c.cmd.Wait() // the state says how it ended
	c.state = c.cmd.ProcessState
	close(c.exited)
	deliver(reaped{gen: c.gen, state: c.cmd.ProcessState, at: time.Now()})
}

// close stops the goroutines and releases the files. The child must be
// reaped and its group gone before, or readers may wait on a pipe a
// survivor holds (closing the read ends unblocks them anyway).
func (c *child) close() {
	c.closeOnce.Do(func() {
		close(c.done)
		close(c.writes)
		for _, f := range c.output {
			f.Close()
		}
		if !c.pty {
			c.stdin.Close()
		}
	})
	c.wg.Wait()
}

// budget is a count of bytes that readers take before reading and the actor
// gives back once the bytes are delivered.
type budget struct {
	mu    sync.Mutex
	avail int
	size  int
	wake  chan struct{}
}

func newBudget(n int) *budget {
	return &budget{avail: n, size: n, wake: make(chan struct{}, 1)}
}

// acquire takes n bytes, waiting until they are free or done is closed.
func (b *budget) acquire(n int, done <-chan struct{}) bool {
	for {
		b.mu.Lock()
		if b.avail >= n {
			b.avail -= n
			left := b.avail
			b.mu.Unlock()
			if left > 0 {
				b.signal() // another reader may fit in what is left
			}
			return true
		}
		b.mu.Unlock()
		select {
		case <-b.wake:
		case <-done:
			return false
		}
	}
}

func (b *budget) release(n int) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.avail += n
	b.mu.Unlock()
	b.signal()
}

func (b *budget) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// inUse returns the bytes taken: being read or waiting for delivery.
func (b *budget) inUse() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.size - b.avail
}

// exitStatus returns Exited's code and signal for the reaped child.
func (c *child) exitStatus() (int, syscall.Signal) {
	st := c.state
	if st == nil {
		return -1, 0
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -1, ws.Signal()
	}
	if sig := syscall.Signal(c.killed.Load()); sig != 0 {
		return -1, sig
	}
	return st.ExitCode(), 0
}
