package h2

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// bigCall is what OnHeadersTooLarge saw.
type bigCall struct {
	id           uint32
	method, path string
	lineTooLong  bool
	endStream    bool
}

// bigApp is appHandler plus HeadersTooLargeHandler: it answers 431 (414
// for LineTooLong) with a small JSON body, as the edge does, unless hold.
type bigApp struct {
	*appHandler
	calls []bigCall
	hold  bool
	held  *Stream
}

func (b *bigApp) OnHeadersTooLarge(s *Stream) {
	b.calls = append(b.calls, bigCall{s.ID(), string(s.Method()), string(s.Path()), s.LineTooLong(), s.EndStream()})
	if b.hold {
		b.held = s
		return
	}
	status := 431
	if s.LineTooLong() {
		status = 414
	}
	if err := s.WriteHeaders(status, [][2][]byte{{[]byte("content-type"), []byte("application/json")}}, false); err != nil {
		b.t.Errorf("WriteHeaders: %v", err)
	}
	// Through appHandler.flush, so a small peer window is honoured (OnWritable).
	s.Data = &appState{pending: []byte(`{"error":{"status":` + strconv.Itoa(status) + `}}`), reqEnded: true}
	b.flush(s)
}

func newBigClient(t *testing.T, cfg Config) (*client, *bigApp) {
	cl := newClient(t, cfg)
	b := &bigApp{appHandler: cl.app}
	cl.c.h = b
	cl.handshake()
	return cl, b
}

// headerBlock sends block as HEADERS plus CONTINUATIONs of at most 16 KiB.
func (cl *client) headerBlock(id uint32, end bool, block []byte) {
	cl.t.Helper()
	first := true
	for first || len(block) > 0 {
		n := min(len(block), 16<<10)
		last := n == len(block)
		var err error
		if first {
			err = cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block[:n], EndStream: end, EndHeaders: last})
		} else {
			err = cl.fr.WriteContinuation(id, last, block[:n])
		}
		if err != nil {
			cl.t.Fatal(err)
		}
		block, first = block[n:], false
	}
}

func manyFields(n, size int) []string {
	var f []string
	for i := range n {
		f = append(f, "x-f-"+strconv.Itoa(i), strings.Repeat("v", size))
	}
	return f
}

// TestHeadersTooLargeOwner: blocks over MaxHeaderBytes but within the hard
// caps reach OnHeadersTooLarge with what was decoded before the limit; the
// connection, and its HPACK state, live on.
func TestHeadersTooLargeOwner(t *testing.T) {
	const limit = 16 << 10
	cases := []struct {
		name      string
		fields    []string
		end       bool
		want      bigCall
		wantState string
	}{
		{"decoded list over the limit", reqFields("GET", "/x", manyFields(100, 200)...), true,
			bigCall{id: 1, method: "GET", path: "/x", endStream: true}, "431"},
		{"one value between 1x and 2x", reqFields("GET", "/y", "x-big", strings.Repeat("a", 3*limit/2)), true,
			bigCall{id: 1, method: "GET", path: "/y", endStream: true}, "431"},
		{"one raw value near 2x", reqFields("GET", "/y", "x-big", strings.Repeat("\x7f", 2*limit-200)), true,
			bigCall{id: 1, method: "GET", path: "/y", endStream: true}, "431"},
		{"request with a body to come", reqFields("POST", "/z", "x-big", strings.Repeat("a", limit)), false,
			bigCall{id: 1, method: "POST", path: "/z"}, "431"},
		{"path alone over the limit", reqFields("GET", "/"+strings.Repeat("p", limit)), true,
			bigCall{id: 1, method: "GET", lineTooLong: true, endStream: true}, "414"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, b := newBigClient(t, Config{MaxHeaderBytes: limit})
			cl.headerBlock(1, tc.end, cl.encode(tc.fields...))
			if !tc.end {
				cl.fr.WriteData(1, true, []byte("body after the answer"))
			}
			res, other := cl.collect(1)
			if res[1].status != tc.wantState || !strings.HasPrefix(string(res[1].body), `{"error":`) || cl.err != nil {
				t.Fatalf("%v err %v", res[1], cl.err)
			}
			if len(b.calls) != 1 || cl.app.requests != 0 {
				t.Fatalf("calls %+v requests %d", b.calls, cl.app.requests)
			}
			if got := b.calls[0]; got != tc.want {
				t.Fatalf("OnHeadersTooLarge saw %+v, want %+v", got, tc.want)
			}
			for _, f := range other {
				if _, ok := f.(*http2.GoAwayFrame); ok {
					t.Fatalf("GOAWAY %v", f)
				}
			}
			if st := cl.c.Stats(); st.HeadersTooLarge != 1 || st.StreamsOpened != 1 || st.Active != 0 {
				t.Fatalf("%+v", st)
			}
			// The HPACK state survived: the next request on the same
			// connection decodes (dynamic table entries included).
			cl.c.h = cl.app
			cl.headers(3, true, reqFields("GET", "/after", "x-idx", "1")...)
			cl.headers(5, true, reqFields("GET", "/after", "x-idx", "1")...)
			if res, _ := cl.collect(3, 5); res[3].status != "200" || res[5].status != "200" || cl.err != nil {
				t.Fatalf("%v %v err %v", res[3], res[5], cl.err)
			}
		})
	}
}

