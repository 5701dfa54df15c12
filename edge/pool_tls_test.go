package edge

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/portico-gw/portico/edge/timewheel"
)

// A reload that changes an upstream's TLS settings flushes its pools once;
// a request still running on the older snapshot that picks a target
// afterwards must not turn the pool back (closing the connections made
// under the current settings), nor may the next current request flush
// again.
func TestPoolTLSGenerationOnlyMovesForward(t *testing.T) {
	lp := &loop{s: &Server{}, pools: map[poolKey]*hostPool{}, wheel: timewheel.New(time.Millisecond, 64), clock: time.Unix(1000, 0), clockValid: true}
	addr := "127.0.0.1:1"
	oldCfg, newCfg := &tls.Config{ServerName: "old"}, &tls.Config{ServerName: "new"}
	oldU := &upstreamRT{gen: 1, name: "app", maxIdle: 8, tlsConfigs: map[string]*tls.Config{addr: oldCfg}}
	newU := &upstreamRT{gen: 2, name: "app", maxIdle: 8, tlsConfigs: map[string]*tls.Config{addr: newCfg}}
	hp := lp.pool(oldU, addr)
	stale := &upConn{hp: hp, tlsCfg: oldCfg}
	stale.timer.Init(stale)
	hp.idle = append(hp.idle, stale)

	lp.pool(newU, addr) // the reload's first request: flush
	if !stale.dead || len(hp.idle) != 0 || hp.tlsCfg != newCfg {
		t.Fatalf("after the reload: stale dead=%v idle=%d cfg=%s", stale.dead, len(hp.idle), hp.tlsCfg.ServerName)
	}
	var current []*upConn
	for i := 0; i < 3; i++ {
		uc := &upConn{hp: hp, tlsCfg: newCfg}
		uc.timer.Init(uc)
		hp.idle = append(hp.idle, uc)
		current = append(current, uc)
	}
	lp.pool(oldU, addr) // an old-snapshot request picks after the reload
	lp.pool(newU, addr)
	for i, uc := range current {
		if uc.dead {
			t.Errorf("connection %d made under the current settings was discarded", i)
		}
	}
	if hp.tlsCfg != newCfg || len(hp.idle) != 3 {
		t.Fatalf("pool cfg=%s idle=%d, want new and 3", hp.tlsCfg.ServerName, len(hp.idle))
	}
}
