package h2

import (
	"bytes"
	"crypto/rand"
	"testing"

	"golang.org/x/net/http2"
)

func TestIsPreface(t *testing.T) {
	f := func(in string, isH2, needMore bool) {
		t.Helper()
		a, b := IsPreface([]byte(in))
		if a != isH2 || b != needMore {
			t.Errorf("IsPreface(%q) = %v,%v want %v,%v", in, a, b, isH2, needMore)
		}
	}
	f("", false, true)
	f("PRI * HT", false, true)
	f(ClientPreface, true, false)
	f(ClientPreface+"\x00\x00", true, false)
	f("GET / HTTP/1.1\r\n", false, false)
	f("PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n", false, false)
}

func TestGetAndPost(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/")...)
	cl.headers(3, false, reqFields("POST", "/echo", "content-length", "5")...)
	cl.fr.WriteData(3, false, []byte("hel"))
	cl.fr.WriteData(3, true, []byte("lo"))
	res, _ := cl.collect(1, 3)
	if r := res[1]; r.status != "200" || string(r.body) != "ok" || r.header["content-type"] != "text/plain" {
		t.Fatalf("GET: %v %v", r, r.header)
	}
	if _, ok := res[1].header["connection"]; ok {
		t.Fatal("connection-specific header forwarded")
	}
	if r := res[3]; r.status != "200" || string(r.body) != "hello" {
		t.Fatalf("POST: %v", r)
	}
	if cl.err != nil || cl.c.Stats().Active != 0 {
		t.Fatalf("err %v active %d", cl.err, cl.c.Stats().Active)
	}
}

func TestRequestAccessors(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	var got []string
	cl.app = newApp(t)
	cl.c.h = handlerFuncs{onRequest: func(s *Stream) {
		got = append(got, string(s.Method()), string(s.Scheme()), string(s.Authority()), string(s.Path()))
		for n, v := range s.Fields() {
			got = append(got, string(n)+"="+string(v))
		}
		s.WriteHeaders(204, nil, true)
	}}
	cl.headers(1, true, reqFields("GET", "/a?b", "cookie", "a=1", "cookie", "b=2", "te", "trailers")...)
	res, _ := cl.collect(1)
	want := "GET http example.com /a?b cookie=a=1 cookie=b=2 te=trailers"
	if s := join(got); s != want || res[1].status != "204" {
		t.Fatalf("got %q status %s, want %q", s, res[1].status, want)
	}
}

func join(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x)
	}
	return b.String()
}

type handlerFuncs struct {
	onRequest  func(s *Stream)
	onData     func(s *Stream, data []byte, end bool)
	onReset    func(s *Stream, code http2.ErrCode)
	onWritable func(s *Stream)
}

func (h handlerFuncs) OnRequest(s *Stream) { h.onRequest(s) }
func (h handlerFuncs) OnData(s *Stream, d []byte, end bool) {
	if h.onData != nil {
		h.onData(s, d, end)
	}
}
func (h handlerFuncs) OnTrailers(s *Stream) {}
func (h handlerFuncs) OnReset(s *Stream, code http2.ErrCode) {
	if h.onReset != nil {
		h.onReset(s, code)
	}
}
func (h handlerFuncs) OnWritable(s *Stream) {
	if h.onWritable != nil {
		h.onWritable(s)
	}
}

func TestHundredConcurrentStreams(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	var ids []uint32
	for i := range 100 {
		id := uint32(2*i + 1)
		ids = append(ids, id)
		cl.headers(id, true, reqFields("GET", "/size/1000")...)
	}
	res, _ := cl.collect(ids...)
	for _, id := range ids {
		if r := res[id]; r.status != "200" || len(r.body) != 1000 {
			t.Fatalf("stream %d: %v", id, r)
		}
	}
	if cl.app.requests != 100 {
		t.Fatalf("requests %d", cl.app.requests)
	}
}

