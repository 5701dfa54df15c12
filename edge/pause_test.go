package edge

import (
	"testing"
	"time"
)

// fakeDownstream is a client side whose queued answer the test sets.
type fakeDownstream struct{ out int }

func (f *fakeDownstream) Peek(int) ([]byte, error)    { return nil, nil }
func (f *fakeDownstream) Discard(n int) (int, error)  { return n, nil }
func (f *fakeDownstream) InboundBuffered() int        { return 0 }
func (f *fakeDownstream) Write(b []byte) (int, error) { return len(b), nil }
func (f *fakeDownstream) OutboundBuffered() int       { return f.out }
func (f *fakeDownstream) Close() error                { return nil }

// TestClientStalled: a paused answer's client is stalled once its queue
// has not shrunk for the whole timeout; any shrinking restarts the wait.
func TestClientStalled(t *testing.T) {
	start := time.Unix(1000, 0)
	lp := &loop{clock: start, clockValid: true}
	ds := &fakeDownstream{out: 2 << 20}
	cc := &clientConn{lp: lp, gc: ds}
	uc := &upConn{}
	at := func(d time.Duration) { lp.clock = start.Add(d) }
	const timeout = time.Minute

	for _, step := range []struct {
		at      time.Duration
		out     int
		stalled bool
	}{
		{0, 2 << 20, false},                      // first look: the wait starts
		{59 * time.Second, 2 << 20, false},       // nothing read, not yet a minute
		{61 * time.Second, 2<<20 - 1, false},     // one byte read: the wait restarts
		{120 * time.Second, 2<<20 - 1, false},    // 59 s since
		{121 * time.Second, 2<<20 - 1, true},     // a minute without a byte
		{122 * time.Second, 2<<20 - 4096, false}, // it reads again
	} {
		at(step.at)
		ds.out = step.out
		if got := cc.clientStalled(uc, timeout); got != step.stalled {
			t.Fatalf("at %v with %d queued: stalled %v, want %v", step.at, step.out, got, step.stalled)
		}
	}
	if got := sendStallTimeout(time.Second); got != time.Minute {
		t.Fatalf("sendStallTimeout(1s) = %v, want a minute at least", got)
	}
	if got := sendStallTimeout(5 * time.Minute); got != 5*time.Minute {
		t.Fatalf("sendStallTimeout(5m) = %v", got)
	}
}
