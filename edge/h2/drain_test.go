package h2

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// drainFrames reads what the server sent, failing on a GOAWAY or on a
// RST_STREAM for id, and returns the WINDOW_UPDATE increments it granted
// to stream id and to the connection.
func (cl *client) drainFrames(id uint32) (streamInc, connInc uint32) {
	cl.t.Helper()
	for range 100000 {
		f, err := cl.read()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			cl.t.Fatalf("GOAWAY %v (feed err %v)", f.ErrCode, cl.err)
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				cl.t.Fatalf("RST_STREAM %v on stream %d", f.ErrCode, id)
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == id {
				streamInc += f.Increment
			} else if f.StreamID == 0 {
				connInc += f.Increment
			}
		}
	}
	return
}

// readResponseEnd reads frames up to the END_STREAM of stream id and
// returns the status and the window the server granted (stream and
// connection) before it.
func (cl *client) readResponseEnd(id uint32) (status string, streamInc, connInc uint32) {
	cl.t.Helper()
	for range 100000 {
		f := cl.next()
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id {
				status = f.PseudoValue("status")
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == id {
				streamInc += f.Increment
			} else if f.StreamID == 0 {
				connInc += f.Increment
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				cl.t.Fatalf("RST_STREAM %v before END_STREAM", f.ErrCode)
			}
		case *http2.GoAwayFrame:
			cl.t.Fatalf("GOAWAY %v", f.ErrCode)
		}
		if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
			return
		}
	}
	cl.t.Fatal("no END_STREAM")
	return
}

// TestEarlyResponseDrainsBody: a response completed before the request
// body (an early 413) leaves the stream open; the rest of the body is
// dropped and the client's END_STREAM closes the stream with no
// RST_STREAM at all (curl 7.88 loses the response on one). The window the
// rest needs is granted before END_STREAM, since curl 7.88 reads nothing
// after it.
func TestEarlyResponseDrainsBody(t *testing.T) {
	// Small windows: the body below is 8 stream windows, 4 connection ones.
	cl := newClient(t, Config{InitialWindowSize: 64 << 10, ConnWindowSize: 128 << 10})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/early", "content-length", "524288")...)
	cl.sync()
	status, si, ci := cl.readResponseEnd(1)
	if status != "413" || si != 512<<10-64<<10 || ci != 512<<10-128<<10 {
		t.Fatalf("status %s, granted stream %d, connection %d before END_STREAM", status, si, ci)
	}
	if st := cl.c.Stats(); st.Active != 0 || st.Draining != 1 || cl.c.Active() != 0 {
		t.Fatalf("after the response: %+v", st)
	}
	chunk := bytes.Repeat([]byte("d"), 16<<10)
	var streamInc, connInc uint32
	for i := range 32 {
		cl.fr.WriteData(1, i == 31, chunk)
		cl.sync()
		si, ci := cl.drainFrames(1)
		streamInc += si
		connInc += ci
		if cl.err != nil {
			t.Fatalf("frame %d: %v", i, cl.err)
		}
	}
	st := cl.c.Stats()
	if st.Draining != 0 || cl.c.active != 0 || st.DiscardedBytes != 512<<10 || st.ResetsSent != 0 {
		t.Fatalf("after END_STREAM: %+v (active %d)", st, cl.c.active)
	}
	// No stream credit while draining; the connection gets back what was
	// not granted ahead, so its window ends where it started (128 KiB).
	if streamInc != 0 || connInc != 128<<10 || cl.c.connRecv+cl.c.connCredit != 128<<10 || cl.c.connDebt != 0 {
		t.Fatalf("credit after the answer: stream %d, connection %d (window %d + %d due, debt %d)",
			streamInc, connInc, cl.c.connRecv, cl.c.connCredit, cl.c.connDebt)
	}
	if len(cl.app.resets) != 0 {
		t.Fatalf("owner saw resets %v", cl.app.resets)
	}
	cl.headers(3, true, reqFields("GET", "/")...)
	cl.sync()
	if res, _ := cl.collect(3); res[3].status != "200" {
		t.Fatalf("next request %v", res[3])
	}
}