// TestLargeBodyBothWays streams 8 MiB up and the same 8 MiB back on one
// stream: the client honours the server's windows, the server honours the
// client's, and the echo handler consumes request bytes only as it writes
// them, so backpressure runs end to end. Output stays bounded.
func TestLargeBodyBothWays(t *testing.T) {
	const size = 8 << 20
	body := make([]byte, size)
	rand.Read(body)
	cl := newClient(t, Config{MaxPendingOutput: 256 << 10})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/echo")...)
	sendWin, connWin := int64(DefaultInitialWindowSize), int64(DefaultConnWindowSize)
	var got []byte
	sent, maxPending := 0, 0
	done := false
	for iter := 0; !done; iter++ {
		if iter > 100000 {
			t.Fatal("no progress")
		}
		// Send what the windows allow, in 16 KiB frames.
		for sent < size && sendWin > 0 && connWin > 0 {
			n := int(min(int64(16384), sendWin, connWin, int64(size-sent)))
			cl.fr.WriteData(1, sent+n == size, body[sent:sent+n])
			sent += n
			sendWin -= int64(n)
			connWin -= int64(n)
		}
		cl.inbuf = append(cl.inbuf, cl.toSrv.Bytes()...)
		cl.toSrv.Reset()
		n, err := cl.c.Feed(cl.inbuf)
		if err != nil {
			t.Fatal(err)
		}
		cl.inbuf = cl.inbuf[n:]
		maxPending = max(maxPending, len(cl.c.Output()))
		cl.drain()
		for cl.toCli.Len() > 0 {
			f, err := cl.fr.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			switch f := f.(type) {
			case *http2.WindowUpdateFrame:
				if f.StreamID == 0 {
					connWin += int64(f.Increment)
				} else {
					sendWin += int64(f.Increment)
				}
			case *http2.DataFrame:
				got = append(got, f.Data()...)
				if f.Length > 0 {
					cl.fr.WriteWindowUpdate(0, f.Length)
					cl.fr.WriteWindowUpdate(1, f.Length)
				}
				done = f.StreamEnded()
			case *http2.RSTStreamFrame, *http2.GoAwayFrame:
				t.Fatalf("unexpected %v", f)
			}
		}
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("echo mismatch: got %d bytes", len(got))
	}
	if maxPending > 256<<10+16384+64 {
		t.Fatalf("output grew to %d", maxPending)
	}
}

func TestTrailersBothWays(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/trailers", "te", "trailers")...)
	cl.fr.WriteData(1, false, []byte("body"))
	cl.headers(1, true, "x-checksum", "abc", "x-other", "1")
	res, _ := cl.collect(1)
	r := res[1]
	if r.status != "200" || string(r.body) != "ok" || r.trailers["grpc-status"] != "0" || r.trailers["x-req-trailers"] != "2" {
		t.Fatalf("%v trailers %v", r, r.trailers)
	}
	// A trailer block carrying a pseudo-field is malformed.
	cl.headers(3, false, reqFields("POST", "/trailers")...)
	cl.headers(3, true, ":path", "/x")
	if code := cl.expectRST(3); code != http2.ErrCodeProtocol {
		t.Fatalf("code %v", code)
	}
}

func TestResetMidBody(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/hold")...)
	cl.fr.WriteData(1, false, make([]byte, 1000))
	cl.sync()
	cl.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	cl.sync()
	if len(cl.app.resets) != 1 || cl.app.resets[0] != http2.ErrCodeCancel || cl.c.Stats().Active != 0 {
		t.Fatalf("resets %v active %d", cl.app.resets, cl.c.Stats().Active)
	}
	// DATA after the client's own RST_STREAM is a stream error STREAM_CLOSED.
	cl.fr.WriteData(1, false, []byte("x"))
	if code := cl.expectRST(1); code != http2.ErrCodeStreamClosed {
		t.Fatalf("code %v", code)
	}
	// The server resets mid-response; the connection keeps working.
	cl.c.h = handlerFuncs{onRequest: func(s *Stream) {
		s.WriteHeaders(200, nil, false)
		s.WriteData([]byte("partial"), false)
		s.Reset(http2.ErrCodeInternal)
	}}
	cl.headers(3, true, reqFields("GET", "/")...)
	res, _ := cl.collect(3)
	if r := res[3]; r.rst != http2.ErrCodeInternal || string(r.body) != "partial" {
		t.Fatalf("%v", r)
	}
	cl.c.h = cl.app
	cl.headers(5, true, reqFields("GET", "/")...)
	if res, _ := cl.collect(5); res[5].status != "200" {
		t.Fatalf("%v", res[5])
	}
}

