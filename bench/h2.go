package bench

// HTTP/2 load: h2c with prior knowledge for http:// targets, h2 over TLS
// (ALPN "h2") for https://. Each connection has one reader goroutine (frames
// in), one sender goroutine (requests out; the only one that opens streams)
// and a watchdog that times out streams; every frame goes out through one
// mutex-guarded bufio.Writer and Framer. The request header block is
// HPACK-encoded once (static-table indexes and never-indexed literals, so no
// dynamic table state is shared with the server) and replayed per stream.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	// h2RecvWindow is what we let the server send per stream and per
	// connection before a WINDOW_UPDATE; big, so the server never waits on us.
	h2RecvWindow = 1 << 30
	// h2UpdateAt is how many received DATA bytes are returned in one
	// WINDOW_UPDATE; small against the window, so it is prompt.
	h2UpdateAt = 1 << 20
	// h2MaxStreamID leaves room before the 31-bit stream ID space runs out;
	// the connection is then replaced.
	h2MaxStreamID = 1<<31 - 1 - 2
	h2DefaultWin  = 65535
)

// h2HeaderBlock HPACK-encodes the request head once. Field names are
// lowercased; connection-specific fields (forbidden in HTTP/2) are dropped
// and Host becomes :authority.
func h2HeaderBlock(method, scheme, authority, path string, headers []string, bodyLen int, withLength bool) ([]byte, error) {
	type field struct{ name, value string }
	var extra []field
	for _, h := range headers {
		name, val, ok := strings.Cut(h, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || strings.ContainsAny(h, "\r\n") {
			return nil, fmt.Errorf("cannot use header %q: want \"Name: value\"", h)
		}
		val = strings.TrimSpace(val)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length":
			continue
		case "host":
			authority = val
			continue
		case "te":
			if val != "trailers" {
				continue
			}
		}
		extra = append(extra, field{name, val})
	}
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	// A zero-size dynamic table: fields are static-table indexes or literals
	// without indexing, so no table state is shared with the server and the
	// block can be replayed on every stream. The dummy field carries the
	// table size update, which is cut off.
	enc.SetMaxDynamicTableSizeLimit(0)
	_ = enc.WriteField(hpack.HeaderField{Name: "x", Value: "x"})
	buf.Reset()
	write := func(name, value string) {
		_ = enc.WriteField(hpack.HeaderField{Name: name, Value: value})
	}
	write(":method", method)
	write(":scheme", scheme)
	write(":authority", authority)
	write(":path", path)
	write("user-agent", "portico-bench")
	for _, f := range extra {
		write(f.name, f.value)
	}
	if withLength {
		write("content-length", strconv.Itoa(bodyLen))
	}
	return bytes.Clone(buf.Bytes()), nil
}

// h2worker drives one connection slot for the run: it dials, runs a
// session until the connection ends (GOAWAY, error, end of run), and
// reconnects. Requests the server declared unprocessed (beyond a GOAWAY's
// last stream) move to the next connection with their original start time.
func (r *loadRun) h2worker(ctx context.Context) {
	var carry []time.Time
	retried := false
	for ctx.Err() == nil {
		if !time.Now().Before(r.end) {
			// After the end only requests already due are retried, once.
			if len(carry) == 0 || retried {
				return
			}
			retried = true
		}
		conn := r.dial(ctx)
		if conn == nil {
			sleepCtx(ctx, 10*time.Millisecond) // don't spin on a dead target
			continue
		}
		s := newH2Session(r, conn)
		var ok bool
		carry, ok = s.run(ctx, carry)
		if !ok {
			sleepCtx(ctx, 10*time.Millisecond)
		}
	}
}

// h2slot is one stream's state. Ownership: the sender fills a free slot and
// publishes it in h2session.streams (under smu); whoever removes it from
// there (reader on completion or reset, watchdog on timeout, reader on
// connection loss) owns it until it goes back on the free channel.
type h2slot struct {
	id     uint32
	start  time.Time // latency origin (intended or actual send)
	sendAt time.Time // timeout origin
	status int       // under smu while published
	recvd  int       // DATA bytes not yet returned to the stream window; under smu
	// Request body flow control, under wmu.
	open    bool
	pending bool
	sendWin int64
	bodyOff int
}

