package h2

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func TestDefenceMaxConcurrentStreams(t *testing.T) {
	cl := newClient(t, Config{MaxConcurrentStreams: 4})
	cl.handshake()
	for i := range 5 {
		cl.headers(uint32(2*i+1), true, reqFields("GET", "/hold")...)
	}
	if code := cl.expectRST(9); code != http2.ErrCodeRefusedStream {
		t.Fatalf("code %v", code)
	}
	if st := cl.c.Stats(); st.Active != 4 || st.StreamsRefused != 1 || cl.app.requests != 4 {
		t.Fatalf("%+v requests %d", st, cl.app.requests)
	}
	// Once one ends, a new stream is accepted again.
	cl.app.release(1)
	cl.headers(11, true, reqFields("GET", "/")...)
	if res, _ := cl.collect(1, 11); res[11].status != "200" {
		t.Fatal(res[11])
	}
}

// TestDefenceRapidReset: HEADERS + RST_STREAM in a loop (CVE-2023-44487)
// ends in GOAWAY(ENHANCE_YOUR_CALM) once the budget is spent, and the
// handler saw at most budget+1 requests.
func TestDefenceRapidReset(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	cfg := Config{MaxResetsPerSecond: 10, FloodWindow: 10 * time.Second, Now: clock.now}
	budget := 100
	cl := newClient(t, cfg)
	cl.handshake()
	// Spread over two windows: the count restarts with a new window.
	id := uint32(1)
	for range budget {
		cl.headers(id, false, reqFields("GET", "/hold")...)
		cl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
	}
	cl.sync()
	if cl.err != nil {
		t.Fatalf("closed within budget: %v", cl.err)
	}
	clock.t = clock.t.Add(11 * time.Second)
	for i := 0; i < 10*budget && cl.err == nil; i++ {
		cl.headers(id, false, reqFields("GET", "/hold")...)
		cl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
		cl.sync()
	}
	if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("err %v", cl.err)
	}
	if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
		t.Fatal(ga.ErrCode)
	}
	if cl.app.requests > 2*budget+1 {
		t.Fatalf("handler saw %d requests", cl.app.requests)
	}
	if st := cl.c.Stats(); st.Active != 0 {
		t.Fatalf("%+v", st)
	}
}

// TestDefenceResetsAmongCompletedStreams: a busy client that cancels a
// minority of its streams (gRPC deadlines, hedged calls) keeps its
// connection however many cancels that makes (Envoy's rule: resets must be
// at least half the streams opened past the budget), up to the ceiling of
// ten budgets; resets that are half the traffic end it past the budget.
func TestDefenceResetsAmongCompletedStreams(t *testing.T) {
	const perSecond, window = 10, 10 * time.Second
	budget := perSecond * int(window/time.Second)
	for _, c := range []struct {
		name       string
		everyNth   int // one stream in everyNth is reset, the rest complete
		resets     int
		wantClosed bool
	}{
		{"one in ten reset, 3 budgets", 10, 3 * budget, false},
		{"one in three reset, 3 budgets", 3, 3 * budget, false},
		{"every other reset, past the budget", 2, budget + 2, true},
		{"one in ten reset, past the ceiling", 10, resetCeiling*budget + 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1000, 0)}
			cl := newClient(t, Config{MaxResetsPerSecond: perSecond, FloodWindow: window, Now: clock.now,
				MaxStreamsPerConn: 1 << 30, MaxControlFramesPerSecond: 1 << 20})
			cl.handshake()
			id := uint32(1)
			resets := 0
			for i := 0; resets < c.resets && cl.err == nil; i++ {
				if i%c.everyNth == 0 {
					cl.headers(id, false, reqFields("GET", "/hold")...)
					cl.fr.WriteRSTStream(id, http2.ErrCodeCancel)
					resets++
				} else {
					cl.headers(id, true, reqFields("GET", "/")...)
				}
				id += 2
				cl.sync()
				cl.toCli.Reset() // the answers are not what this test reads
			}
			if closed := cl.err != nil; closed != c.wantClosed {
				t.Fatalf("closed %v after %d resets (err %v), want closed %v", closed, resets, cl.err, c.wantClosed)
			}
			if c.wantClosed {
				if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
					t.Fatalf("err %v", cl.err)
				}
			}
		})
	}
}