func TestGracefulGoAway(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/hold")...)
	cl.headers(3, true, reqFields("GET", "/hold")...)
	cl.sync()
	cl.c.GoAway(true)
	cl.drain()
	ga := cl.expectGoAway()
	if ga.LastStreamID != 1<<31-1 || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("phase 1 GOAWAY %v %v", ga.LastStreamID, ga.ErrCode)
	}
	ping, ok := cl.next().(*http2.PingFrame)
	if !ok || ping.IsAck() {
		t.Fatalf("want PING after first GOAWAY")
	}
	// A request already in flight when draining began is still served.
	cl.headers(5, true, reqFields("GET", "/hold")...)
	cl.fr.WritePing(true, ping.Data)
	cl.sync()
	ga = cl.expectGoAway()
	if ga.LastStreamID != 5 || ga.ErrCode != http2.ErrCodeNo {
		t.Fatalf("phase 2 GOAWAY %v %v", ga.LastStreamID, ga.ErrCode)
	}
	// Streams past the last id are ignored.
	cl.headers(7, true, reqFields("GET", "/")...)
	cl.sync()
	if cl.app.requests != 3 || cl.c.Done() {
		t.Fatalf("requests %d done %v", cl.app.requests, cl.c.Done())
	}
	for _, id := range []uint32{1, 3, 5} {
		cl.app.release(id)
	}
	cl.drain()
	res, _ := cl.collect(1, 3, 5)
	for id, r := range res {
		if r.status != "200" || string(r.body) != "ok" {
			t.Fatalf("stream %d: %v", id, r)
		}
	}
	if !cl.c.Done() {
		t.Fatal("not done after in-flight streams completed")
	}
}

func TestPeerSettingsApplied(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10}, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 15})
	cl.headers(1, true, reqFields("GET", "/size/100")...)
	cl.sync()
	var got int
	for cl.toCli.Len() > 0 {
		if d, ok := cl.next().(*http2.DataFrame); ok {
			got += len(d.Data())
		}
	}
	if got != 10 {
		t.Fatalf("sent %d bytes with a 10-byte window", got)
	}
	// Raising the initial window applies to the open stream and wakes it.
	cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	res, _ := cl.collect(1)
	if len(res[1].body) != 90 {
		t.Fatalf("got %d more bytes", len(res[1].body))
	}
	// Large response headers are split by the peer's max frame size.
	cl.c.h = handlerFuncs{onRequest: func(s *Stream) {
		big := bytes.Repeat([]byte("v"), 40000)
		s.WriteHeaders(200, [][2][]byte{{[]byte("x-big"), big}}, true)
	}}
	cl.headers(3, true, reqFields("GET", "/")...)
	res, _ = cl.collect(3)
	if len(res[3].header["x-big"]) != 40000 {
		t.Fatal("big header lost")
	}
}

func TestPartialFeedByteByByte(t *testing.T) {
	cl := newClient(t, Config{})
	cl.toSrv.WriteString(ClientPreface)
	cl.fr.WriteSettings()
	cl.headers(1, false, reqFields("POST", "/", "content-length", "3")...)
	cl.fr.WriteData(1, true, []byte("abc"))
	in := bytes.Clone(cl.toSrv.Bytes())
	cl.toSrv.Reset()
	var buf []byte
	for _, b := range in {
		buf = append(buf, b)
		n, err := cl.c.Feed(buf)
		if err != nil {
			t.Fatal(err)
		}
		buf = buf[n:]
	}
	if len(buf) != 0 || cl.app.requests != 1 {
		t.Fatalf("left %d, requests %d", len(buf), cl.app.requests)
	}
	cl.drain()
	res, _ := cl.collect(1)
	if res[1].status != "200" {
		t.Fatal(res[1])
	}
}

// TestMalformedRequests: each request violates RFC 9113 §8 and must be
// reset with PROTOCOL_ERROR without reaching the handler.
func TestMalformedRequests(t *testing.T) {
	cases := []struct {
		name   string
		fields []string
	}{
		{"uppercase name", reqFields("GET", "/", "X-Foo", "1")},
		{"connection header", reqFields("GET", "/", "connection", "keep-alive")},
		{"transfer-encoding", reqFields("GET", "/", "transfer-encoding", "chunked")},
		{"upgrade", reqFields("GET", "/", "upgrade", "websocket")},
		{"te not trailers", reqFields("GET", "/", "te", "gzip")},
		{"missing path", []string{":method", "GET", ":scheme", "http", ":authority", "a"}},
		{"missing method", []string{":path", "/", ":scheme", "http"}},
		{"missing scheme", []string{":method", "GET", ":path", "/"}},
		{"empty path", []string{":method", "GET", ":scheme", "http", ":path", ""}},
		{"relative path", []string{":method", "GET", ":scheme", "http", ":path", "a/b"}},
		{"unknown pseudo", reqFields("GET", "/", ":foo", "x")},
		{"status in request", reqFields("GET", "/", ":status", "200")},
		{"duplicate pseudo", reqFields("GET", "/", ":path", "/again")},
		{"pseudo after regular", []string{":method", "GET", "x", "1", ":scheme", "http", ":path", "/"}},
		{"bad value CR", reqFields("GET", "/", "x", "a\rb")},
		{"leading space value", reqFields("GET", "/", "x", " a")},
		{"bad content-length", reqFields("GET", "/", "content-length", "1x")},
		{"differing content-length", reqFields("GET", "/", "content-length", "1", "content-length", "2")},
		{"content-length with END_STREAM", reqFields("GET", "/", "content-length", "3")},
		{"host differs from authority", reqFields("GET", "/", "host", "other.example")},
		{"connect with path", []string{":method", "CONNECT", ":authority", "a:443", ":path", "/"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, Config{})
			cl.handshake()
			cl.headers(1, true, tc.fields...)
			if code := cl.expectRST(1); code != http2.ErrCodeProtocol {
				t.Fatalf("code %v", code)
			}
			if cl.app.requests != 0 {
				t.Fatal("handler saw a malformed request")
			}
		})
	}
}

