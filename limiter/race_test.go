//go:build race

package limiter

// raceEnabled scales the heaviest tests down under the race detector, which
// makes every atomic operation ~50× slower.
const raceEnabled = true