// TestDefenceContinuationFlood: a header block that never ends
// (CVE-2024-27316 class) is cut off at 2×MaxHeaderBytes encoded bytes,
// and empty CONTINUATIONs by the control-frame budget.
func TestDefenceContinuationFlood(t *testing.T) {
	cl := newClient(t, Config{MaxHeaderBytes: 4096})
	cl.handshake()
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.encode(reqFields("GET", "/")...)})
	// Each fragment: literal field without indexing, new name, short value.
	frag := cl.encodeLiteral("x-flood", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	sent := 0
	for i := 0; i < 10000 && cl.err == nil; i++ {
		cl.fr.WriteContinuation(1, false, frag)
		sent += len(frag)
		cl.sync()
	}
	if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("err %v", cl.err)
	}
	if sent > 2*4096+len(frag)+200 {
		t.Fatalf("accepted %d header bytes", sent)
	}
	if cl.app.requests != 0 {
		t.Fatal("request delivered")
	}

	cl = newClient(t, Config{MaxControlFramesPerSecond: 10})
	cl.handshake()
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.encode(reqFields("GET", "/")...)})
	n := 0
	for ; n < 10000 && cl.err == nil; n++ {
		cl.fr.WriteContinuation(1, false, nil)
		cl.sync()
	}
	if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm || n > 101 {
		t.Fatalf("err %v after %d empty CONTINUATIONs", cl.err, n)
	}
}

// encodeLiteral is a literal field without indexing, so repeating the
// bytes is a valid (if absurd) header block fragment.
func (cl *client) encodeLiteral(name, value string) []byte {
	b := []byte{0}
	b = appendHpackString(b, []byte(name))
	return appendHpackString(b, []byte(value))
}

// hpackBombBlock is a request block that puts a 4000-byte field in the
// dynamic table and then references it refs times more.
func hpackBombBlock(cl *client, refs int) []byte {
	big := string(bytes.Repeat([]byte("b"), 4000))
	cl.hbuf.Reset()
	fields := reqFields("GET", "/")
	for i := 0; i < len(fields); i += 2 {
		cl.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	cl.enc.WriteField(hpack.HeaderField{Name: "x-bomb", Value: big}) // indexed: dynamic entry 62
	block := bytes.Clone(cl.hbuf.Bytes())
	for range refs {
		block = append(block, 0x80|62)
	}
	return block
}

// TestDefenceHPACKBombEndsConnection: a block referencing a 4000-byte
// table entry 200 times (800 KB decoded from ~200 bytes, 50 times the
// limit) is an attack: 431 for its stream, then GOAWAY(ENHANCE_YOUR_CALM).
func TestDefenceHPACKBombEndsConnection(t *testing.T) {
	cl := newClient(t, Config{MaxHeaderBytes: 16 << 10})
	cl.handshake()
	cl.c.h = handlerFuncs{onRequest: func(s *Stream) { t.Error("bomb delivered") }}
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hpackBombBlock(cl, 200), EndStream: true, EndHeaders: true})
	cl.sync()
	if res, _ := cl.collect(1); res[1].status != "431" {
		t.Fatalf("%v", res[1])
	}
	if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "hpack_bomb" {
		t.Fatalf("GOAWAY %v %q", ga.ErrCode, ga.DebugData())
	}
}