// TestHeadersTooLargeHardCaps: past the hard caps the new stream is still
// answered (through the owner), then the connection ends with
// GOAWAY(ENHANCE_YOUR_CALM) and nothing after the block is decoded.
func TestHeadersTooLargeHardCaps(t *testing.T) {
	const limit = 4096
	cases := []struct {
		name   string
		send   func(cl *client)
		reason string
		want   bigCall
	}{
		{"encoded block over 2x in one frame", func(cl *client) {
			cl.headerBlock(1, true, cl.encode(reqFields("GET", "/x", "x-big", string(randomBytes(3*limit)))...))
		}, "header_block_too_large", bigCall{id: 1, endStream: true}},
		{"encoded block over 2x over CONTINUATIONs", func(cl *client) {
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.encode(reqFields("GET", "/x")...)})
			frag := cl.encodeLiteral("x-flood", strings.Repeat("a", 200))
			for range 3 * limit / len(frag) {
				cl.fr.WriteContinuation(1, false, frag)
			}
		}, "header_block_too_large", bigCall{id: 1, method: "GET", path: "/x"}},
		{"Huffman string decoding past 2x", func(cl *client) {
			// 'a' is a 5-bit code: 3x the limit encodes to under 2x.
			cl.headerBlock(1, true, cl.encode(reqFields("GET", "/h", "x-big", strings.Repeat("a", 3*limit))...))
		}, "hpack_string_too_long", bigCall{id: 1, method: "GET", path: "/h", endStream: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, b := newBigClient(t, Config{MaxHeaderBytes: limit})
			tc.send(cl)
			// Frames after the block are never decoded.
			cl.headers(3, true, reqFields("GET", "/after")...)
			res, other := cl.collect(1)
			if res[1].status != "431" || !strings.HasPrefix(string(res[1].body), `{"error":`) {
				t.Fatalf("%v", res[1])
			}
			if len(other) != 0 {
				t.Fatalf("frames before the answer: %v", other)
			}
			if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeEnhanceYourCalm || ga.LastStreamID != 1 || string(ga.DebugData()) != tc.reason {
				t.Fatalf("GOAWAY %v %q", ga, ga.DebugData())
			}
			var ce *ConnError
			if !errors.As(cl.err, &ce) || ce.Reason != tc.reason {
				t.Fatalf("err %v", cl.err)
			}
			got := b.calls
			if len(got) != 1 || cl.app.requests != 0 {
				t.Fatalf("calls %+v requests %d", got, cl.app.requests)
			}
			if got[0] != tc.want {
				t.Fatalf("OnHeadersTooLarge saw %+v, want %+v", got[0], tc.want)
			}
			if st := cl.c.Stats(); st.HeadersTooLarge != 1 || st.Active != 0 || !cl.c.Done() {
				t.Fatalf("%+v done %v", st, cl.c.Done())
			}
		})
	}

	// An owner that does not answer within the call gets OnReset when
	// the connection ends.
	cl, b := newBigClient(t, Config{MaxHeaderBytes: limit})
	b.hold = true
	cl.headerBlock(1, true, cl.encode(reqFields("GET", "/x", "x-big", string(randomBytes(3*limit)))...))
	cl.sync()
	if b.held == nil || len(cl.app.resets) != 1 || cl.app.resets[0] != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("held %v resets %v", b.held, cl.app.resets)
	}

	// A block past the caps on a stream that is not new: GOAWAY only.
	cl, b = newBigClient(t, Config{MaxHeaderBytes: limit})
	cl.headers(1, false, reqFields("POST", "/hold")...)
	cl.headerBlock(1, true, cl.encode("x-trailer", string(randomBytes(3*limit))))
	if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatal(ga.ErrCode)
	}
	if len(b.calls) != 0 || len(cl.app.resets) != 1 {
		t.Fatalf("calls %v resets %v", b.calls, cl.app.resets)
	}
}

