// Package evloop is an event-loop backend for transports.Network: on Linux,
// TCP streams and listeners are driven by a few epoll loops (by default one
// per two Ps, at least one) instead of a reader and a writer goroutine per
// socket, as MicroStack's own chain does it. With fewer loops than Ps a
// loop's goroutine blocks its thread in epoll_wait; with as many (one P, or
// Options.Loops set so) it waits for its epoll descriptor in Go's own
// network poller, parked like any goroutine blocked on a socket. Which is
// cheaper depends on that count; Options.Loops has the figures. Under load
// a loop may pause a moment between turns so that its reads gather more
// bytes, while that measurably pays (Options.Coalesce). A loop looks for
// ready events without blocking before it waits, and its reads, writes and
// that look are raw system calls, which the Go scheduler is not told about:
// none of them can block; on sockets they are recvfrom and sendto, which
// skip the file layer (rawsys_linux.go says what each saves).
//
// What a socket costs. An idle connection holds its descriptor, one small
// struct (about 250 bytes) and one slot in its loop's table: no goroutine
// and no buffer (0.44 KiB of RSS per idle connection with a minimal echo
// handler, measured at 19,000 connections by tests/perf). A read borrows
// the loop's one read buffer and hands the handler a pooled copy the size
// of what arrived (the buffer itself when the read filled most of it, the
// loop taking another from the pool; and lent, not copied, to a
// transports.Borrower, which is done with it when OnData returns); a
// write is tried at once from
// the caller's goroutine, straight from the caller's slice, and only what
// the kernel did not take is kept (the slice itself, not a copy) until the
// socket is writable again. Nothing here limits the number of connections
// but the process's descriptor limit.
//
// Events. Handlers are called from the loop goroutine that owns the socket,
// never from inside a method of the socket, so a handler may call any
// method and a caller may hold its own locks around a method call. Writes
// made from other goroutines are reported by OnWritten from the loop at its
// next turn: at once when the loop is busy, and within about a millisecond
// when it is idle (the loop does not wake for every write; see Options).
//
// What is not event-driven. TLS streams (DialOptions.TLS, ListenOptions.TLS),
// packet sockets, the interface list and its watch are served by the
// portable backend (transports/osnet), with its goroutines; on systems
// other than Linux the whole Network is that backend (see Supported).
//
// A loop's goroutine and its epoll descriptor exist only while the loop has
// sockets: the last socket's close ends them, so no goroutine or descriptor
// outlives the sockets it serves.
package evloop
