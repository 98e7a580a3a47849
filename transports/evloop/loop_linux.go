package evloop

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollable is what a loop drives: a stream or a listener. Both methods run
// on the loop's goroutine.
type pollable interface {
	// event handles the readiness epoll reported.
	event(ev uint32)
	// task runs work posted to the loop (see loop.post).
	task()
}

// slot is a registered socket in a loop's table. The epoll event carries the
// slot's index and seq, so that an event still queued for a socket that has
// closed is not delivered to the next socket in that slot.
type slot struct {
	p   pollable
	seq uint32
}

// A loop's sleep states. A loop naps (sleeps at most napMillis) after a
// turn with work; a write's OnWritten report waits for the nap to end
// instead of waking the loop. It sleeps without a deadline after a quiet
// turn, and then every post wakes it.
const (
	awake int32 = iota
	napping
	sleeping
)

const (
	napMillis   = 1
	maxEvents   = 256
	wakeSlot    = -1
	maxAccepts  = 128 // accepts per listener per turn, for fairness
	maxIovecs   = 64
	defaultRead = 64 << 10 // one buffer per loop: larger reads cost no memory per socket
)

// poller hands out the current loop of one of the Network's loop positions:
// a loop is made with its first socket and ends after its last one.
type poller struct {
	mu  sync.Mutex
	cur *loop
	// block makes the loop wait in epoll_wait itself (see loop.ep).
	block bool
	// coalesce is the loop's longest pause after a busy turn; 0: none.
	coalesce time.Duration
}

// acquire returns the loop a new socket joins, counting the socket.
func (p *poller) acquire() (*loop, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == nil {
		l, err := newLoop(p)
		if err != nil {
			return nil, err
		}
		p.cur = l
		go l.run()
	}
	p.cur.refs++
	return p.cur, nil
}

// release uncounts a socket of l; the last one ends the loop.
func (p *poller) release(l *loop) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.refs--
	if l.refs > 0 {
		return
	}
	if p.cur == l {
		p.cur = nil
	}
	l.quit.Store(true)
	l.wake(true)
}

// loop is one epoll instance and the goroutine that waits on it. Handlers
// of its sockets are called from that goroutine only.
type loop struct {
	p    *poller
	epfd int
	// ep is epfd as a file in Go's own poller, when the loop parks there:
	// the loop goroutine waits for epfd to be readable like any network
	// goroutine. Nil when the loop blocks its thread in epoll_wait
	// instead (with fewer loops than Ps; see Options.Loops for the
	// figures): then epfd must stay out of Go's poller, or every event
	// would also wake an idle P for nothing.
	ep   *os.File
	rc   syscall.RawConn
	efd  int // eventfd that ends an epoll_wait early
	refs int // sockets on this loop; guarded by p.mu

	quit  atomic.Bool
	sleep atomic.Int32

	mu    sync.Mutex // guards tasks and dead, and writes to efd
	tasks []pollable
	dead  bool

	// Owned by the loop goroutine.
	slots  []slot
	free   []int32
	seq    uint32
	again  []pollable // sockets with more to do next turn
	spare  []pollable
	buf    []byte // the read buffer all the loop's streams share
	events []unix.EpollEvent
	co     coalescer
	wakeFd [1]unix.PollFd // efd, for the pause's ppoll
}

