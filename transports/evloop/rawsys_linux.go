package evloop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls a loop makes most: a socket's reads and writes and the
// look for ready events, made without the runtime's system-call
// bookkeeping. unix.Read, unix.Write and unix.EpollWait go through
// syscall.Syscall, which tells the scheduler the thread may block
// (entersyscall/exitsyscall), and sysmon may then hand the thread's P to
// another thread and the call's return must take one back. A read or write
// of a non-blocking socket, or an epoll_wait with a zero timeout, cannot
// block, so these use RawSyscall, as the runtime's own poller does for its
// non-blocking epoll_wait. x/sys/unix offers no such variants, hence these
// few lines. The blocking epoll_wait of a loop that sleeps, and the
// eventfd that wakes it, keep x/sys/unix's calls.
//
// The reads and writes are recvfrom(2) and sendto(2) with no address: they
// go to the socket layer straight, where read(2) and write(2) pass through
// the file layer first (permission and range checks, fsnotify); measured
// against the same build with read and write, 4-5% less server CPU per
// HTTP request and 4-11% per 4 KiB echo message. (So /proc/PID/io, which
// counts only the read/write family, does not see a loop's socket
// traffic.)
//
// A raw call holds its P until it returns (a stop-the-world waits for it),
// so only calls of up to rawMax bytes are raw: copying more than that
// costs far more than the bookkeeping saved, and a large write on loopback
// also runs the receiver's side of the stack.
//
// Built with the race detector they are x/sys/unix's read and write: those
// tell the detector what the kernel read and wrote (the buffers, and the
// order a write on one socket and a read on another give), which a raw
// call would hide. make test also runs every test without it.

// rawMax is the largest read or write made as a raw call.
const rawMax = 64 << 10

// rawRecv reads from a non-blocking socket: recvfrom(2), without an
// address.
func rawRecv(fd int, p []byte) (int, error) {
	if raceBuild || len(p) > rawMax {
		return unix.Read(fd, p)
	}
	return rawCall(unix.SYS_RECVFROM, fd, unsafe.Pointer(unsafe.SliceData(p)), len(p), 0)
}

// rawSend writes to a non-blocking socket: sendto(2), without an address,
// with MSG_NOSIGNAL (a write to a reset connection fails with EPIPE
// without a SIGPIPE to field).
func rawSend(fd int, p []byte) (int, error) {
	if raceBuild || len(p) > rawMax {
		return unix.Write(fd, p)
	}
	return rawCall(unix.SYS_SENDTO, fd, unsafe.Pointer(unsafe.SliceData(p)), len(p), unix.MSG_NOSIGNAL)
}

// rawPoll is unix.EpollWait with a zero timeout: the events ready now.
func rawPoll(epfd int, events []unix.EpollEvent) (int, error) {
	return rawCall(unix.SYS_EPOLL_PWAIT, epfd, unsafe.Pointer(unsafe.SliceData(events)), len(events), 0)
}

// rawCall makes system call trap(fd, buf, n, arg, 0, 0) as a raw call and
// returns its result as x/sys/unix does: -1 and the errno on failure.
func rawCall(trap uintptr, fd int, buf unsafe.Pointer, n int, arg uintptr) (int, error) {
	r, _, e := unix.RawSyscall6(trap, uintptr(fd), uintptr(buf), uintptr(n), arg, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
