package evloop

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The system calls a loop makes on its non-blocking descriptors, without
// the runtime's system-call bookkeeping. unix.Read, unix.Write and
// unix.EpollWait go through syscall.Syscall, which tells the scheduler the
// thread may block (entersyscall/exitsyscall), and sysmon may then hand
// the thread's P to another thread and the call's return must take one
// back. A read or write of a non-blocking socket, or an epoll_wait with a
// zero timeout, cannot block, so these use RawSyscall, as the runtime's
// own poller does for its non-blocking epoll_wait. x/sys/unix offers no
// such variants, hence these few lines. The blocking epoll_wait of a loop
// that sleeps keeps unix.EpollWait. On sockets the reads and writes are
// recvfrom(2) and sendto(2) with no address: they go to the socket layer
// straight, where read(2) and write(2) pass through the file layer first
// (permission and range checks, fsnotify); measured against the same build
// with read and write, 4-5% less server CPU per HTTP request and 4-11%
// per 4 KiB echo message. (So /proc/PID/io, which counts only the
// read/write family, does not see a loop's socket traffic.)
//
// A raw call holds its P until it returns (a stop-the-world waits for it),
// so only calls of up to rawMax bytes are raw: copying more than that
// costs far more than the bookkeeping saved, and a large write on loopback
// also runs the receiver's side of the stack.
//
// Built with the race detector they are x/sys/unix's calls: those tell the
// detector what the kernel read and wrote (the buffers, and the order a
// write on one socket and a read on another give), which a raw call would
// hide. make test also runs this package's tests without it.

// rawMax is the largest read or write made as a raw call.
const rawMax = 64 << 10

// rawRead is unix.Read for a non-blocking descriptor.
func rawRead(fd int, p []byte) (int, error) {
	if raceBuild || len(p) > rawMax {
		return unix.Read(fd, p)
	}
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawRecv is rawRead for a socket: recvfrom(2) without an address, which
// skips the file layer's part of read(2) (position lock, range checks).
func rawRecv(fd int, p []byte) (int, error) {
	if raceBuild || len(p) > rawMax {
		return unix.Read(fd, p)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawSend is rawWrite for a socket: sendto(2) without an address, which
// skips the file layer's part of write(2), with MSG_NOSIGNAL (a write to a
// reset connection fails with EPIPE without a SIGPIPE to field).
func rawSend(fd int, p []byte) (int, error) {
	if raceBuild || len(p) > rawMax {
		return unix.Write(fd, p)
	}
	r, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), unix.MSG_NOSIGNAL, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawWrite is unix.Write for a non-blocking descriptor.
func rawWrite(fd int, p []byte) (int, error) {
	if raceBuild || len(p) > rawMax {
		return unix.Write(fd, p)
	}
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// rawPoll is unix.EpollWait with a zero timeout: the events ready now.
func rawPoll(epfd int, events []unix.EpollEvent) (int, error) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(unsafe.SliceData(events))), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}
