package h2

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// fakeClock is a Config.Now that tests advance by hand.
type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time { return f.t }

// appState is what appHandler keeps per stream in Stream.Data.
type appState struct {
	body     bytes.Buffer
	pending  []byte // response bytes not yet taken by WriteData
	reqEnded bool
	answered bool        // answerEarly: the response is complete (maybe queued for window); request data is dropped
	trailers [][2][]byte // request trailers seen
	got      int         // /early-full: body bytes received
}

// appHandler is a small origin: it answers at the end of the request.
// Paths: /echo streams the request body back as it arrives (honouring
// backpressure: bytes are Consumed only once written); /size/N answers N
// bytes; /trailers answers "ok" plus trailers; /hold answers only when
// release is called; anything else answers "ok".
type appHandler struct {
	t        testing.TB
	requests int
	resets   []http2.ErrCode
	resetIDs []uint32
	streams  map[uint32]*Stream // held streams (/hold)
	last     *Stream
	body     []byte // default response body; nil means "ok"
}

func newApp(t testing.TB) *appHandler {
	return &appHandler{t: t, streams: map[uint32]*Stream{}}
}

func (a *appHandler) OnRequest(s *Stream) {
	a.requests++
	a.last = s
	st := &appState{}
	s.Data = st
	switch p := string(s.Path()); {
	case p == "/echo":
		if err := s.WriteHeaders(200, [][2][]byte{{[]byte("content-type"), []byte("application/octet-stream")}}, false); err != nil {
			a.t.Errorf("WriteHeaders: %v", err)
		}
		if s.EndStream() {
			s.WriteData(nil, true)
		}
		return
	case p == "/hold":
		a.streams[s.ID()] = s
		return
	case p == "/early":
		a.answerEarly(s, 413)
		return
	case p == "/early-ok":
		a.answerEarly(s, 200)
		return
	}
	if s.EndStream() {
		a.respond(s)
	}
}

func (a *appHandler) OnData(s *Stream, data []byte, end bool) {
	st := s.Data.(*appState)
	if st.answered {
		// The early answer may still wait for window (its END_STREAM not
		// sent), so the request's data keeps coming: drop it.
		s.Consumed(len(data))
		return
	}
	if string(s.Path()) == "/echo" {
		st.pending = append(st.pending, data...)
		st.reqEnded = end
		a.flush(s)
		return
	}
	if string(s.Path()) == "/noconsume" {
		// Holds every body byte unconsumed, as the gateway does while a
		// content-length upload waits for its first bytes.
		st.got += len(data)
		return
	}
	if string(s.Path()) == "/early-full" {
		// Answers once a whole stream window has arrived, consuming none
		// of it: a stalled upload answered early.
		st.got += len(data)
		if st.got >= int(s.c.cfg.InitialWindowSize) || end {
			a.answerEarly(s, 413)
		}
		return
	}
	st.body.Write(data)
	s.Consumed(len(data))
	if end && string(s.Path()) != "/hold" {
		a.respond(s)
	}
}

func (a *appHandler) OnTrailers(s *Stream) {
	st := s.Data.(*appState)
	if st.answered {
		return
	}
	for n, v := range s.Trailers() {
		st.trailers = append(st.trailers, [2][]byte{bytes.Clone(n), bytes.Clone(v)})
	}
	if string(s.Path()) == "/echo" {
		st.reqEnded = true
		a.flush(s)
		return
	}
	if string(s.Path()) != "/hold" {
		a.respond(s)
	}
}

func (a *appHandler) OnReset(s *Stream, code http2.ErrCode) {
	a.resets = append(a.resets, code)
	a.resetIDs = append(a.resetIDs, s.ID())
	delete(a.streams, s.ID())
}

func (a *appHandler) OnWritable(s *Stream) { a.flush(s) }

// flush writes pending response bytes; for /echo it consumes request bytes
// only as they are written, which is how a proxy applies backpressure.
func (a *appHandler) flush(s *Stream) {
	st := s.Data.(*appState)
	n, err := s.WriteData(st.pending, st.reqEnded || st.answered)
	if err != nil {
		a.t.Errorf("WriteData: %v", err)
		return
	}
	if string(s.Path()) == "/echo" && n > 0 {
		s.Consumed(n)
	}
	st.pending = st.pending[n:]
}

