//go:build !unix && !windows

package oserr

// sentinel maps an OS error to the transports error; unknown on this
// platform.
func sentinel(error) error { return nil }
