//go:build integration

package test

import (
	"math"
	"testing"
)

// TestSplitCanary: a split route sends each request to one upstream by
// weight (95/5 here), and both receive traffic.
func TestSplitCanary(t *testing.T) {
	stable, canary := namedUpstream(t, "stable", 0), namedUpstream(t, "canary", 0)
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: stable
    targets: [{address: "`+stable.addr()+`"}]
  - name: canary
    targets: [{address: "`+canary.addr()+`"}]
routes:
  - name: orders
    match: {path_prefix: /}
    split:
      - {upstream: stable, weight: 95}
      - {upstream: canary, weight: 5}
`)
	const n = 2000
	got := countServed(t, "http://"+g.addr, n, nil)
	if got["stable"]+got["canary"] != n {
		t.Fatalf("served %v", got)
	}
	// 5% of 2000 = 100, sd ≈ 9.7: ±40 is over 4 sd.
	if math.Abs(float64(got["canary"])-100) > 40 {
		t.Errorf("canary got %d of %d, want about 100", got["canary"], n)
	}
}