// TestDefenceHPACKBomb: one 4000-byte field in the dynamic table, then a
// block referencing it 10 times (40 KB decoded from ~10 bytes, over the
// 16 KiB limit). The stream gets 431, nothing is stored past the limit,
// the connection lives.
func TestDefenceHPACKBomb(t *testing.T) {
	cl := newClient(t, Config{MaxHeaderBytes: 16 << 10})
	cl.handshake()
	block := hpackBombBlock(cl, 10)
	var maxArena int
	cl.c.h = handlerFuncs{onRequest: func(s *Stream) { t.Error("bomb delivered") }}
	cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true, EndHeaders: true})
	cl.sync()
	for _, s := range cl.c.free {
		maxArena = max(maxArena, cap(s.arena))
	}
	res, _ := cl.collect(1)
	if res[1].status != "431" {
		t.Fatalf("%v", res[1])
	}
	if maxArena > 16<<10*2 {
		t.Fatalf("arena grew to %d", maxArena)
	}
	if st := cl.c.Stats(); st.HeadersTooLarge != 1 || cl.err != nil {
		t.Fatalf("%+v %v", st, cl.err)
	}
	// The HPACK state survived: the next request decodes fine.
	cl.c.h = cl.app
	cl.headers(3, true, reqFields("GET", "/")...)
	if res, _ := cl.collect(3); res[3].status != "200" {
		t.Fatal(res[3])
	}
	// A single string longer than MaxHeaderBytes (but within the 2x
	// decoder cap) is one more 431; the connection lives.
	cl.headers(5, true, reqFields("GET", "/", "x-huge", string(bytes.Repeat([]byte("h"), 20000)))...)
	if res, _ := cl.collect(5); res[5].status != "431" || cl.err != nil {
		t.Fatalf("%v %v", res[5], cl.err)
	}
	// One that decodes past 2x (Huffman: 40000 'a' encode to 25000
	// bytes) cannot be skipped: 431, then the connection ends.
	cl.headerBlock(7, true, cl.encode(reqFields("GET", "/", "x-huge", strings.Repeat("a", 40000))...))
	if res, _ := cl.collect(7); res[7].status != "431" {
		t.Fatal(res[7])
	}
	if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeEnhanceYourCalm || string(ga.DebugData()) != "hpack_string_too_long" {
		t.Fatal(ga.ErrCode)
	}
}

// TestDefenceControlFloods: each flood ends in GOAWAY(ENHANCE_YOUR_CALM)
// within the budget (10/s over 10 s = 100 frames).
func TestDefenceControlFloods(t *testing.T) {
	cases := []struct {
		name  string
		setup func(cl *client)
		send  func(cl *client, i int)
	}{
		{"settings", nil, func(cl *client, i int) { cl.fr.WriteSettings() }},
		{"ping", nil, func(cl *client, i int) { cl.fr.WritePing(false, [8]byte{byte(i)}) }},
		{"priority", nil, func(cl *client, i int) {
			cl.fr.WritePriority(uint32(2*i+1), http2.PriorityParam{StreamDep: 0, Weight: 1})
		}},
		{"unknown frames", nil, func(cl *client, i int) { cl.fr.WriteRawFrame(0xee, 0, 0, []byte("x")) }},
		{"empty data", func(cl *client) { cl.headers(1, false, reqFields("POST", "/hold")...) },
			func(cl *client, i int) { cl.fr.WriteData(1, false, nil) }},
		{"window update 0 (stream errors)", nil, func(cl *client, i int) {
			id := uint32(2*i + 1)
			cl.headers(id, false, reqFields("POST", "/hold")...)
			cl.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, id, []byte{0, 0, 0, 0})
		}},
		{"data on closed streams", func(cl *client) {
			for i := range 40 {
				cl.headers(uint32(2*i+1), true, reqFields("GET", "/")...)
			}
		}, func(cl *client, i int) { cl.fr.WriteData(uint32(2*(i%40)+1), false, []byte("x")) }},
		{"empty data on draining streams", func(cl *client) {
			// A complete response to an open request: the body is drained.
			cl.headers(1, false, reqFields("POST", "/early")...)
		}, func(cl *client, i int) { cl.fr.WriteData(1, false, nil) }},
		{"empty data on reset streams", func(cl *client) {
			// A complete response to an open request, draining off: RST(NO_ERROR).
			cl.c.cfg.MaxDiscardBytes = -1
			cl.c.h = handlerFuncs{onRequest: func(s *Stream) { s.WriteHeaders(200, nil, true) }}
			cl.headers(1, false, reqFields("POST", "/")...)
			cl.sync()
			if code := cl.expectRST(1); code != http2.ErrCodeNo {
				cl.t.Fatalf("code %v", code)
			}
		}, func(cl *client, i int) { cl.fr.WriteData(1, false, nil) }},
		{"connection window updates answering nothing", nil, func(cl *client, i int) {
			cl.fr.WriteWindowUpdate(0, 1)
		}},
		{"stream window updates answering nothing", func(cl *client) {
			cl.headers(1, false, reqFields("POST", "/hold")...)
		}, func(cl *client, i int) { cl.fr.WriteWindowUpdate(1, 1) }},
	}
	// WINDOW_UPDATE frames count only past their allowance (updateAllowance).
	slack := map[string]int{"connection window updates answering nothing": 5, "stream window updates answering nothing": 7}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1000, 0)}
			cl := newClient(t, Config{MaxControlFramesPerSecond: 10, MaxResetsPerSecond: 10, Now: clock.now})
			cl.handshake()
			if tc.setup != nil {
				tc.setup(cl)
				cl.sync()
			}
			n := 0
			for ; n < 5000 && cl.err == nil; n++ {
				tc.send(cl, n)
				cl.sync()
			}
			if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("err %v after %d frames", cl.err, n)
			}
			if n > 102+slack[tc.name] {
				t.Fatalf("closed only after %d frames", n)
			}
			ga := cl.expectGoAway()
			if ga.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatal(ga.ErrCode)
			}
			if strings.Contains(tc.name, "window updates answering nothing") && string(ga.DebugData()) != "window_update_flood" {
				t.Fatalf("GOAWAY reason %q, want window_update_flood", ga.DebugData())
			}
		})
	}
}