func (a *appHandler) respond(s *Stream) {
	st := s.Data.(*appState)
	p := string(s.Path())
	switch {
	case len(p) > 6 && p[:6] == "/size/":
		n, _ := strconv.Atoi(p[6:])
		st.pending = bytes.Repeat([]byte("x"), n)
	case p == "/trailers":
		if err := s.WriteHeaders(200, nil, false); err != nil {
			a.t.Errorf("WriteHeaders: %v", err)
		}
		s.WriteData([]byte("ok"), false)
		hdr := [][2][]byte{{[]byte("Grpc-Status"), []byte("0")}, {[]byte("x-req-trailers"), []byte(strconv.Itoa(len(st.trailers)))}}
		if err := s.WriteTrailers(hdr); err != nil {
			a.t.Errorf("WriteTrailers: %v", err)
		}
		return
	default:
		st.pending = []byte("ok")
		if a.body != nil {
			st.pending = a.body
		}
	}
	if err := s.WriteHeaders(200, [][2][]byte{{[]byte("Content-Type"), []byte("text/plain")}, {[]byte("Connection"), []byte("close")}}, false); err != nil {
		a.t.Errorf("WriteHeaders: %v", err)
	}
	st.reqEnded = true
	a.flush(s)
}

// answerEarly completes a response whatever the state of the request, as
// the edge does for a body over max_body_bytes (413) or a direct response.
func (a *appHandler) answerEarly(s *Stream, status int) {
	if err := s.WriteHeaders(status, [][2][]byte{{[]byte("content-type"), []byte("text/plain")}}, false); err != nil {
		a.t.Errorf("WriteHeaders: %v", err)
	}
	st := s.Data.(*appState)
	st.answered = true
	st.pending = []byte("too large")
	a.flush(s) // the rest, if the window is short, on OnWritable
}

// release answers a held stream.
func (a *appHandler) release(id uint32) {
	s := a.streams[id]
	delete(a.streams, id)
	a.respond(s)
}

// client is an HTTP/2 client made of x/net/http2's Framer over in-memory
// buffers, wired to a ServerConn.
type client struct {
	t     testing.TB
	c     *ServerConn
	app   *appHandler
	toSrv bytes.Buffer // written by the client Framer
	inbuf []byte       // fed to the server, not yet consumed
	toCli bytes.Buffer // server output not yet read by the client
	fr    *http2.Framer
	hbuf  bytes.Buffer
	enc   *hpack.Encoder
	err   error // the error Feed returned, if any
	// noDrain models a client that never reads: Output is left queued.
	noDrain bool
}

func newClient(t testing.TB, cfg Config) *client {
	cl := &client{t: t, app: newApp(t)}
	cl.c = NewServerConn(cfg, cl.app)
	cl.fr = http2.NewFramer(&cl.toSrv, &cl.toCli)
	cl.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cl.fr.MaxHeaderListSize = 1 << 20
	cl.enc = hpack.NewEncoder(&cl.hbuf)
	return cl
}

// handshake sends the preface and SETTINGS and checks the server's
// SETTINGS, connection WINDOW_UPDATE and SETTINGS ACK.
func (cl *client) handshake(settings ...http2.Setting) {
	cl.t.Helper()
	cl.toSrv.WriteString(ClientPreface)
	if err := cl.fr.WriteSettings(settings...); err != nil {
		cl.t.Fatal(err)
	}
	cl.sync()
	f := cl.next()
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		cl.t.Fatalf("first frame %v, want SETTINGS", f)
	}
	for {
		f := cl.next()
		if sf, ok := f.(*http2.SettingsFrame); ok && sf.IsAck() {
			return
		}
	}
}

// sync feeds what the client wrote (in odd-sized pieces, to exercise
// partial frames) and collects the server's output.
func (cl *client) sync() {
	cl.inbuf = append(cl.inbuf, cl.toSrv.Bytes()...)
	cl.toSrv.Reset()
	for step := 7; len(cl.inbuf) > 0 && cl.err == nil; step = step*3 + 1 {
		end := min(len(cl.inbuf), step)
		n, err := cl.c.Feed(cl.inbuf[:end])
		cl.inbuf = cl.inbuf[n:]
		cl.err = err
		if n == 0 && end == len(cl.inbuf) {
			break
		}
	}
	cl.drain()
}

func (cl *client) drain() {
	if cl.noDrain {
		return
	}
	out := cl.c.Output()
	cl.toCli.Write(out)
	cl.c.ConsumeOutput(len(out))
}

