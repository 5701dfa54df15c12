package edge

// Request bodies kept for a retry.
//
// Bodies are streamed upstream as they arrive and never held whole (DESIGN
// principle 8), so a request whose body has left cannot be sent again from
// the client's bytes. Routes that retry on reset, 502, 503 or 504 would then
// never retry a PUT or DELETE with a body, where Envoy and nginx do (both
// buffer such bodies). A small copy closes that gap within the memory
// bound: an idempotent request on a route with such retries keeps a copy of
// the body bytes it sends, as framed upstream, while they total at most
// retryBodyMax; past that the copy is dropped and the request is no longer
// retried (Envoy does the same past its buffer limit). The copy goes as
// soon as the response begins or the exchange ends.
//
// The keep-alive race (an upstream closing an idle connection just as it
// is reused, upstream.go) resends an idempotent request once on a fresh
// connection whatever the route's retries, as nginx does for PUT and
// DELETE with their buffered bodies: so every idempotent request with a
// small body starts a copy, and one that goes out on a fresh connection of
// a route without such retries drops it at once (dropUnneededCopy).
//
// Copies are bounded per loop too (retryCopyLoopMax, reserved at
// retryBodyMax each), so many HTTP/2 streams or connections uploading at
// once cannot turn the copies into unbounded memory: past the budget a
// request simply is not retryable, as one with a large body is not.

const (
	retryBodyMax     = 64 << 10
	retryCopyLoopMax = 32 << 20
	// retryCopyFree is how many emptied copy buffers a loop keeps for reuse.
	retryCopyFree = 16
)

// retryKindsNeedingCopy are the retry conditions that can fire after the
// body has left; a failed connect sends nothing and keeps its own carry.
const retryKindsNeedingCopy = retryReset | retry502 | retry503 | retry504

// startBodyCopy decides, as the request goes upstream, whether its body is
// kept for a retry.
func (cc *clientConn) startBodyCopy() {
	if cc.bodyKind == bodyNone || !cc.idempotent {
		return
	}
	if cc.bodyKind == bodyLength && cc.bodyLeft > retryBodyMax {
		return // cannot fit: not worth copying the first part
	}
	lp := cc.lp
	if lp.retryCopyBytes+retryBodyMax > retryCopyLoopMax {
		return
	}
	lp.retryCopyBytes += retryBodyMax
	if n := len(lp.retryCopies); n > 0 {
		cc.bodyCopy = lp.retryCopies[n-1][:0]
		lp.retryCopies = lp.retryCopies[:n-1]
	} else {
		cc.bodyCopy = make([]byte, 0, 4<<10)
	}
	cc.copying = true
}

// retriesNeedCopy: the route retries on a condition that can fire after
// the body has left.
func (cc *clientConn) retriesNeedCopy() bool {
	return cc.retriesLeft > 0 && cc.rt.retryOn&retryKindsNeedingCopy != 0
}

// dropUnneededCopy runs once the request has its upstream connection: a
// fresh one cannot meet the keep-alive race, so without retries that need
// it the copy goes before any byte is copied.
func (cc *clientConn) dropUnneededCopy() {
	if cc.copying && cc.uc != nil && !cc.uc.reused && !cc.retriesNeedCopy() {
		cc.dropBodyCopy()
	}
}

// sendBody writes request body bytes (already framed for the upstream) to
// the upstream connection and to the retry copy.
//
// The copy is taken first: should the write find the connection gone and
// a retry start from inside it, the retry resends these bytes too.
func (cc *clientConn) sendBody(b []byte) {
	uc := cc.uc
	if cc.copying {
		if len(cc.bodyCopy)+len(b) > retryBodyMax {
			cc.dropBodyCopy()
		} else {
			cc.bodyCopy = append(cc.bodyCopy, b...)
		}
	}
	if uc != nil {
		uc.write(b)
	}
}

// resendBody writes the copy to a new upstream connection (a retry).
func (cc *clientConn) resendBody(uc *upConn) {
	if cc.copying && len(cc.bodyCopy) > 0 {
		uc.write(cc.bodyCopy)
	}
}

// bodyResendable: the request has no body, or all of it sent so far is in
// the copy.
func (cc *clientConn) bodyResendable() bool {
	return cc.bodyKind == bodyNone || cc.copying
}

// resendable: the request may be sent again after its connection failed
// before any answer (the keep-alive race): an idempotent method whose body,
// if any, is all in the copy. A POST is never replayed: the upstream may
// have acted on it before it closed.
func (cc *clientConn) resendable() bool {
	return cc.idempotent && cc.bodyResendable()
}

// dropBodyCopy gives the copy back to the loop. Idempotent.
func (cc *clientConn) dropBodyCopy() {
	if !cc.copying {
		return
	}
	lp := cc.lp
	lp.retryCopyBytes -= retryBodyMax
	if len(lp.retryCopies) < retryCopyFree && cap(cc.bodyCopy) <= retryBodyMax {
		lp.retryCopies = append(lp.retryCopies, cc.bodyCopy[:0])
	}
	cc.bodyCopy, cc.copying = nil, false
}
