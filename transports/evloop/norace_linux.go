//go:build !race

package evloop

// raceBuild: built with the race detector (see rawsys_linux.go).
const raceBuild = false
