package h2

import (
	"bytes"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fuzzSeed builds a frame sequence (after the preface) with a real Framer.
func fuzzSeed(write func(fr *http2.Framer, enc func(...string) []byte)) []byte {
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	he := hpack.NewEncoder(&hb)
	enc := func(f ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(f); i += 2 {
			he.WriteField(hpack.HeaderField{Name: f[i], Value: f[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
	write(fr, enc)
	return out.Bytes()
}

// FuzzServerConn feeds arbitrary frame sequences after the preface to a
// connection whose handler answers every request: no panic, Output and the
// stream count stay bounded.
func FuzzServerConn(f *testing.F) {
	f.Add(fuzzSeed(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
	}))
	f.Add(fuzzSeed(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(reqFields("POST", "/echo")...), EndHeaders: true})
		fr.WriteData(1, false, []byte("hello"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc("x-t", "1"), EndStream: true, EndHeaders: true})
		fr.WriteWindowUpdate(1, 1000)
		fr.WriteWindowUpdate(0, 1000)
	}))
	f.Add(fuzzSeed(func(fr *http2.Framer, enc func(...string) []byte) {
		b := enc(reqFields("GET", "/size/5000")...)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b[:3], EndStream: true})
		fr.WriteContinuation(3, true, b[3:])
		fr.WritePing(false, [8]byte{1})
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
		fr.WritePriority(5, http2.PriorityParam{StreamDep: 5})
		fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	// Over MaxHeaderBytes (4096 below): decoded, then past the encoded cap.
	f.Add(fuzzSeed(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(reqFields("GET", "/", "x-big", string(bytes.Repeat([]byte("a"), 5000)))...), EndStream: true, EndHeaders: true})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: enc(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: enc(reqFields("GET", "/", "x-big", string(bytes.Repeat([]byte{0xfe}, 9000)))...), EndStream: true, EndHeaders: true})
	}))
	// Answered before the body ends: the body is drained, then the stream
	// is reused as a lower id (PROTOCOL_ERROR) or a closed one.
	f.Add(fuzzSeed(func(fr *http2.Framer, enc func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(reqFields("POST", "/early")...), EndHeaders: true})
		fr.WriteData(1, false, []byte("dropped"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: enc(reqFields("POST", "/early", "content-length", "3")...), EndHeaders: true})
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
		fr.WriteData(1, true, nil)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(reqFields("GET", "/")...), EndStream: true, EndHeaders: true})
	}))
	f.Fuzz(func(t *testing.T, in []byte) {
		var app Handler = newApp(t)
		if len(in)%2 == 1 {
			// Half the inputs run with the owner answering over-size blocks.
			app = &bigApp{appHandler: app.(*appHandler)}
		}
		c := NewServerConn(Config{MaxConcurrentStreams: 8, MaxPendingOutput: 64 << 10, MaxHeaderBytes: 4096}, app)
		buf := append([]byte(ClientPreface), in...)
		// Feed in two pieces to cover partial frames.
		half := len(buf) / 2
		n, err := c.Feed(buf[:half])
		rest := append(buf[n:half:half], buf[half:]...)
		if err == nil {
			_, err = c.Feed(rest)
		}
		_ = err
		if c.active > 8 || len(c.streams) > 8 || c.draining < 0 || c.draining > c.active {
			t.Fatalf("%d streams active, %d draining", c.active, c.draining)
		}
		if p := len(c.Output()); p > 64<<10+controlSlack+64<<10 {
			t.Fatalf("output %d", p)
		}
		c.ConsumeOutput(len(c.Output()))
		c.GoAway(true)
		c.Close()
		if c.active != 0 || c.draining != 0 {
			t.Fatal("streams left after Close")
		}
	})
}