type h2session struct {
	r    *loadRun
	conn net.Conn
	cr   countReader
	br   *bufio.Reader
	rfr  *http2.Framer // reader goroutine only
	dec  *hpack.Decoder
	body []byte

	wmu         sync.Mutex // guards the fields below and all writes
	bw          *bufio.Writer
	wfr         *http2.Framer
	connSendWin int64
	peerInitWin int64
	maxFrame    int
	pendingBody []int32
	werr        error

	smu     sync.Mutex // guards streams, slot status/recvd, goaway, retry
	streams map[uint32]int32
	goaway  bool
	lastID  uint32
	retry   []time.Time

	slots      []h2slot
	free       chan int32
	closing    atomic.Bool
	gotGoAway  atomic.Bool
	dead       chan struct{} // closed when the reader exits
	settings   chan struct{} // closed at the server's first SETTINGS
	maxStreams uint32        // server's limit, written before settings closes
	nextID     uint32        // sender only

	// reader-only
	hdrStream uint32
	hdrStatus int
	hdrEnd    bool
	connRecvd int
}

// countReader counts bytes read from the connection (reader goroutine only).
type countReader struct {
	c net.Conn
	n uint64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.c.Read(p)
	c.n += uint64(n)
	return n, err
}

func newH2Session(r *loadRun, conn net.Conn) *h2session {
	s := &h2session{
		r:           r,
		conn:        conn,
		body:        r.cfg.Body,
		connSendWin: h2DefaultWin,
		peerInitWin: h2DefaultWin,
		maxFrame:    16384,
		streams:     make(map[uint32]int32, r.cfg.Streams),
		dead:        make(chan struct{}),
		settings:    make(chan struct{}),
		maxStreams:  ^uint32(0),
		nextID:      1,
	}
	s.cr.c = conn
	s.br = bufio.NewReaderSize(&s.cr, 64<<10)
	s.bw = bufio.NewWriterSize(conn, 32<<10)
	s.wfr = http2.NewFramer(s.bw, nil)
	s.rfr = http2.NewFramer(nil, s.br)
	s.rfr.SetReuseFrames()
	s.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" && s.hdrStatus == 0 {
			if v, err := strconv.Atoi(f.Value); err == nil {
				s.hdrStatus = v
			}
		}
	})
	s.dec.SetMaxStringLength(64 << 10)
	return s
}

