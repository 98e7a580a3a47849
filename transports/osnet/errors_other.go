//go:build !unix && !windows

package osnet

// sentinel maps an OS error to the transports error; unknown on this
// platform.
func sentinel(error) error { return nil }

func transientRecv(error) bool { return false }

const msgTrunc = 0

func truncatedErr(error) bool { return false }
