//go:build !race

package h2

import "testing"

// TestGETAllocs pins the steady-state allocations of a GET (Feed,
// WriteHeaders, WriteData) at zero.
func TestGETAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	res := testing.Benchmark(BenchmarkGET)
	if a := res.AllocsPerOp(); a != 0 {
		t.Fatalf("%d allocs per GET, want 0", a)
	}
}