// TestTETrailersAnyCase: "te: trailers" is the one TE value HTTP/2
// allows, and coding names are case-insensitive: "Trailers" is it too.
func TestTETrailersAnyCase(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/", "te", "Trailers")...)
	if res, _ := cl.collect(1); res[1].status != "200" || cl.app.requests != 1 {
		t.Fatalf("te: Trailers: %v, requests %d", res[1], cl.app.requests)
	}
}

// TestHostCaseInsensitive: a host field that names the :authority's host
// in other letter case is the same host (RFC 3986 §3.2.2), not malformed.
func TestHostCaseInsensitive(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/", "host", "EXAMPLE.com")...)
	if res, _ := cl.collect(1); res[1].status != "200" || cl.app.requests != 1 {
		t.Fatalf("%+v, %d requests", res[1], cl.app.requests)
	}
}

// TestFramesAfterOurResetIgnored: DATA the client sent before it saw our
// RST_STREAM, an empty END_STREAM one included, is ignored (RFC 9113 §5.1
// "closed"), not answered with RST_STREAM(STREAM_CLOSED).
func TestFramesAfterOurResetIgnored(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/hold", "x", "a\rb")...) // malformed: we reset it
	if code := cl.expectRST(1); code != http2.ErrCodeProtocol {
		t.Fatalf("code %v", code)
	}
	cl.fr.WriteData(1, false, []byte("late"))
	cl.fr.WriteData(1, true, nil)
	cl.headers(3, true, reqFields("GET", "/")...)
	res, other := cl.collect(3)
	if res[3].status != "200" {
		t.Fatalf("%+v", res[3])
	}
	for _, f := range other {
		if rst, ok := f.(*http2.RSTStreamFrame); ok {
			t.Fatalf("late frames on a stream we reset got RST_STREAM(%v)", rst.ErrCode)
		}
	}
}

func TestContentLengthMismatch(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, false, reqFields("POST", "/hold", "content-length", "3")...)
	cl.fr.WriteData(1, true, []byte("ab"))
	if code := cl.expectRST(1); code != http2.ErrCodeProtocol {
		t.Fatalf("code %v", code)
	}
	if len(cl.app.resets) != 1 {
		t.Fatal("owner not told")
	}
	cl.headers(3, false, reqFields("POST", "/hold", "content-length", "1")...)
	cl.fr.WriteData(3, false, []byte("ab"))
	if code := cl.expectRST(3); code != http2.ErrCodeProtocol {
		t.Fatalf("code %v", code)
	}
}

func TestConnectionErrors(t *testing.T) {
	cases := []struct {
		name string
		send func(cl *client)
		code http2.ErrCode
	}{
		{"even stream id", func(cl *client) { cl.headers(2, true, reqFields("GET", "/")...) }, http2.ErrCodeProtocol},
		{"decreasing stream id, never opened", func(cl *client) {
			cl.headers(5, true, reqFields("GET", "/")...)
			cl.headers(3, true, reqFields("GET", "/")...)
		}, http2.ErrCodeProtocol},
		{"headers on a closed stream", func(cl *client) {
			cl.headers(3, true, reqFields("GET", "/")...)
			cl.headers(5, true, reqFields("GET", "/")...)
			cl.sync()
			cl.collect(3, 5)
			cl.headers(3, true, reqFields("GET", "/")...)
		}, http2.ErrCodeStreamClosed},
		{"data on idle", func(cl *client) { cl.fr.WriteData(1, true, []byte("x")) }, http2.ErrCodeProtocol},
		{"continuation without headers", func(cl *client) { cl.fr.WriteContinuation(1, true, []byte{0x82}) }, http2.ErrCodeProtocol},
		{"interleaved header block", func(cl *client) {
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: cl.encode(reqFields("GET", "/")...)})
			cl.fr.WritePing(false, [8]byte{})
		}, http2.ErrCodeProtocol},
		{"bad hpack", func(cl *client) {
			cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff}, EndHeaders: true, EndStream: true})
		}, http2.ErrCodeCompression},
		{"conn window overflow", func(cl *client) { cl.fr.WriteWindowUpdate(0, 1<<31-1) }, http2.ErrCodeFlowControl},
		{"zero conn window update", func(cl *client) { cl.fr.WriteRawFrame(http2.FrameWindowUpdate, 0, 0, []byte{0, 0, 0, 0}) }, http2.ErrCodeProtocol},
		{"frame too large", func(cl *client) { cl.fr.WriteRawFrame(http2.FrameData, 0, 1, make([]byte, 20000)) }, http2.ErrCodeFrameSize},
		{"bad settings", func(cl *client) { cl.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) }, http2.ErrCodeProtocol},
		{"push promise", func(cl *client) {
			cl.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, EndHeaders: true})
		}, http2.ErrCodeProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := newClient(t, Config{})
			cl.handshake()
			tc.send(cl)
			ga := cl.expectGoAway()
			if ga.ErrCode != tc.code {
				t.Fatalf("GOAWAY %v, want %v", ga.ErrCode, tc.code)
			}
			if code, ok := connErrCode(cl.err); !ok || code != tc.code {
				t.Fatalf("Feed error %v", cl.err)
			}
			if !cl.c.Done() {
				t.Fatal("not done")
			}
		})
	}
}

