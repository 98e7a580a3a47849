//go:build !unix && !windows

package osnet

func transientRecv(error) bool { return false }

const msgTrunc = 0

func truncatedErr(error) bool { return false }
