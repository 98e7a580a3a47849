//go:build unix && !(darwin || dragonfly || freebsd || netbsd || openbsd)

package osnet

// soReusePort is zero where SO_REUSEADDR alone lets UDP sockets share a
// port (Linux: SO_REUSEPORT would also balance unicast between them).
const soReusePort = 0