func TestBadPreface(t *testing.T) {
	c := NewServerConn(Config{}, newApp(t))
	if _, err := c.Feed([]byte("GET / HTTP/1.1\r\n\r\n")); err == nil {
		t.Fatal("no error")
	}
	c = NewServerConn(Config{}, newApp(t))
	if n, err := c.Feed([]byte(ClientPreface[:10])); n != 0 || err != nil {
		t.Fatal(n, err)
	}
	// The preface must be followed by SETTINGS.
	cl := newClient(t, Config{})
	cl.toSrv.WriteString(ClientPreface)
	cl.fr.WritePing(false, [8]byte{})
	cl.sync()
	if code, _ := connErrCode(cl.err); code != http2.ErrCodeProtocol {
		t.Fatal(cl.err)
	}
}

func TestCloseResetsStreams(t *testing.T) {
	cl := newClient(t, Config{})
	cl.handshake()
	cl.headers(1, true, reqFields("GET", "/hold")...)
	cl.headers(3, true, reqFields("GET", "/hold")...)
	cl.sync()
	cl.c.Close()
	if len(cl.app.resets) != 2 || !cl.c.Done() {
		t.Fatalf("resets %v", cl.app.resets)
	}
	if _, err := cl.app.last.WriteData([]byte("x"), true); err == nil {
		t.Fatal("write after close")
	}
}

// TestValidPseudo: pseudo-header values that would break the HTTP/1.1
// request built from them are malformed (RFC 9113 §8.2.1, §8.3.1).
func TestValidPseudo(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{":method", "GET", true}, {":method", "PROPFIND", true}, {":method", "M-SEARCH", true},
		{":method", "GET /x HTTP/1.1\r\nHost: a\r\n\r\nGET", false}, {":method", "GE T", false}, {":method", "", false},
		{":scheme", "https", true}, {":scheme", "coap+tcp", true}, {":scheme", "http\r\nX: 1", false},
		{":scheme", "http://x/", false}, {":scheme", "1http", false},
		{":authority", "api.example.com:8443", true}, {":authority", "[::1]:80", true},
		{":authority", "a\r\nX-Inj: 1", false}, {":authority", "a b", false}, {":authority", "a\x00", false}, {":authority", "caf\xc3\xa9", false},
		{":path", "/x?y=1", true}, {":path", "*", true}, {":path", "", true},
		{":path", "/x HTTP/1.1\r\nX: 1", false}, {":path", "/a b", false}, {":path", "/a\tb", false},
	} {
		if got := validPseudo(c.name, c.value); got != c.ok {
			t.Errorf("validPseudo(%s, %q) = %v, want %v", c.name, c.value, got, c.ok)
		}
	}
}

func TestParseContentLength(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"5", 5, true}, {"0005", 5, true}, {"0000000000000000000000000000005", 5, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"9223372036854775808", 0, false}, {"10000000000000000000", 0, false},
		{"", 0, false}, {"+5", 0, false}, {"-1", 0, false}, {"5 ", 0, false}, {"0x5", 0, false},
	} {
		if got, ok := parseContentLength(c.in); got != c.want || ok != c.ok {
			t.Errorf("parseContentLength(%q) = %d %v, want %d %v", c.in, got, ok, c.want, c.ok)
		}
	}
}
