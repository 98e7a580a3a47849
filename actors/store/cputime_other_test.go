//go:build !unix

package store_test

import "time"

// cpuTime is zero where getrusage is missing: the CPU figures then read 0.
func cpuTime() time.Duration { return 0 }