// run speaks HTTP/2 on the connection until it ends. carry holds start
// times of requests to send first. It returns the requests to move to the
// next connection and whether the connection worked at all.
func (s *h2session) run(ctx context.Context, carry []time.Time) ([]time.Time, bool) {
	r := s.r
	defer func() { r.bytes.Add(s.cr.n) }()
	// Preface, our settings and a connection window as large as a stream's.
	s.wmu.Lock()
	_, _ = io.WriteString(s.bw, http2.ClientPreface)
	_ = s.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2RecvWindow},
	)
	_ = s.wfr.WriteWindowUpdate(0, h2RecvWindow-h2DefaultWin)
	err := s.bw.Flush()
	s.wmu.Unlock()
	if err != nil {
		s.closeConn()
		if ctx.Err() == nil {
			r.countErr(ErrKindWrite)
		}
		return carry, false
	}
	go s.readLoop(ctx)
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		s.watchdog(stopWatch)
	}()
	defer func() {
		s.closeConn()
		<-s.dead
		close(stopWatch)
		<-watchDone
	}()
	cancelled := make(chan struct{})
	stopCancel := context.AfterFunc(ctx, func() { s.closeConn(); close(cancelled) })
	defer stopCancel()

	// Wait for the server's SETTINGS: they bound concurrency and windows.
	t := time.NewTimer(r.cfg.Timeout)
	defer t.Stop()
	select {
	case <-s.settings:
	case <-s.dead:
		return carry, false
	case <-t.C:
		r.countErr(ErrKindTimeout)
		return carry, false
	case <-cancelled:
		return carry, false
	}
	n := uint32(r.cfg.Streams)
	if s.maxStreams < n {
		n = s.maxStreams
	}
	if n == 0 {
		r.countErr(ErrKindParse)
		return carry, false
	}
	free := make(chan int32, n)
	for i := range n {
		free <- int32(i)
	}
	s.wmu.Lock() // the reader walks slots under wmu on SETTINGS
	s.slots = make([]h2slot, n)
	s.free = free
	s.wmu.Unlock()

	flushed := true
	flush := func() bool {
		if flushed {
			return true
		}
		flushed = true
		s.wmu.Lock()
		err := s.bw.Flush()
		if err != nil {
			s.werr = err
		}
		s.wmu.Unlock()
		return err == nil
	}
	// Send loop.
	for !s.gotGoAway.Load() && s.nextID < h2MaxStreamID {
		var idx int32
		select {
		case idx = <-s.free:
		default:
			if !flush() {
				goto drain
			}
			select {
			case idx = <-s.free:
			case <-s.dead:
				goto drain
			case <-cancelled:
				goto drain
			}
		}
		var start time.Time
		switch {
		case len(carry) > 0:
			start, carry = carry[0], carry[1:]
		case r.cfg.Max:
			start = time.Now()
			if !start.Before(r.end) {
				s.free <- idx
				goto drain
			}
		default:
			tk := r.next.Add(1) - 1
			intended := r.t0.Add(time.Duration(tk) * r.period)
			if !intended.Before(r.end) {
				s.free <- idx
				goto drain
			}
			if d := time.Until(intended); d > 0 {
				if !flush() {
					s.free <- idx
					carry = append(carry, intended)
					goto drain
				}
				t.Reset(d)
				select {
				case <-t.C:
				case <-s.dead:
					// The ticket is ours: it goes to the next connection.
					s.free <- idx
					carry = append(carry, intended)
					goto drain
				case <-cancelled:
					s.free <- idx
					goto drain
				}
				start = time.Now() // on time: timer slop is ours, not the server's
			} else {
				start = intended // behind: the wait counts (coordinated omission)
			}
		}
		if !s.send(idx, start) {
			// GOAWAY arrived first: the request belongs to the next connection.
			s.free <- idx
			carry = append(carry, start)
			goto drain
		}
		flushed = false
		if !r.cfg.Max {
			// Open loop: each request leaves at its time.
			if !flush() {
				goto drain
			}
		}
	}
drain:
	if !flush() && ctx.Err() == nil {
		r.countErr(ErrKindWrite)
	}
	// Await the streams in flight; the watchdog bounds this by the timeout.
wait:
	for held := 0; held < len(s.slots); held++ {
		select {
		case <-s.free:
		case <-s.dead:
			break wait
		case <-cancelled:
			break wait
		}
	}
	s.closeConn()
	<-s.dead
	s.smu.Lock()
	carry = append(carry, s.retry...)
	s.retry = nil
	s.smu.Unlock()
	return carry, true
}

// send opens a stream on slot idx. It reports false, sending nothing, when
// the server has already said GOAWAY.
func (s *h2session) send(idx int32, start time.Time) bool {
	sl := &s.slots[idx]
	id := s.nextID
	s.nextID += 2
	sendAt := time.Now()
	sl.id, sl.start, sl.sendAt, sl.status, sl.recvd = id, start, sendAt, 0, 0
	s.smu.Lock()
	if s.goaway {
		s.smu.Unlock()
		return false
	}
	s.streams[id] = idx
	s.smu.Unlock()
	s.r.noteSend(sendAt)

	s.wmu.Lock()
	defer s.wmu.Unlock()
	hdr := s.r.h2hdr
	first := hdr
	if len(first) > s.maxFrame {
		first = first[:s.maxFrame]
	}
	noBody := len(s.body) == 0
	err := s.wfr.WriteHeaders(http2.HeadersFrameParam{
		StreamID: id, BlockFragment: first, EndStream: noBody, EndHeaders: len(first) == len(hdr),
	})
	for rest := hdr[len(first):]; err == nil && len(rest) > 0; {
		k := min(len(rest), s.maxFrame)
		err = s.wfr.WriteContinuation(id, k == len(rest), rest[:k])
		rest = rest[k:]
	}
	if err != nil {
		s.werr = err
	}
	if !noBody {
		sl.open, sl.pending, sl.bodyOff = true, false, 0
		sl.sendWin = s.peerInitWin
		s.pushBody(idx)
	}
	return true
}