// TestWindowUpdatesAnsweringData: a client that grants credit for every
// DATA frame it receives, even several times over, is no flood.
func TestWindowUpdatesAnsweringData(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1000, 0)}
	const size = 1 << 20
	body := make([]byte, size)
	sent := 0
	write := func(s *Stream) {
		n, err := s.WriteData(body[sent:], true)
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	cl := newClient(t, Config{MaxControlFramesPerSecond: 10, Now: clock.now})
	cl.c.h = handlerFuncs{
		onRequest: func(s *Stream) {
			s.WriteHeaders(200, nil, false)
			write(s)
		},
		onWritable: write,
	}
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/")...)
	cl.sync()
	got := 0
	for range 10000 {
		f, err := cl.read()
		if err != nil {
			if cl.err != nil {
				t.Fatalf("after %d bytes: %v", got, cl.err)
			}
			cl.sync()
			continue
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v after %d bytes", f.ErrCode, got)
		case *http2.DataFrame:
			got += len(f.Data())
			if f.StreamEnded() {
				if got != size {
					t.Fatalf("got %d bytes, want %d", got, size)
				}
				return
			}
			if n := uint32(len(f.Data())); n > 0 {
				for range 3 { // eager: three times the credit, in six frames
					cl.fr.WriteWindowUpdate(1, n)
					cl.fr.WriteWindowUpdate(0, n)
				}
			}
		}
	}
	t.Fatalf("got %d of %d bytes", got, size)
}

// TestDefenceClientNeverReads: a client that sends PINGs and never reads
// the ACKs is disconnected once the queue passes MaxPendingOutput+slack.
func TestDefenceClientNeverReads(t *testing.T) {
	cl := newClient(t, Config{MaxPendingOutput: 64 << 10, MaxControlFramesPerSecond: 1 << 20})
	cl.handshake()
	cl.noDrain = true
	n := 0
	for ; n < 100000 && cl.err == nil; n++ {
		cl.fr.WritePing(false, [8]byte{})
		cl.sync()
	}
	if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("err %v", cl.err)
	}
	if p := len(cl.c.Output()); p > 64<<10+controlSlack+100 {
		t.Fatalf("output grew to %d", p)
	}
}