// next reads one server frame, failing the test when there is none.
func (cl *client) next() http2.Frame {
	cl.t.Helper()
	f, err := cl.read()
	if err != nil {
		cl.t.Fatalf("reading server frame: %v", err)
	}
	return f
}

func (cl *client) read() (http2.Frame, error) {
	if cl.toCli.Len() == 0 {
		cl.sync()
	}
	if cl.toCli.Len() == 0 {
		return nil, io.EOF
	}
	return cl.fr.ReadFrame()
}

func (cl *client) encode(fields ...string) []byte {
	cl.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		cl.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(cl.hbuf.Bytes())
}

func reqFields(method, path string, extra ...string) []string {
	return append([]string{":method", method, ":scheme", "http", ":path", path, ":authority", "example.com"}, extra...)
}

func (cl *client) headers(id uint32, end bool, fields ...string) {
	cl.t.Helper()
	if err := cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cl.encode(fields...), EndStream: end, EndHeaders: true}); err != nil {
		cl.t.Fatal(err)
	}
}

// response collects one stream's response.
type response struct {
	status   string
	header   map[string]string
	body     []byte
	trailers map[string]string
	rst      http2.ErrCode
	reset    bool
	done     bool
}

// collect reads frames until every listed stream has ended, answering
// server flow control with WINDOW_UPDATEs as a real client would. Other
// frames are returned in order.
func (cl *client) collect(ids ...uint32) (map[uint32]*response, []http2.Frame) {
	cl.t.Helper()
	res := map[uint32]*response{}
	for _, id := range ids {
		res[id] = &response{header: map[string]string{}, trailers: map[string]string{}}
	}
	var other []http2.Frame
	deadline := time.Now().Add(10 * time.Second)
	for remaining := len(ids); remaining > 0; {
		if time.Now().After(deadline) {
			cl.t.Fatalf("timeout collecting responses")
		}
		f, err := cl.read()
		if err == io.EOF {
			cl.t.Fatalf("server went quiet with %d streams open (err %v)", remaining, cl.err)
		}
		if err != nil {
			cl.t.Fatal(err)
		}
		r := res[f.Header().StreamID]
		if r == nil {
			other = append(other, f)
			continue
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			target := r.header
			if r.status != "" {
				target = r.trailers
			}
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					r.status = hf.Value
				} else {
					target[hf.Name] = hf.Value
				}
			}
		case *http2.DataFrame:
			r.body = append(r.body, f.Data()...)
			if n := f.Length; n > 0 {
				cl.fr.WriteWindowUpdate(0, n)
				if !f.StreamEnded() {
					cl.fr.WriteWindowUpdate(f.StreamID, n)
				}
			}
		case *http2.RSTStreamFrame:
			r.rst, r.reset = f.ErrCode, true
			if !r.done {
				r.done = true
				remaining--
			}
			continue
		default:
			other = append(other, f)
			continue
		}
		if f.Header().Flags.Has(http2.FlagDataEndStream) && !r.done {
			r.done = true
			remaining--
		}
	}
	return res, other
}

// expectGoAway reads until a GOAWAY and returns it.
func (cl *client) expectGoAway() *http2.GoAwayFrame {
	cl.t.Helper()
	for range 100000 {
		f, err := cl.read()
		if err != nil {
			cl.t.Fatalf("no GOAWAY: %v (feed err %v)", err, cl.err)
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			return ga
		}
	}
	cl.t.Fatal("no GOAWAY")
	return nil
}

// expectRST reads until a RST_STREAM for id.
func (cl *client) expectRST(id uint32) http2.ErrCode {
	cl.t.Helper()
	for range 100000 {
		f, err := cl.read()
		if err != nil {
			cl.t.Fatalf("no RST_STREAM for %d: %v (feed err %v)", id, err, cl.err)
		}
		if rf, ok := f.(*http2.RSTStreamFrame); ok && rf.StreamID == id {
			return rf.ErrCode
		}
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			cl.t.Fatalf("GOAWAY %v while waiting for RST_STREAM on %d", ga.ErrCode, id)
		}
	}
	return 0
}

func connErrCode(err error) (http2.ErrCode, bool) {
	var ce *ConnError
	if errors.As(err, &ce) {
		return ce.Code, true
	}
	return 0, false
}

func (r *response) String() string {
	return fmt.Sprintf("status=%s body=%dB rst=%v", r.status, len(r.body), r.rst)
}
