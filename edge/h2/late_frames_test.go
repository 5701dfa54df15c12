package h2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
)

// Frames a client sends on a stream our final GOAWAY left out (its id is
// above the GOAWAY's last stream id) are dropped without a reply (RFC 9113
// §6.8): no RST_STREAM per DATA frame charged to the reset budget, no
// connection error for its trailers, and the streams below the last id
// complete. A later GOAWAY never raises the last stream id.
func TestFramesPastFinalGoAwayIgnored(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/")...)
	cl.fr.WriteData(1, false, []byte("part1"))
	cl.sync()
	s1, st1 := cl.app.last.ID(), cl.app.last.Data.(*appState)
	cl.c.GoAway(false)
	if ga := cl.expectGoAway(); ga.LastStreamID != 1 {
		t.Fatalf("final GOAWAY last stream id %d, want 1", ga.LastStreamID)
	}

	// The client sent these before it saw the GOAWAY. 300 DATA frames are
	// more than the reset budget (20/s over 10 s) if each provoked a reset.
	cl.headers(3, false, reqFields("POST", "/echo")...)
	chunk := bytes.Repeat([]byte("x"), 1000)
	for range 300 {
		cl.fr.WriteData(3, false, chunk)
	}
	cl.headers(3, true, "x-t", "1")
	cl.fr.WriteData(1, true, []byte("part2"))
	cl.sync()
	if cl.err != nil {
		t.Fatalf("connection ended over frames on an ignored stream: %v", cl.err)
	}
	res, other := cl.collect(1)
	if r := res[1]; r.status != "200" || r.reset {
		t.Fatalf("stream 1 below the last stream id: %v, want 200", r)
	}
	if got := st1.body.String(); s1 != 1 || got != "part1part2" {
		t.Fatalf("stream %d got body %q, want stream 1 with part1part2", s1, got)
	}
	for _, f := range other {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Errorf("RST_STREAM(%v) on stream %d past the final GOAWAY", f.ErrCode, f.StreamID)
		case *http2.GoAwayFrame:
			t.Errorf("second GOAWAY(last %d, %v)", f.LastStreamID, f.ErrCode)
		}
	}

	// A connection error after the final GOAWAY must not name stream 3 as
	// possibly processed.
	cl = newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/")...)
	cl.sync()
	cl.c.GoAway(false)
	cl.expectGoAway()
	cl.headers(3, false, reqFields("POST", "/")...)
	cl.fr.AllowIllegalWrites = true
	cl.fr.WriteData(0, false, []byte("x")) // DATA on stream 0: PROTOCOL_ERROR
	cl.sync()
	if ga := cl.expectGoAway(); ga.LastStreamID != 1 || ga.ErrCode != http2.ErrCodeProtocol {
		t.Fatalf("GOAWAY after the final one: last %d %v, want last 1 PROTOCOL_ERROR", ga.LastStreamID, ga.ErrCode)
	}
}

// A burst of streams refused past the concurrency limit can outnumber the
// ring of reset ids; their trailers, in flight when the refusals went out,
// are still dropped rather than read as a reused stream id, which ended
// the connection and the accepted streams with it.
func TestRefusedBurstTrailersIgnored(t *testing.T) {
	cl := newClient(t, Config{MaxConcurrentStreams: 4})
	cl.handshake()
	const streams = 45 // 4 accepted, 41 refused: more than the ring's 32
	for i := range streams {
		id := uint32(2*i + 1)
		cl.headers(id, false, reqFields("POST", "/")...)
		cl.fr.WriteData(id, false, []byte("abc"))
	}
	for i := range streams {
		cl.headers(uint32(2*i+1), true, "x-t", "1")
	}
	cl.sync()
	if cl.err != nil {
		t.Fatalf("connection ended: %v", cl.err)
	}
	res, other := cl.collect(1, 3, 5, 7)
	for id, r := range res {
		if r.status != "200" || r.reset {
			t.Errorf("accepted stream %d: %v, want 200", id, r)
		}
	}
	refused := 0
	for _, f := range other {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.ErrCode != http2.ErrCodeRefusedStream {
				t.Errorf("RST_STREAM(%v) on stream %d, want REFUSED_STREAM only", f.ErrCode, f.StreamID)
			}
			refused++
		case *http2.GoAwayFrame:
			t.Errorf("GOAWAY(%v, %q)", f.ErrCode, f.DebugData())
		}
	}
	if refused != streams-4 {
		t.Errorf("%d streams refused, want %d", refused, streams-4)
	}
}

// Padding counts against flow control but never reaches the owner, so its
// credit comes back at once: a stream whose owner holds the body
// unconsumed (waiting for more of it) must not spend its window on padding
// and stall.
func TestPaddingCreditReturnedUnconsumed(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/noconsume", "content-length", "100000")...)
	pad := make([]byte, 255)
	frames := int(DefaultInitialWindowSize)/256 + 500 // past the window if padding were kept
	for range frames {
		cl.fr.WriteDataPadded(1, false, []byte("x"), pad)
	}
	cl.sync()
	if cl.err != nil {
		t.Fatalf("connection ended: %v", cl.err)
	}
	updates := 0
	for {
		f, err := cl.read()
		if err != nil {
			break
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Fatalf("RST_STREAM(%v) on stream %d after %d padded frames", f.ErrCode, f.StreamID, frames)
		case *http2.WindowUpdateFrame:
			if f.StreamID == 1 {
				updates++
			}
		}
	}
	if updates == 0 {
		t.Fatal("no stream WINDOW_UPDATE for padding")
	}
	if got := cl.app.last.Data.(*appState).got; got != frames {
		t.Fatalf("owner got %d body bytes, want %d", got, frames)
	}
}