// pushBody writes as much of slot idx's request body as the windows and
// the frame size allow; the rest waits for WINDOW_UPDATE. Holds wmu.
func (s *h2session) pushBody(idx int32) {
	sl := &s.slots[idx]
	for sl.bodyOff < len(s.body) {
		n := int64(len(s.body) - sl.bodyOff)
		n = min(n, int64(s.maxFrame), s.connSendWin, sl.sendWin)
		if n <= 0 {
			if !sl.pending {
				sl.pending = true
				s.pendingBody = append(s.pendingBody, idx)
			}
			return
		}
		end := sl.bodyOff+int(n) == len(s.body)
		if err := s.wfr.WriteData(sl.id, end, s.body[sl.bodyOff:sl.bodyOff+int(n)]); err != nil {
			s.werr = err
			return
		}
		sl.bodyOff += int(n)
		s.connSendWin -= n
		sl.sendWin -= n
	}
}

// pushPending retries bodies blocked on flow control. Holds wmu.
func (s *h2session) pushPending() {
	list := s.pendingBody
	s.pendingBody = s.pendingBody[:0]
	for _, idx := range list {
		s.slots[idx].pending = false
	}
	for _, idx := range list {
		if s.connSendWin <= 0 {
			if !s.slots[idx].pending {
				s.slots[idx].pending = true
				s.pendingBody = append(s.pendingBody, idx)
			}
			continue
		}
		s.pushBody(idx)
	}
}

// release returns a slot taken out of streams to the sender.
func (s *h2session) release(idx int32) {
	if len(s.body) > 0 {
		s.wmu.Lock()
		sl := &s.slots[idx]
		sl.open = false
		if sl.pending {
			sl.pending = false
			for i, p := range s.pendingBody {
				if p == idx {
					s.pendingBody = append(s.pendingBody[:i], s.pendingBody[i+1:]...)
					break
				}
			}
		}
		s.wmu.Unlock()
	}
	s.free <- idx
}

// take removes stream id from the table, returning its slot.
func (s *h2session) take(id uint32) (int32, bool) {
	s.smu.Lock()
	idx, ok := s.streams[id]
	if ok {
		delete(s.streams, id)
	}
	s.smu.Unlock()
	return idx, ok
}

func (s *h2session) closeConn() {
	if s.closing.CompareAndSwap(false, true) {
		_ = s.conn.Close()
	}
}

// write runs fn under wmu and flushes.
func (s *h2session) write(fn func(*http2.Framer) error) {
	s.wmu.Lock()
	err := fn(s.wfr)
	if err == nil {
		err = s.bw.Flush()
	}
	if err != nil {
		s.werr = err
	}
	s.wmu.Unlock()
}

// complete records the answer on stream id, if it is still ours.
func (s *h2session) complete(id uint32, status int) {
	idx, ok := s.take(id)
	if !ok {
		return // timed out or reset already
	}
	st := s.slots[idx].status
	if status != 0 {
		st = status
	}
	s.r.recordAnswer(s.slots[idx].start, st)
	s.release(idx)
}

// readLoop reads frames until the connection fails or is closed. On exit
// it fails every stream still in flight.
func (s *h2session) readLoop(ctx context.Context) {
	r := s.r
	err := s.readFrames()
	s.smu.Lock()
	lost := len(s.streams)
	idxs := make([]int32, 0, lost)
	for id, idx := range s.streams {
		delete(s.streams, id)
		idxs = append(idxs, idx)
	}
	graceful := s.goaway
	s.smu.Unlock()
	if !s.closing.Load() && ctx.Err() == nil {
		kind := ErrKindRead
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			kind = ErrKindTimeout
		case errors.Is(err, errH2Proto):
			kind = ErrKindParse
		}
		if lost > 0 || !graceful {
			for range max(lost, 1) {
				r.countErr(kind)
			}
		}
	}
	for _, idx := range idxs {
		s.release(idx)
	}
	close(s.dead)
}

