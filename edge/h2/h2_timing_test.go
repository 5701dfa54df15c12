package h2

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// benchHandler answers every request with 200, two fields and "ok".
type benchHandler struct{}

var (
	benchCT   = []byte("content-type")
	benchText = []byte("text/plain")
	benchSrv  = []byte("server")
	benchName = []byte("portico")
	benchBody = []byte("ok")
)

func (benchHandler) OnRequest(s *Stream) {
	s.WriteHeadersFunc(200, false, func(e *HeaderEncoder) {
		e.Add(benchCT, benchText)
		e.Add(benchSrv, benchName)
	})
	s.WriteData(benchBody, true)
}
func (benchHandler) OnData(s *Stream, d []byte, end bool)  { s.Consumed(len(d)) }
func (benchHandler) OnTrailers(s *Stream)                  {}
func (benchHandler) OnReset(s *Stream, code http2.ErrCode) {}
func (benchHandler) OnWritable(s *Stream)                  {}

// BenchmarkGET: one GET per op through Feed (HEADERS, browser-like
// fields, steady-state HPACK), WriteHeaders and WriteData, then draining
// Output. Every 1000 requests a connection WINDOW_UPDATE is fed, as a
// client reading the responses would send.
func BenchmarkGET(b *testing.B) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	fields := append(reqFields("GET", "/v1/orders/123"),
		"user-agent", "bench/1.0", "accept", "*/*", "accept-encoding", "gzip, br",
		"x-request-id", "0123456789abcdef")
	encode := func() []byte {
		hb.Reset()
		for i := 0; i < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	var wb bytes.Buffer
	fr := http2.NewFramer(&wb, nil)
	wb.WriteString(ClientPreface)
	fr.WriteSettings()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: encode(), EndStream: true, EndHeaders: true})
	first := bytes.Clone(wb.Bytes())
	wb.Reset()
	// Later requests hit the dynamic table: the same bytes, new stream id.
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: encode(), EndStream: true, EndHeaders: true})
	req := bytes.Clone(wb.Bytes())
	wb.Reset()
	fr.WriteWindowUpdate(0, 2000) // what 1000 responses of 2 bytes used
	wu := bytes.Clone(wb.Bytes())

	c := NewServerConn(Config{MaxStreamsPerConn: 1<<31 - 1}, benchHandler{})
	if _, err := c.Feed(first); err != nil {
		b.Fatal(err)
	}
	c.ConsumeOutput(len(c.Output()))
	id := uint32(3)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint32(req[5:], id)
		id += 2
		if _, err := c.Feed(req); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			c.Feed(wu)
		}
		c.ConsumeOutput(len(c.Output()))
	}
}