// TestEarlyResponseEnds covers every way a draining stream ends.
func TestEarlyResponseEnds(t *testing.T) {
	chunk := bytes.Repeat([]byte("d"), 16<<10)
	cases := []struct {
		name string
		cfg  Config
		path string // /early answers 413, /early-ok 200
		cl   string // request content-length, "" for none
		// run drives stream 1 (answered early, request open) to its end
		// and returns the RST_STREAM code the client must see (-1: none).
		run     func(t *testing.T, cl *client) int
		discard uint64
	}{
		{"END_STREAM on empty DATA", Config{}, "/early", "", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, false, []byte("abc"))
			cl.fr.WriteData(1, true, nil)
			return -1
		}, 3},
		{"trailers", Config{}, "/early", "", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, false, []byte("abc"))
			cl.headers(1, true, "x-checksum", "1")
			return -1
		}, 3},
		{"2xx, length within MaxDiscardBytes: drained", Config{}, "/early-ok", "3", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, true, []byte("abc"))
			return -1
		}, 3},
		{"2xx, length over MaxDiscardBytes: RST past it", Config{MaxDiscardBytes: 100 << 10}, "/early-ok", "1048576", func(t *testing.T, cl *client) int {
			for range 7 { // the 7th frame crosses 100 KiB
				cl.fr.WriteData(1, false, chunk)
			}
			return int(http2.ErrCodeNo)
		}, 7 * 16 << 10},
		{"2xx, unknown length: drained", Config{}, "/early-ok", "", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, false, []byte("abc"))
			cl.fr.WriteData(1, true, nil)
			return -1
		}, 3},
		{"2xx, unknown length, window spent: RST", Config{InitialWindowSize: 64 << 10}, "/early-ok", "", func(t *testing.T, cl *client) int {
			for range 4 {
				cl.fr.WriteData(1, false, chunk)
			}
			return int(http2.ErrCodeNo)
		}, 64 << 10},
		{"error, length over MaxDiscardBytes: RST past it", Config{MaxDiscardBytes: 100 << 10}, "/early", "1048576", func(t *testing.T, cl *client) int {
			for range 7 { // the 7th frame crosses 100 KiB
				cl.fr.WriteData(1, false, chunk)
			}
			return int(http2.ErrCodeNo)
		}, 7 * 16 << 10},
		{"error, unknown length, window spent: RST", Config{InitialWindowSize: 64 << 10}, "/early", "", func(t *testing.T, cl *client) int {
			for range 4 {
				cl.fr.WriteData(1, false, chunk)
			}
			return int(http2.ErrCodeNo)
		}, 64 << 10},
		{"error, unknown length over MaxDiscardBytes: RST", Config{MaxDiscardBytes: 100 << 10}, "/early", "", func(t *testing.T, cl *client) int {
			for range 7 {
				cl.fr.WriteData(1, false, chunk)
			}
			return int(http2.ErrCodeNo)
		}, 7 * 16 << 10},
		{"exactly MaxDiscardBytes then END_STREAM", Config{MaxDiscardBytes: 32 << 10}, "/early", "", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, false, chunk)
			cl.fr.WriteData(1, true, chunk)
			return -1
		}, 32 << 10},
		{"draining disabled", Config{MaxDiscardBytes: -1}, "/early", "", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, true, chunk) // late: ignored
			return int(http2.ErrCodeNo)
		}, 0},
		{"client RST_STREAM", Config{}, "/early", "", func(t *testing.T, cl *client) int {
			cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
			return -1
		}, 0},
		{"content-length exceeded", Config{}, "/early", "100", func(t *testing.T, cl *client) int {
			cl.fr.WriteData(1, false, bytes.Repeat([]byte("d"), 101))
			return int(http2.ErrCodeProtocol)
		}, 0},
		{"final GOAWAY", Config{}, "/early", "", func(t *testing.T, cl *client) int {
			cl.c.GoAway(false)
			if !cl.c.Done() {
				t.Fatal("a draining stream keeps the connection from being done")
			}
			return int(http2.ErrCodeNo)
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, tc.cfg)
			cl.handshake()
			var extra []string
			if tc.cl != "" {
				extra = []string{"content-length", tc.cl}
			}
			cl.headers(1, false, reqFields("POST", tc.path, extra...)...)
			cl.sync()
			want := tc.run(t, cl)
			cl.sync()
			got := -1
			for range 1000 {
				f, err := cl.read()
				if err != nil {
					break
				}
				if rf, ok := f.(*http2.RSTStreamFrame); ok && rf.StreamID == 1 {
					got = int(rf.ErrCode)
				}
				if ga, ok := f.(*http2.GoAwayFrame); ok && ga.ErrCode != http2.ErrCodeNo {
					t.Fatalf("GOAWAY %v", ga.ErrCode)
				}
			}
			if got != want {
				t.Fatalf("RST_STREAM code %d, want %d", got, want)
			}
			st := cl.c.Stats()
			if cl.err != nil || cl.c.active != 0 || st.Draining != 0 || st.DiscardedBytes != tc.discard {
				t.Fatalf("err %v, active %d, stats %+v", cl.err, cl.c.active, st)
			}
			if len(cl.app.resets) != 0 {
				t.Fatalf("owner saw resets %v for a stream it had finished", cl.app.resets)
			}
		})
	}
}

