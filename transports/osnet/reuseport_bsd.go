//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package osnet

import "syscall"

const soReusePort = syscall.SO_REUSEPORT
