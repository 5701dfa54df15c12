//go:build !race

package bench

import "testing"

// TestUpstreamH2CAllocs pins the steady-state allocations of an h2c GET
// (HEADERS in, HEADERS + DATA out) at zero.
func TestUpstreamH2CAllocs(t *testing.T) {
	b := newH2BenchConn(t, UpstreamConfig{BodySize: 12})
	for range 10 { // warm the stream and exchange pools
		b.request(t)
	}
	if a := testing.AllocsPerRun(1000, func() { b.request(t) }); a != 0 {
		t.Errorf("%v allocs per h2c request, want 0", a)
	}
}
