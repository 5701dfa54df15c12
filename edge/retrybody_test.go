package edge

import (
	"bytes"
	"testing"
)

func TestRetryBodyCopyBounds(t *testing.T) {
	lp := &loop{}
	rt := &route{retryAttempts: 1, retryOn: retry503}
	newCC := func(kind int, left int64, idempotent bool) *clientConn {
		cc := &clientConn{lp: lp, rt: rt, bodyKind: kind, bodyLeft: left, idempotent: idempotent,
			retriesLeft: rt.retryAttempts, uc: &upConn{dead: true}}
		cc.startBodyCopy()
		return cc
	}
	cases := []struct {
		name      string
		kind      int
		left      int64
		idem      bool
		wantCopy  bool
		attempts  int
		retryKind retryMask
	}{
		{"small PUT", bodyLength, 1000, true, true, 1, retry503},
		{"chunked PUT", bodyChunked, 0, true, true, 1, retry503},
		{"PUT at the bound", bodyLength, retryBodyMax, true, true, 1, retry503},
		{"PUT over the bound", bodyLength, retryBodyMax + 1, true, false, 1, retry503},
		{"POST", bodyLength, 1000, false, false, 1, retry503},
		{"no body", bodyNone, 0, true, false, 1, retry503},
		// Copied for the keep-alive race's resend until the connection
		// turns out fresh (dropUnneededCopy, below).
		{"no retries", bodyLength, 1000, true, true, 0, retry503},
		{"connect failure only", bodyLength, 1000, true, true, 1, retryConnectFailure},
	}
	for _, c := range cases {
		rt.retryAttempts, rt.retryOn = c.attempts, c.retryKind
		cc := newCC(c.kind, c.left, c.idem)
		if cc.copying != c.wantCopy {
			t.Errorf("%s: copying %v, want %v", c.name, cc.copying, c.wantCopy)
		}
		if got := cc.bodyResendable(); got != (c.wantCopy || c.kind == bodyNone) {
			t.Errorf("%s: resendable %v", c.name, got)
		}
		cc.dropBodyCopy()
		if lp.retryCopyBytes != 0 {
			t.Fatalf("%s: %d bytes still reserved after the drop", c.name, lp.retryCopyBytes)
		}
	}

	// The keep-alive race's copy goes at once on a fresh connection of a
	// route without retries that need it; a reused connection (the race
	// is possible) or such retries keep it.
	rt.retryAttempts, rt.retryOn = 0, 0
	fresh := newCC(bodyLength, 100, true)
	fresh.dropUnneededCopy()
	reused := newCC(bodyLength, 100, true)
	reused.uc = &upConn{reused: true}
	reused.dropUnneededCopy()
	rt.retryAttempts, rt.retryOn = 1, retry503
	retrying := newCC(bodyLength, 100, true)
	retrying.dropUnneededCopy()
	if fresh.copying || !reused.copying || !retrying.copying {
		t.Fatalf("after the connection: fresh %v, reused %v, retrying %v; want false, true, true", fresh.copying, reused.copying, retrying.copying)
	}
	reused.dropBodyCopy()
	retrying.dropBodyCopy()

	// A chunked body growing past the bound loses its copy and with it
	// the retry.
	rt.retryAttempts, rt.retryOn = 1, retry503
	cc := newCC(bodyChunked, 0, true)
	part := bytes.Repeat([]byte("x"), 16<<10)
	for i := 0; i < 4; i++ {
		cc.sendBody(part)
	}
	if !cc.copying || len(cc.bodyCopy) != 64<<10 {
		t.Fatalf("64 KiB sent: copying %v with %d bytes", cc.copying, len(cc.bodyCopy))
	}
	cc.sendBody([]byte("y"))
	if cc.copying || cc.bodyResendable() || lp.retryCopyBytes != 0 {
		t.Fatalf("past the bound: copying %v, reserved %d", cc.copying, lp.retryCopyBytes)
	}

	// The loop's budget: copies past retryCopyLoopMax are not made, and a
	// dropped copy makes room again (its buffer is reused).
	var held []*clientConn
	for i := 0; i < retryCopyLoopMax/retryBodyMax; i++ {
		cc := newCC(bodyLength, 10, true)
		if !cc.copying {
			t.Fatalf("copy %d refused under the budget", i)
		}
		held = append(held, cc)
	}
	if cc := newCC(bodyLength, 10, true); cc.copying {
		t.Fatal("a copy over the loop's budget was made")
	}
	held[0].sendBody([]byte("abc"))
	held[0].dropBodyCopy()
	if cc := newCC(bodyLength, 10, true); !cc.copying || len(cc.bodyCopy) != 0 || cap(cc.bodyCopy) == 0 {
		t.Fatalf("after a drop: copying %v, reused buffer len %d cap %d", cc.copying, len(cc.bodyCopy), cap(cc.bodyCopy))
	}
}
