//go:build race

package soak

// The race detector slows the actors about tenfold while the simulated
// clock keeps its pace, so CI's race run uses a smaller fleet by default;
// the flags still choose.
func init() { raceFleet = true }