// TestDefenceHeadersOnlyAnswersNeverRead: a client that never reads but
// keeps opening streams answered by HEADERS alone (HEAD, 204) cannot grow
// the output without bound: those streams close at once, so only the
// output bound holds them back.
func TestDefenceHeadersOnlyAnswersNeverRead(t *testing.T) {
	cl := newClient(t, Config{MaxPendingOutput: 16 << 10, MaxStreamsPerConn: 1 << 30})
	cl.c.h = handlerFuncs{onRequest: func(s *Stream) { s.WriteHeaders(204, nil, true) }}
	cl.handshake()
	cl.noDrain = true
	id := uint32(1)
	for n := 0; n < 100000 && cl.err == nil; n++ {
		cl.headers(id, true, reqFields("HEAD", "/")...)
		id += 2
		cl.sync()
	}
	if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("err %v after %d streams", cl.err, id/2)
	}
	if p := len(cl.c.Output()); p > 16<<10+controlSlack+1024 {
		t.Fatalf("output grew to %d", p)
	}
}

// TestDefenceResetBypasses: streams reset for the client's fault by other
// means than its own RST_STREAM (a second HEADERS on an ended stream,
// malformed trailers, trailers that break content-length) each cancel an
// exchange as RST_STREAM does, so they spend the same budget.
func TestDefenceResetBypasses(t *testing.T) {
	for _, tc := range []struct {
		name string
		send func(cl *client, id uint32)
	}{
		{"headers again", func(cl *client, id uint32) {
			cl.headers(id, true, reqFields("GET", "/hold")...)
			cl.headers(id, true, "x-again", "1")
		}},
		{"malformed trailers", func(cl *client, id uint32) {
			cl.headers(id, false, reqFields("POST", "/hold")...)
			cl.headers(id, true, ":path", "/x")
		}},
		{"trailers breaking content-length", func(cl *client, id uint32) {
			cl.headers(id, false, reqFields("POST", "/hold", "content-length", "5")...)
			cl.headers(id, true, "x-sum", "1")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1000, 0)}
			cl := newClient(t, Config{MaxResetsPerSecond: 10, FloodWindow: 10 * time.Second, Now: clock.now})
			cl.handshake()
			id := uint32(1)
			for n := 0; n < 1000 && cl.err == nil; n++ {
				tc.send(cl, id)
				id += 2
				cl.sync()
				cl.toCli.Reset()
			}
			if code, _ := connErrCode(cl.err); code != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("err %v after %d streams", cl.err, id/2)
			}
			if cl.app.requests > 102 {
				t.Fatalf("handler saw %d requests", cl.app.requests)
			}
		})
	}
}

// TestDefenceLateFramesOnManyResetStreams: DATA a client had in flight on
// each of 100 streams we reset (their upstreams failed) is ignored: no
// RST_STREAM in reply, and the connection lives. HEADERS floods on a
// reset stream are counted.
func TestDefenceLateFramesOnManyResetStreams(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	const n = 100
	for i := uint32(0); i < n; i++ {
		cl.headers(2*i+1, false, reqFields("POST", "/hold")...)
	}
	cl.sync()
	for id, s := range cl.app.streams {
		s.Reset(http2.ErrCodeInternal)
		delete(cl.app.streams, id)
	}
	cl.sync()
	cl.toCli.Reset()
	for i := uint32(0); i < n; i++ {
		for range 4 {
			cl.fr.WriteData(2*i+1, false, []byte("late"))
		}
	}
	cl.headers(2*n+1, true, reqFields("GET", "/")...)
	res, other := cl.collect(2*n + 1)
	if cl.err != nil || res[2*n+1].status != "200" {
		t.Fatalf("after late DATA: err %v, %+v", cl.err, res[2*n+1])
	}
	for _, f := range other {
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("late DATA on stream %d got RST_STREAM(%v)", rst.StreamID, rst.ErrCode)
		}
	}
	// Trailers in flight on one of them are dropped too, not a connection error.
	cl.headers(1, true, "x-sum", "1")
	cl.headers(2*n+3, true, reqFields("GET", "/")...)
	if res, _ := cl.collect(2*n + 3); cl.err != nil || res[2*n+3].status != "200" {
		t.Fatalf("after late trailers: err %v", cl.err)
	}
}