var errH2Proto = errors.New("HTTP/2 protocol error from server")

func (s *h2session) readFrames() error {
	settingsSeen := false
	for {
		f, err := s.rfr.ReadFrame()
		if err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return fmt.Errorf("%w: %v", errH2Proto, err)
			}
			var se http2.StreamError
			if errors.As(err, &se) {
				// A malformed frame on one stream: reset it, go on.
				if idx, ok := s.take(se.StreamID); ok {
					s.r.countErr(ErrKindParse)
					s.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(se.StreamID, http2.ErrCodeProtocol) })
					s.release(idx)
				}
				continue
			}
			return err
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			s.onData(f)
		case *http2.HeadersFrame:
			if s.hdrStream != 0 {
				return fmt.Errorf("%w: HEADERS inside a header block", errH2Proto)
			}
			s.hdrStream, s.hdrStatus, s.hdrEnd = f.StreamID, 0, f.StreamEnded()
			if err := s.onHeaderFragment(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
				return err
			}
		case *http2.ContinuationFrame:
			if s.hdrStream != f.StreamID {
				return fmt.Errorf("%w: stray CONTINUATION", errH2Proto)
			}
			if err := s.onHeaderFragment(f.HeaderBlockFragment(), f.HeadersEnded()); err != nil {
				return err
			}
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if err := s.onSettings(f, !settingsSeen); err != nil {
				return err
			}
			if !settingsSeen {
				settingsSeen = true
				close(s.settings)
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				s.write(func(fr *http2.Framer) error { return fr.WritePing(true, data) })
			}
		case *http2.WindowUpdateFrame:
			s.wmu.Lock()
			if f.StreamID == 0 {
				s.connSendWin += int64(f.Increment)
			} else {
				s.smu.Lock()
				idx, ok := s.streams[f.StreamID]
				s.smu.Unlock()
				if ok && s.slots[idx].open {
					s.slots[idx].sendWin += int64(f.Increment)
				}
			}
			if len(s.pendingBody) > 0 {
				s.pushPending()
				if err := s.bw.Flush(); err != nil {
					s.werr = err
				}
			}
			s.wmu.Unlock()
		case *http2.RSTStreamFrame:
			if idx, ok := s.take(f.StreamID); ok {
				s.r.countErr(ErrKindRST)
				s.release(idx)
			}
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				s.r.countErr(ErrKindGoAway)
			}
			s.onGoAway(f.LastStreamID)
		case *http2.PushPromiseFrame:
			return fmt.Errorf("%w: PUSH_PROMISE although disabled", errH2Proto)
		default:
			// PRIORITY and unknown frame types are ignored (RFC 9113 5.5).
		}
	}
}

func (s *h2session) onData(f *http2.DataFrame) {
	n := int(f.Header().Length) // padding counts against flow control too
	var streamInc uint32
	s.smu.Lock()
	idx, ok := s.streams[f.StreamID]
	if ok && n > 0 && !f.StreamEnded() {
		sl := &s.slots[idx]
		sl.recvd += n
		if sl.recvd >= h2UpdateAt {
			streamInc, sl.recvd = uint32(sl.recvd), 0
		}
	}
	s.smu.Unlock()
	s.connRecvd += n
	if s.connRecvd >= h2UpdateAt || streamInc > 0 {
		connInc := uint32(0)
		if s.connRecvd >= h2UpdateAt {
			connInc, s.connRecvd = uint32(s.connRecvd), 0
		}
		id := f.StreamID
		s.write(func(fr *http2.Framer) error {
			if connInc > 0 {
				if err := fr.WriteWindowUpdate(0, connInc); err != nil {
					return err
				}
			}
			if streamInc > 0 {
				return fr.WriteWindowUpdate(id, streamInc)
			}
			return nil
		})
	}
	if f.StreamEnded() {
		s.complete(f.StreamID, 0)
	}
}

