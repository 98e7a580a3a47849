//go:build race

package reliability

// raceEnabled is true in a -race build, where every allocation also costs
// the race detector's shadow memory, which debug.FreeOSMemory does not give
// back: RSS bounds are scaled for it.
const raceEnabled = true