// TestDefenceHugeClientWindow: the client opens its windows to 2^31-1 and
// never reads a large response: WriteData stops at MaxPendingOutput and
// resumes via OnWritable once output drains.
func TestDefenceHugeClientWindow(t *testing.T) {
	const limit = 128 << 10
	cl := newClient(t, Config{MaxPendingOutput: limit})
	cl.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	cl.fr.WriteWindowUpdate(0, 1<<31-1-65535)
	cl.headers(1, true, reqFields("GET", "/size/10000000")...)
	cl.noDrain = true
	cl.sync()
	if p := len(cl.c.Output()); p > limit+16384+100 {
		t.Fatalf("output %d over the bound", p)
	}
	cl.noDrain = false
	res, _ := cl.collect(1)
	if len(res[1].body) != 10000000 {
		t.Fatalf("got %d", len(res[1].body))
	}
}

// TestDefenceMaxStreamsPerConn: the stream reaching the total is served,
// then GOAWAY(NO_ERROR) names it as the last one.
func TestDefenceMaxStreamsPerConn(t *testing.T) {
	cl := newClient(t, Config{MaxStreamsPerConn: 10})
	cl.handshake()
	var ids []uint32
	for i := range 10 {
		ids = append(ids, uint32(2*i+1))
		cl.headers(uint32(2*i+1), true, reqFields("GET", "/")...)
	}
	cl.headers(21, true, reqFields("GET", "/")...)
	res, _ := cl.collect(ids...)
	for _, id := range ids {
		if res[id].status != "200" {
			t.Fatal(res[id])
		}
	}
	if ga := cl.expectGoAway(); ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 19 {
		t.Fatalf("GOAWAY %v", ga)
	}
	if cl.app.requests != 10 || !cl.c.Done() {
		t.Fatalf("requests %d done %v", cl.app.requests, cl.c.Done())
	}
}

// TestUploadBackpressure: an owner that does not consume stops the client
// at the stream window; Consumed reopens it with batched WINDOW_UPDATEs.
func TestUploadBackpressure(t *testing.T) {
	cl := newClient(t, Config{InitialWindowSize: 65536, ConnWindowSize: 1 << 20})
	cl.handshake()
	var got int
	var held *Stream
	cl.c.h = handlerFuncs{
		onRequest: func(s *Stream) { held = s },
		onData:    func(s *Stream, d []byte, end bool) { got += len(d) },
	}
	cl.headers(1, false, reqFields("POST", "/")...)
	for range 4 {
		cl.fr.WriteData(1, false, make([]byte, 16384))
	}
	cl.sync()
	if got != 65536 || cl.err != nil {
		t.Fatalf("got %d err %v", got, cl.err)
	}
	// One byte over the stream window: FLOW_CONTROL_ERROR for the stream.
	// First, consume and check the WINDOW_UPDATE batching.
	held.Consumed(30000)
	cl.sync()
	if cl.toCli.Len() != 0 {
		t.Fatal("WINDOW_UPDATE before half the window was consumed")
	}
	held.Consumed(35536)
	cl.drain()
	wu, ok := cl.next().(*http2.WindowUpdateFrame)
	if !ok || wu.StreamID != 1 || wu.Increment != 65536 {
		t.Fatalf("%v", wu)
	}
	for range 5 {
		cl.fr.WriteData(1, false, make([]byte, 16384))
	}
	if code := cl.expectRST(1); code != http2.ErrCodeFlowControl {
		t.Fatalf("code %v", code)
	}
}