// TestHeadersTooLargeTrailers: a trailer block over the limit resets its
// stream with PROTOCOL_ERROR; the owner is not asked to answer it.
func TestHeadersTooLargeTrailers(t *testing.T) {
	cl, b := newBigClient(t, Config{MaxHeaderBytes: 4096})
	cl.headers(1, false, reqFields("POST", "/hold")...)
	cl.fr.WriteData(1, false, []byte("x"))
	cl.headers(1, true, manyFields(40, 100)...)
	if code := cl.expectRST(1); code != http2.ErrCodeProtocol {
		t.Fatalf("code %v", code)
	}
	if len(b.calls) != 0 || len(cl.app.resets) != 1 || cl.err != nil {
		t.Fatalf("calls %v resets %v err %v", b.calls, cl.app.resets, cl.err)
	}
	cl.headers(3, true, reqFields("GET", "/")...)
	if res, _ := cl.collect(3); res[3].status != "200" {
		t.Fatal(res[3])
	}
}

// TestHeadersTooLargeCounted: a client sending only over-size blocks spends
// the reset budget like a rapid reset and is cut off.
func TestHeadersTooLargeCounted(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	cl, b := newBigClient(t, Config{MaxHeaderBytes: 4096, MaxResetsPerSecond: 1, FloodWindow: 10 * time.Second, Now: clock.now})
	big := strings.Repeat("a", 5000)
	id := uint32(1)
	for ; id < 100 && cl.err == nil; id += 2 {
		cl.headers(id, true, reqFields("GET", "/", "x-big", big)...)
		cl.sync()
	}
	var ce *ConnError
	if !errors.As(cl.err, &ce) || ce.Code != http2.ErrCodeEnhanceYourCalm || ce.Reason != "rapid_reset" {
		t.Fatalf("err %v", cl.err)
	}
	if n := len(b.calls); n != 10 {
		t.Fatalf("owner answered %d, want the budget of 10", n)
	}
}

// TestHeadersTooLargeFallback: a Handler without OnHeadersTooLarge gets the
// connection's own bare answers: 431, or 414 for the request line alone.
func TestHeadersTooLargeFallback(t *testing.T) {
	cl := newClient(t, Config{MaxHeaderBytes: 4096})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/", "x-big", strings.Repeat("a", 5000))...)
	cl.headers(3, true, reqFields("GET", "/"+strings.Repeat("p", 5000))...)
	cl.headers(5, true, reqFields("GET", "/")...)
	res, _ := cl.collect(1, 3, 5)
	if res[1].status != "431" || res[3].status != "414" || res[5].status != "200" || cl.err != nil {
		t.Fatalf("%v %v %v err %v", res[1], res[3], res[5], cl.err)
	}
	if st := cl.c.Stats(); st.HeadersTooLarge != 2 || st.StreamsOpened != 1 {
		t.Fatalf("%+v", st)
	}
	// Past the hard cap: 431, then GOAWAY.
	cl.headerBlock(7, true, cl.encode(reqFields("GET", "/", "x-big", string(randomBytes(3*4096)))...))
	res, _ = cl.collect(7)
	if res[7].status != "431" {
		t.Fatal(res[7])
	}
	if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatal(ga.ErrCode)
	}
}

// randomBytes returns n bytes that Huffman coding does not shorten (so the
// encoder sends them raw) and that are valid in a field value.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(0x80 + x%0x7f) // obs-text: long Huffman codes
	}
	if hpack.HuffmanEncodeLength(string(b)) < uint64(n) {
		panic("randomBytes: Huffman shortens them")
	}
	return b
}
