//go:build race

package bench

// raceEnabled: under the race detector TestH2RatePacing checks that every
// request is answered without error, but not the send rate. The detector
// slows the HTTP/2 server and the generator 5-20x, and `make test-race` runs
// a sibling package's tests on the other core: stalls of hundreds of
// milliseconds then hold all 40 stream slots, and the rate measures the
// machine, not the pacer. `make test-unit` checks the rate without it.
const raceEnabled = true