// TestDefenceHeaderBytesPerConn: streams the owner holds keep their header
// blocks, so per-stream limits alone let one connection pin
// MaxConcurrentStreams × MaxHeaderBytes (a few KiB of HPACK references
// each). Past MaxHeaderBytesPerConn a new stream is refused (REFUSED_STREAM,
// retryable), the connection lives, and once a held stream ends new ones
// are accepted again; small streams never notice the budget.
func TestDefenceHeaderBytesPerConn(t *testing.T) {
	const limit = 16 << 10
	cl := newClient(t, Config{MaxHeaderBytes: limit, MaxHeaderBytesPerConn: 64 << 10})
	cl.handshake()
	big := strings.Repeat("v", limit-512) // one block near the per-stream limit
	id := uint32(1)
	refused := uint32(0)
	for range 20 {
		cl.headers(id, true, reqFields("GET", "/hold", "x-big", big)...)
		cl.sync()
		if cl.err != nil {
			t.Fatalf("connection ended: %v", cl.err)
		}
		if _, held := cl.app.streams[id]; !held {
			refused = id
			break
		}
		id += 2
	}
	if refused == 0 {
		t.Fatalf("20 streams of %d header bytes held, none refused (%+v)", len(big), cl.c.Stats())
	}
	if held := len(cl.app.streams); held < 3 || held > 4 {
		t.Fatalf("%d streams held before the refusal, want 3-4 of 64 KiB", held)
	}
	if code := cl.expectRST(refused); code != http2.ErrCodeRefusedStream {
		t.Fatalf("stream %d: RST %v, want REFUSED_STREAM", refused, code)
	}
	// The budget is checked on decoded sizes; what is held is the storage
	// (arena, field index), within a few bytes a field of it.
	if cl.c.heldHeaders > 65<<10 {
		t.Fatalf("held %d header bytes, budget 64 KiB", cl.c.heldHeaders)
	}
	// Once a held stream ends, the refused one's retry is served.
	cl.app.release(1)
	retry := refused + 2
	cl.headers(retry, true, reqFields("GET", "/", "x-big", big)...)
	if res, _ := cl.collect(1, retry); res[retry] == nil || res[retry].status != "200" {
		t.Fatalf("retry after a release: %v", res[retry])
	}
	// Every stream ended: nothing is counted any more.
	for sid := range cl.app.streams {
		cl.app.release(sid)
	}
	cl.sync()
	cl.drain()
	if cl.c.heldHeaders != 0 || cl.c.Stats().Active != 0 {
		t.Fatalf("after all streams ended: held %d, %+v", cl.c.heldHeaders, cl.c.Stats())
	}
}

// TestDefenceTrailersPastHeaderBudget: trailers that would pass
// MaxHeaderBytesPerConn reset their stream (ENHANCE_YOUR_CALM: the request
// is under way, so there is nothing to refuse) and free its budget.
func TestDefenceTrailersPastHeaderBudget(t *testing.T) {
	const limit = 16 << 10
	cl := newClient(t, Config{MaxHeaderBytes: limit, MaxHeaderBytesPerConn: 60 << 10})
	cl.handshake()
	big := strings.Repeat("v", limit-512)
	cl.headers(1, false, reqFields("POST", "/hold")...) // body and trailers to come
	for _, id := range []uint32{3, 5, 7} {
		cl.headers(id, true, reqFields("GET", "/hold", "x-big", big)...)
	}
	cl.sync()
	if len(cl.app.streams) != 4 {
		t.Fatalf("%d streams held, want 4", len(cl.app.streams))
	}
	cl.headers(1, true, "x-trailer", big)
	if code := cl.expectRST(1); code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("trailers past the budget: RST %v, want ENHANCE_YOUR_CALM", code)
	}
	if cl.err != nil || cl.app.resets[len(cl.app.resets)-1] != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("connection error %v, owner's resets %v", cl.err, cl.app.resets)
	}
	// The other streams keep their headers and are served.
	for _, id := range []uint32{3, 5, 7} {
		cl.app.release(id)
	}
	if res, _ := cl.collect(3, 5, 7); res[7] == nil || res[7].status != "200" {
		t.Fatalf("held streams after the reset: %v", res)
	}
}

