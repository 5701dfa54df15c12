package edge

import (
	"testing"
	"time"

	"github.com/portico-gw/portico/edge/h2"
	"github.com/portico-gw/portico/edge/timewheel"
)

// An HTTP/2 connection pools the stream conns of finished streams, without
// the large buffers they grew, not more than poolMax, and not those left
// unused for a whole trim period: an idle connection that once ran 64
// streams with big answers kept 2-3 MiB of their buffers for as long as
// it lived.
func TestH2StreamConnPoolBounded(t *testing.T) {
	lp := &loop{wheel: timewheel.New(tickInterval, 512)}
	h := &h2Conn{lp: lp}
	h.sc = h2.NewServerConn(h2.Config{}, h)
	h.ptimer.Init(h)
	newCC := func(buf int) *clientConn {
		cc := &clientConn{lp: lp}
		cc.gc = &streamIO{h: h, cc: cc, head: make([]byte, 0, buf)}
		return cc
	}
	clock := lp.now()
	period := func() {
		clock = clock.Add(poolTrimEvery + time.Second)
		lp.clock = clock
		lp.wheel.Advance(clock.UnixNano())
	}

	big := newCC(pooledBufMax + 1)
	h.release(big)
	if sio := big.gc.(*streamIO); sio.head != nil {
		t.Fatalf("a finished stream conn kept a %d-byte buffer", cap(sio.head))
	}
	for range poolMax + 9 {
		h.release(newCC(4 << 10))
	}
	if len(h.free) != poolMax {
		t.Fatalf("%d pooled, want poolMax %d", len(h.free), poolMax)
	}

	// A busy connection keeps what it uses: 8 taken and given back every
	// period survive every trim.
	taken := make([]*clientConn, 8)
	for round := range 3 {
		for i := range taken {
			taken[i] = h.streamConn(nil)
		}
		for _, cc := range taken {
			h.release(cc)
		}
		period()
		if round > 0 && len(h.free) != len(taken) {
			t.Fatalf("round %d: %d pooled, want the %d in use", round, len(h.free), len(taken))
		}
	}

	// Idle: everything goes within two periods, and the timer stops.
	period()
	period()
	if len(h.free) != 0 || h.ptimer.Pending() {
		t.Fatalf("idle connection keeps %d pooled stream conns (timer pending %v)", len(h.free), h.ptimer.Pending())
	}
}