// TestEarlyResponseStalledUpload: an owner that answers while holding a
// whole window of unconsumed body (a stalled upstream). With a known
// length the window for the rest is granted before END_STREAM; without
// one the client has no window left, so the stream is reset at once.
func TestEarlyResponseStalledUpload(t *testing.T) {
	chunk := bytes.Repeat([]byte("d"), 16<<10)
	for _, known := range []bool{true, false} {
		cl := newClient(t, Config{InitialWindowSize: 64 << 10, ConnWindowSize: 128 << 10})
		cl.handshake()
		var extra []string
		if known {
			extra = []string{"content-length", "262144"}
		}
		cl.headers(1, false, reqFields("POST", "/early-full", extra...)...)
		for range 4 { // exactly the stream window
			cl.fr.WriteData(1, false, chunk)
		}
		cl.sync()
		if !known {
			if code := cl.expectRST(1); code != http2.ErrCodeNo || cl.c.active != 0 {
				t.Fatalf("unknown length: RST %v, active %d", code, cl.c.active)
			}
			continue
		}
		status, si, _ := cl.readResponseEnd(1)
		if status != "413" || si != 192<<10 {
			t.Fatalf("status %s, stream window granted %d", status, si)
		}
		for i := range 12 {
			cl.fr.WriteData(1, i == 11, chunk)
			cl.sync()
			cl.drainFrames(1)
		}
		if cl.err != nil || cl.c.active != 0 || cl.c.Stats().ResetsSent != 0 {
			t.Fatalf("err %v, active %d, stats %+v", cl.err, cl.c.active, cl.c.Stats())
		}
	}
}

// TestDrainingDefences: draining streams hold their concurrency slot, are
// not a way around the reset budget, and never reach the owner.
func TestDrainingDefences(t *testing.T) {
	t.Run("concurrency slot", func(t *testing.T) {
		cl := newClient(t, Config{MaxConcurrentStreams: 2})
		cl.handshake()
		cl.headers(1, false, reqFields("POST", "/early")...)
		cl.headers(3, false, reqFields("POST", "/early")...)
		cl.headers(5, true, reqFields("GET", "/")...)
		cl.sync()
		if code := cl.expectRST(5); code != http2.ErrCodeRefusedStream {
			t.Fatalf("third stream: %v", code)
		}
		cl.fr.WriteData(1, true, nil)
		cl.headers(7, true, reqFields("GET", "/")...)
		cl.sync()
		if res, _ := cl.collect(7); res[7].status != "200" {
			t.Fatalf("after a draining stream ended: %v", res[7])
		}
	})
	t.Run("client resets after the answer are not rapid resets", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1000, 0)}
		cl := newClient(t, Config{MaxResetsPerSecond: 1, Now: clock.now})
		cl.handshake()
		for i := range 50 {
			id := uint32(2*i + 1)
			cl.headers(id, false, reqFields("POST", "/early")...)
			cl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			cl.sync()
		}
		if cl.err != nil {
			t.Fatal(cl.err)
		}
		if cl.c.active != 0 || len(cl.app.resets) != 0 {
			t.Fatalf("active %d, owner resets %v", cl.c.active, cl.app.resets)
		}
	})
	t.Run("bound resets are not counted either", func(t *testing.T) {
		clock := &fakeClock{t: time.Unix(1000, 0)}
		cl := newClient(t, Config{MaxResetsPerSecond: 1, MaxDiscardBytes: 10, Now: clock.now})
		cl.handshake()
		for i := range 50 {
			id := uint32(2*i + 1)
			cl.headers(id, false, reqFields("POST", "/early")...)
			cl.fr.WriteData(id, false, []byte("more than ten bytes"))
			cl.sync()
		}
		if cl.err != nil || cl.c.active != 0 || cl.c.Stats().ResetsSent != 50 {
			t.Fatalf("err %v active %d stats %+v", cl.err, cl.c.active, cl.c.Stats())
		}
	})
	t.Run("owner calls after the end are ignored", func(t *testing.T) {
		cl := newClient(t, Config{})
		var held *Stream
		cl.c.h = handlerFuncs{onRequest: func(s *Stream) {
			held = s
			s.WriteHeaders(404, nil, true)
		}}
		cl.handshake()
		cl.headers(1, false, reqFields("POST", "/")...)
		cl.sync()
		cl.drainFrames(1)
		held.Reset(http2.ErrCodeCancel) // a buggy owner: must not reach the wire
		held.Consumed(100)
		if _, err := held.WriteData([]byte("x"), true); err != ErrStreamClosed {
			t.Fatalf("WriteData after the end: %v", err)
		}
		cl.sync()
		cl.drainFrames(1) // fails on a RST_STREAM
		if cl.c.Stats().Draining != 1 {
			t.Fatal("stream no longer draining")
		}
	})
}