func (s *h2session) onHeaderFragment(frag []byte, end bool) error {
	if _, err := s.dec.Write(frag); err != nil {
		return fmt.Errorf("%w: HPACK: %v", errH2Proto, err)
	}
	if !end {
		return nil
	}
	if err := s.dec.Close(); err != nil {
		return fmt.Errorf("%w: HPACK: %v", errH2Proto, err)
	}
	id, status, ended := s.hdrStream, s.hdrStatus, s.hdrEnd
	s.hdrStream = 0
	if status >= 100 && status < 200 {
		return nil // informational; the final head follows
	}
	if ended {
		s.complete(id, status)
		return nil
	}
	if status != 0 { // trailers carry none and must not clear it
		s.smu.Lock()
		if idx, ok := s.streams[id]; ok {
			s.slots[idx].status = status
		}
		s.smu.Unlock()
	}
	return nil
}

func (s *h2session) onSettings(f *http2.SettingsFrame, first bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := f.ForeachSetting(func(st http2.Setting) error {
		if err := st.Valid(); err != nil {
			return err
		}
		switch st.ID {
		case http2.SettingMaxFrameSize:
			s.maxFrame = int(st.Val)
		case http2.SettingInitialWindowSize:
			delta := int64(st.Val) - s.peerInitWin
			s.peerInitWin = int64(st.Val)
			for i := range s.slots {
				if s.slots[i].open {
					s.slots[i].sendWin += delta
				}
			}
		case http2.SettingMaxConcurrentStreams:
			// Only the first SETTINGS sizes the slots; a later, lower
			// limit shows up as refused streams (rst_stream).
			if first {
				s.maxStreams = st.Val
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%w: %v", errH2Proto, err)
	}
	if err := s.wfr.WriteSettingsAck(); err != nil {
		return err
	}
	if len(s.pendingBody) > 0 {
		s.pushPending()
	}
	return s.bw.Flush()
}

// onGoAway stops new streams; streams above last were not processed and
// move to the next connection with their start times.
func (s *h2session) onGoAway(last uint32) {
	s.gotGoAway.Store(true)
	var idxs [64]int32
	for {
		n := 0
		s.smu.Lock()
		s.goaway, s.lastID = true, last
		for id, idx := range s.streams {
			if id > last && n < len(idxs) {
				delete(s.streams, id)
				s.retry = append(s.retry, s.slots[idx].start)
				idxs[n] = idx
				n++
			}
		}
		s.smu.Unlock()
		for _, idx := range idxs[:n] {
			s.release(idx)
		}
		if n < len(idxs) {
			break
		}
	}
	// Nothing left to answer: end the connection now.
	s.smu.Lock()
	idle := len(s.streams) == 0
	s.smu.Unlock()
	if idle {
		s.closeConn()
	}
}

// watchdog times out streams that were sent more than the timeout ago,
// resetting them so late answers are ignored.
func (s *h2session) watchdog(stop <-chan struct{}) {
	timeout := s.r.cfg.Timeout
	tick := min(max(timeout/20, 5*time.Millisecond), 250*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	var ids []uint32
	var idxs []int32
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			ids, idxs = ids[:0], idxs[:0]
			s.smu.Lock()
			for id, idx := range s.streams {
				if now.Sub(s.slots[idx].sendAt) >= timeout {
					delete(s.streams, id)
					ids = append(ids, id)
					idxs = append(idxs, idx)
				}
			}
			s.smu.Unlock()
			if len(ids) == 0 {
				continue
			}
			s.write(func(fr *http2.Framer) error {
				for _, id := range ids {
					if err := fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
						return err
					}
				}
				return nil
			})
			for _, idx := range idxs {
				if !s.closing.Load() {
					s.r.countErr(ErrKindTimeout)
				}
				s.release(idx)
			}
		}
	}
}
