// Package cputime reads the CPU time the process has used, for the
// benchmarks that compare CPU per operation of two sides run in one
// process (the store's and the WebRTC actors' against raw badger and pion).
package cputime

import "time"

// Process returns the user plus system CPU time the process has used so
// far, or zero where the system cannot tell (then every CPU figure reads
// zero). Only differences between two readings mean anything.
func Process() time.Duration { return process() }