// TestHeaderBudgetRefusalsKeepConnection: a client cannot see the header
// budget coming (it is not in SETTINGS), so one that retries its refused
// streams, as browsers do, keeps its connection: refusals are counted as
// control frames, not as resets (past 200 of those, rapid reset ended it).
func TestHeaderBudgetRefusalsKeepConnection(t *testing.T) {
	const limit = 16 << 10
	cl := newClient(t, Config{MaxHeaderBytes: limit, MaxHeaderBytesPerConn: 64 << 10})
	cl.handshake()
	big := strings.Repeat("v", limit-512)
	id := uint32(1)
	for range 4 {
		cl.headers(id, true, reqFields("GET", "/hold", "x-big", big)...)
		id += 2
	}
	cl.sync()
	held := len(cl.app.streams)
	refused := 0
	for range 300 { // more than the reset budget's 200 a window
		cl.headers(id, true, reqFields("GET", "/", "x-big", big)...)
		cl.sync()
		if cl.err != nil {
			t.Fatalf("after %d refusals: %v", refused, cl.err)
		}
		refused++
		id += 2
	}
	for _, f := range drainFrames(cl) {
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatalf("GOAWAY %v after %d budget refusals", ga.ErrCode, refused)
		}
	}
	if len(cl.app.streams) != held || cl.c.Stats().StreamsRefused < 300 {
		t.Fatalf("held %d (was %d), refused %d", len(cl.app.streams), held, cl.c.Stats().StreamsRefused)
	}
	// The held streams are still served.
	for sid := range cl.app.streams {
		cl.app.release(sid)
	}
	cl.sync()
	if cl.err != nil || cl.c.Stats().Active != 0 {
		t.Fatalf("after release: %v, %+v", cl.err, cl.c.Stats())
	}
}

// drainFrames reads every frame the server has written so far.
func drainFrames(cl *client) []http2.Frame {
	var out []http2.Frame
	for range 100000 {
		f, err := cl.read()
		if err != nil {
			break
		}
		out = append(out, f)
	}
	return out
}

// TestHeaderBudgetCountsStoredBytes: the budget counts what a stream
// stores, not the arena capacity a recycled stream kept from an earlier,
// larger request (before, small requests were refused after a burst of
// large ones); a stream answered 431 counts with what it stored, while it
// stays open; the default budget grows with the allowed streams.
func TestHeaderBudgetCountsStoredBytes(t *testing.T) {
	cl := newClient(t, Config{MaxHeaderBytes: 16 << 10})
	cl.handshake()
	// Recycle an arena grown to ~6 KiB (kept: under 8 KiB).
	cl.headers(1, true, reqFields("GET", "/hold", "x-big", strings.Repeat("v", 6000))...)
	cl.sync()
	cl.app.release(1)
	cl.sync()
	cl.drain()
	if cl.c.heldHeaders != 0 {
		t.Fatalf("held %d with no stream open", cl.c.heldHeaders)
	}
	cl.headers(3, true, reqFields("GET", "/hold", "x-small", "1")...)
	cl.sync()
	if h := cl.c.heldHeaders; h <= 0 || h > 512 {
		t.Fatalf("a small request on a recycled stream counts %d bytes", h)
	}
	cl.app.release(3)
	cl.sync()
	cl.drain()
	// A 431 whose request body is still to come stays open (draining):
	// what it stored up to the limit is counted until it ends.
	var many []string
	for i := range 20 { // 20 KiB in 1 KiB fields: stored up to the 16 KiB limit
		many = append(many, fmt.Sprintf("x-f%d", i), strings.Repeat("h", 1<<10))
	}
	cl.headers(5, false, reqFields("POST", "/", many...)...)
	cl.sync()
	if h := cl.c.heldHeaders; h < 12<<10 || cl.c.Stats().Draining != 1 || cl.c.Stats().HeadersTooLarge != 1 {
		t.Fatalf("open 431 stream: held %d, %+v", h, cl.c.Stats())
	}
	cl.fr.WriteData(5, true, nil)
	cl.sync()
	if h := cl.c.heldHeaders; h != 0 || cl.c.Stats().Draining != 0 {
		t.Fatalf("after the 431 stream ended: held %d, %+v", h, cl.c.Stats())
	}
	// Defaults: 2 MiB, or 8 KiB per allowed stream when that is more.
	for _, c := range []struct {
		streams uint32
		want    int
	}{{0, 2 << 20}, {100, 2 << 20}, {1000, 8000 << 10}, {1 << 31, 32 << 20}} {
		sc := NewServerConn(Config{MaxConcurrentStreams: c.streams}, newApp(t))
		if got := sc.cfg.MaxHeaderBytesPerConn; got != c.want {
			t.Errorf("MaxConcurrentStreams %d: budget %d, want %d", c.streams, got, c.want)
		}
	}
}