func newLoop(p *poller) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: wakeSlot}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(efd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l := &loop{p: p, epfd: epfd, efd: efd, events: make([]unix.EpollEvent, maxEvents), co: newCoalescer(p.coalesce),
		wakeFd: [1]unix.PollFd{{Fd: int32(efd), Events: unix.POLLIN}}}
	if p.block {
		return l, nil
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(efd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(efd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	l.ep, l.rc = ep, rc
	return l, nil
}

// post queues p's task for the loop's next turn. An urgent post wakes the
// loop; a lazy one (a write's report) wakes it only from a sleep without a
// deadline. Posts to a loop that has ended are dropped: its sockets have
// all closed.
func (l *loop) post(p pollable, urgent bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dead {
		return
	}
	l.tasks = append(l.tasks, p)
	l.wakeLocked(urgent)
}

func (l *loop) wake(urgent bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.dead {
		l.wakeLocked(urgent)
	}
}

var one = [8]byte{1}

func (l *loop) wakeLocked(urgent bool) {
	if urgent {
		if l.sleep.Swap(awake) == awake {
			return
		}
	} else if !l.sleep.CompareAndSwap(sleeping, awake) {
		return
	}
	// EAGAIN means the counter is full: the loop is being woken anyway.
	_, _ = unix.Write(l.efd, one[:])
}

// register adds fd to the epoll set for p; loop goroutine only.
func (l *loop) register(p pollable, fd int, events uint32) (int32, uint32, error) {
	var idx int32
	if n := len(l.free); n > 0 {
		idx, l.free = l.free[n-1], l.free[:n-1]
	} else {
		idx = int32(len(l.slots))
		l.slots = append(l.slots, slot{})
	}
	l.seq++
	ev := unix.EpollEvent{Events: events, Fd: idx, Pad: int32(l.seq)}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.free = append(l.free, idx)
		return 0, 0, fmt.Errorf("epoll_ctl: %w", err)
	}
	l.slots[idx] = slot{p: p, seq: l.seq}
	return idx, l.seq, nil
}

// unregister frees a slot; the caller closes the descriptor, which takes it
// out of the epoll set. Loop goroutine only.
func (l *loop) unregister(idx int32) {
	l.slots[idx] = slot{}
	l.free = append(l.free, idx)
}

// readBuf returns the loop's read buffer cut to n bytes. It comes from the
// read buffers' pool, so that keep can hand it over whole.
func (l *loop) readBuf(n int) []byte {
	if cap(l.buf) < n {
		l.buf = getBuf(n)
		l.buf = l.buf[:cap(l.buf)]
	}
	return l.buf[:n]
}

// keep returns the n bytes just read into the loop's buffer as a buffer
// of their own for a handler to keep. When they fill more than half of the
// loop's buffer, a copy would take a buffer of the same size class: the
// loop's buffer itself is handed over and the loop takes a fresh one from
// the pool for its next read, which saves copying the bytes (the largest
// reads, those of a busy connection, are the ones that qualify).
func (l *loop) keep(n int) []byte {
	if c := classOf(n); c >= 0 && c == classOf(cap(l.buf)) {
		b := l.buf[:n]
		l.buf = nil
		return b
	}
	b := getBuf(n)
	copy(b, l.buf[:n])
	return b
}

func (l *loop) run() {
	defer l.exit()
	timeout := 0 // the first turn runs the tasks posted before the loop ran
	for {
		n, err := l.wait(timeout)
		l.sleep.Store(awake)
		if err != nil {
			// Only a bug (a closed epoll descriptor) gets here.
			panic(fmt.Sprintf("evloop: epoll_wait: %v", err))
		}
		for i := range max(n, 0) {
			ev := l.events[i]
			if ev.Fd == wakeSlot {
				var b [8]byte
				_, _ = unix.Read(l.efd, b[:])
				continue
			}
			s := l.slots[ev.Fd]
			if s.p != nil && s.seq == uint32(ev.Pad) {
				s.p.event(ev.Events)
			}
		}
		again := l.again
		l.again, l.spare = l.spare[:0], nil
		for i, p := range again {
			p.task()
			again[i] = nil
		}
		l.spare = again[:0]
		l.mu.Lock()
		tasks := l.tasks
		l.tasks = nil
		l.mu.Unlock()
		for _, p := range tasks {
			p.task()
		}
		if l.quit.Load() {
			return
		}
		busy := n > 0 || len(again) > 0 || len(tasks) > 0
		nap := false
		l.mu.Lock()
		switch {
		case len(l.tasks) > 0 || len(l.again) > 0:
			timeout = 0
		case busy:
			l.sleep.Store(napping)
			timeout, nap = napMillis, true
		default:
			l.sleep.Store(sleeping)
			timeout = -1
		}
		l.mu.Unlock()
		if nap && (l.co.turn(time.Now()) || forcePause.Load() && l.co.wait > 0) {
			l.pause()
		}
	}
}

// pause sleeps for the coalescer's pause, or less: an urgent post during
// it writes the eventfd, which ends it (the epoll_wait that follows reads
// the eventfd). Lazy posts, which do not write it while the loop naps,
// wait for the end. ppoll on the eventfd, not time.Sleep: a Go timer this
// short would fire a millisecond late once the process is idle.
func (l *loop) pause() {
	h := pauseHook.Load()
	if h != nil {
		(*h)(true)
	}
	ts := unix.NsecToTimespec(int64(l.co.wait))
	_, _ = unix.Ppoll(l.wakeFd[:], &ts, nil) // ppoll clears Revents: wakeFd is reusable
	if h != nil {
		(*h)(false)
	}
}

// Set by tests only: forcePause makes every loop pause after each busy
// turn, whatever its coalescer says (a loop without a pause, Coalesce < 0,
// still does not); pauseHook runs as a pause begins (true) and ends.
var (
	forcePause atomic.Bool
	pauseHook  atomic.Pointer[func(begin bool)]
)

// idleHook, set by tests only, runs when the loop has found nothing to do
// and is about to wait (timeout < 0: without a deadline).
var idleHook atomic.Pointer[func(timeout int)]

// wait returns the ready events, waiting up to timeout milliseconds
// (forever when negative) in epoll_wait or in Go's poller.
func (l *loop) wait(timeout int) (int, error) {
	// Look first without blocking (no system-call bookkeeping: see
	// rawsys_linux.go): a loop under load finds events here most turns.
	n, err := rawPoll(l.epfd, l.events)
	if err == unix.EINTR {
		n, err = 0, nil
	}
	if n > 0 || timeout == 0 || err != nil {
		return max(n, 0), err
	}
	if h := idleHook.Load(); h != nil {
		(*h)(timeout)
	}
	if l.ep != nil {
		return l.park(timeout)
	}
	n, err = unix.EpollWait(l.epfd, l.events, timeout)
	if err == unix.EINTR {
		return 0, nil
	}
	return max(n, 0), err
}

// park waits in Go's poller, up to timeout milliseconds (forever when
// negative), until epfd is readable, then returns the ready events. (A
// function of its own: the variables its callback sets live on the heap,
// and wait's would too.)
func (l *loop) park(timeout int) (int, error) {
	if timeout > 0 {
		_ = l.ep.SetReadDeadline(time.Now().Add(time.Duration(timeout) * time.Millisecond))
	} else {
		_ = l.ep.SetReadDeadline(time.Time{})
	}
	var n int
	var werr error
	// rc.Read clears a readiness the Go poller recorded before it calls
	// this function the first time, so that first call must look (an
	// event that arrived since the check in wait would otherwise be lost,
	// and a sleeping loop with it).
	err := l.rc.Read(func(fd uintptr) bool {
		n, werr = rawPoll(int(fd), l.events)
		return n > 0 || (werr != nil && werr != unix.EINTR)
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err == nil {
		err = werr
	}
	return max(n, 0), err
}

func (l *loop) exit() {
	l.mu.Lock()
	l.dead = true
	l.tasks = nil
	unix.Close(l.efd)
	l.mu.Unlock()
	if l.ep == nil {
		unix.Close(l.epfd)
		return
	}
	l.ep.Close() // closes epfd
}
