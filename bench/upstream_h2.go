package bench

// h2c with prior knowledge on the origin's port: a connection whose first
// bytes are the HTTP/2 client preface is handed to edge/h2's sans-I/O
// ServerConn, driven from the same gnet event loop as HTTP/1.1. Responses
// are described once per Upstream (status, fields, body); per stream the
// loop only picks one, writes its HEADERS and DATA, and recycles the
// stream's small exchange record, so the hot path allocates nothing.

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/net/http2"

	"github.com/portico-gw/portico/edge/h2"
)

const (
	// h2HighWater: past this many bytes in gnet's outbound buffer the
	// connection stops moving ServerConn output to the socket, so a client
	// that does not read holds at most this plus h2.Config.MaxPendingOutput.
	h2HighWater = 2 << 20
	// h2StallPoll is how often a stalled connection checks that its socket
	// drained (gnet has no "writable" callback for the handler).
	h2StallPoll = time.Millisecond
	// h2DelayQueue bounds the streams waiting out their delay on one
	// connection; MaxConcurrentStreams keeps it from filling.
	h2DelayQueue = 4096
)

// h2Config is the ServerConn configuration of the origin: the defaults of
// edge/h2, except that the DoS defences that could end a legitimate load
// test's connection (a load generator that cancels many streams on
// timeout, or runs more than a million streams on one connection) are
// relaxed; an origin for benchmarks trusts its client.
var h2Config = h2.Config{
	MaxConcurrentStreams:      1024,
	MaxResetsPerSecond:        1 << 20,
	MaxControlFramesPerSecond: 1 << 20,
	MaxStreamsPerConn:         1 << 30,
}

// h2Resp is one pre-built HTTP/2 response. A nil body ends the stream with
// the HEADERS frame.
type h2Resp struct {
	status int
	fields [][2][]byte
	body   []byte
}

// h2Responses are the origin's HTTP/2 answers, read-only once built.
type h2Responses struct {
	resp, fail, health h2Resp
}

func buildH2Responses(status int, body []byte, chunked bool) h2Responses {
	return h2Responses{
		resp:   buildH2Resp(status, body, chunked),
		fail:   buildH2Resp(500, []byte("injected failure\n"), false),
		health: buildH2Resp(200, []byte("ok\n"), false),
	}
}

// buildH2Resp mirrors buildResponse: the same fields, and no content-length
// for a "chunked" body, which over HTTP/2 is just DATA frames.
func buildH2Resp(status int, body []byte, chunked bool) h2Resp {
	r := h2Resp{status: status, fields: [][2][]byte{
		{[]byte("server"), []byte("portico-bench")},
		{[]byte("content-type"), []byte("text/plain")},
	}}
	if status == 204 || status == 304 || status < 200 {
		return r
	}
	if !chunked {
		r.fields = append(r.fields, [2][]byte{[]byte("content-length"), strconv.AppendInt(nil, int64(len(body)), 10)})
	}
	if len(body) > 0 {
		r.body = body
	}
	return r
}

// h2Exchange is one stream's answer in progress; pooled per connection.
type h2Exchange struct {
	s       *h2.Stream
	r       *h2Resp
	head    bool // HEAD: the fields without the body
	off     int  // body bytes already handed to WriteData
	sending bool // headers written, body waiting for OnWritable
	waiting bool // in h2Conn.waiting, serving its delay
}

// h2Conn is the HTTP/2 side of one origin connection; it is the
// ServerConn's Handler and is owned by the connection's event loop, except
// for delay, whose goroutine talks to the loop through its ready list.
type h2Conn struct {
	u       *Upstream
	c       gnet.Conn // nil when driven without a socket (benchmarks)
	sc      *h2.ServerConn
	free    []*h2Exchange
	waiting map[uint32]*h2Exchange // delay mode: streams serving their delay
	delay   *h2Delayer
	due     []uint32 // the delayer's ready list, taken over by the loop
	stall   *time.Timer
}

func (u *Upstream) newH2Conn(c gnet.Conn) *h2Conn {
	hc := &h2Conn{u: u, c: c}
	hc.sc = h2.NewServerConn(h2Config, hc)
	if u.cfg.Delay.enabled() && c != nil {
		hc.waiting = make(map[uint32]*h2Exchange)
		hc.delay = &h2Delayer{in: make(chan h2Due, h2DelayQueue), c: c}
		go hc.delay.run()
	}
	return hc
}

// switchToH2 turns a connection whose first bytes are the client preface
// into an HTTP/2 one; HTTP/1.1's delayed-answer writer is not needed.
func (u *Upstream) switchToH2(c gnet.Conn, st *upConn) {
	if st.delayed != nil {
		close(st.delayed)
		st.delayed = nil
	}
	st.h2 = u.newH2Conn(c)
}

// traffic answers the streams whose delay ran out, feeds what arrived to
// the ServerConn and writes everything it produced in one go.
func (hc *h2Conn) traffic() gnet.Action {
	c := hc.c
	hc.answerDue()
	buf, _ := c.Peek(-1)
	var ferr error
	if len(buf) > 0 {
		n, err := hc.sc.Feed(buf)
		if n > 0 {
			_, _ = c.Discard(n)
		}
		ferr = err
	}
	if err := hc.flush(); err != nil || ferr != nil {
		return gnet.Close // a connection error's GOAWAY is in gnet's buffer, sent on close
	}
	if hc.sc.Done() && len(hc.sc.Output()) == 0 {
		return gnet.Close
	}
	return gnet.None
}

// flush moves the ServerConn's output to the socket. ConsumeOutput may let
// blocked streams write more (OnWritable), hence the loop; it stops while
// gnet's outbound buffer is over h2HighWater and polls until it drains.
func (hc *h2Conn) flush() error {
	c := hc.c
	for {
		out := hc.sc.Output()
		if len(out) == 0 {
			return nil
		}
		if c.OutboundBuffered() > h2HighWater {
			if hc.stall == nil {
				hc.stall = time.AfterFunc(h2StallPoll, func() { _ = c.Wake(nil) })
			} else {
				hc.stall.Reset(h2StallPoll)
			}
			return nil
		}
		if err := writeOut(c, out); err != nil {
			return err
		}
		hc.sc.ConsumeOutput(len(out))
	}
}

// close tears the connection down: open streams get OnReset, the delay
// goroutine and the stall poll stop.
func (hc *h2Conn) close() {
	hc.sc.Close()
	if hc.delay != nil {
		close(hc.delay.in)
		hc.delay = nil
	}
	if hc.stall != nil {
		hc.stall.Stop()
	}
}

// OnRequest implements h2.Handler: it picks the answer as the HTTP/1.1
// path does and sends it once the request has ended.
func (hc *h2Conn) OnRequest(s *h2.Stream) {
	u := hc.u
	ex := hc.getExchange()
	ex.s = s
	ex.head = string(s.Method()) == "HEAD"
	switch {
	case string(s.Path()) == string(pathHealthz):
		ex.r = &u.h2.health
	case u.cfg.FailRate > 0 && rand.Float64() < u.cfg.FailRate:
		ex.r = &u.h2.fail
	default:
		ex.r = &u.h2.resp
	}
	s.Data = ex
	if s.EndStream() {
		hc.respond(ex)
	}
}

// OnData implements h2.Handler: request bodies are discarded, their window
// given back at once.
func (hc *h2Conn) OnData(s *h2.Stream, data []byte, end bool) {
	s.Consumed(len(data))
	if ex, _ := s.Data.(*h2Exchange); ex != nil && end {
		hc.respond(ex)
	}
}

// OnTrailers implements h2.Handler: trailers end the request.
func (hc *h2Conn) OnTrailers(s *h2.Stream) {
	if ex, _ := s.Data.(*h2Exchange); ex != nil {
		hc.respond(ex)
	}
}

// OnReset implements h2.Handler.
func (hc *h2Conn) OnReset(s *h2.Stream, _ http2.ErrCode) {
	ex, _ := s.Data.(*h2Exchange)
	if ex == nil {
		return
	}
	if ex.waiting {
		delete(hc.waiting, s.ID())
	}
	hc.release(ex)
}

// OnWritable implements h2.Handler: the windows opened for the rest of a body.
func (hc *h2Conn) OnWritable(s *h2.Stream) {
	if ex, _ := s.Data.(*h2Exchange); ex != nil && ex.sending {
		hc.pump(ex)
	}
}

// respond sends ex's answer now, or hands the stream to the delayer
// (/healthz is never delayed).
func (hc *h2Conn) respond(ex *h2Exchange) {
	u := hc.u
	u.served.Add(1)
	if hc.delay != nil && ex.r != &u.h2.health {
		id := ex.s.ID()
		select {
		case hc.delay.in <- h2Due{due: time.Now().Add(u.cfg.Delay.sample()), id: id}:
			ex.waiting = true
			hc.waiting[id] = ex
		default: // cannot happen under MaxConcurrentStreams; refuse rather than block the loop
			ex.s.Reset(http2.ErrCodeRefusedStream)
			hc.release(ex)
		}
		return
	}
	hc.send(ex)
}

func (hc *h2Conn) send(ex *h2Exchange) {
	r := ex.r
	end := ex.head || r.body == nil
	if err := ex.s.WriteHeaders(r.status, r.fields, end); err != nil {
		// Only a status HTTP/2 cannot carry (1xx as a final answer) gets here.
		ex.s.Reset(http2.ErrCodeInternal)
		hc.release(ex)
		return
	}
	if end {
		hc.release(ex)
		return
	}
	ex.sending = true
	hc.pump(ex)
}

// pump writes as much of the body as the windows take; OnWritable resumes.
func (hc *h2Conn) pump(ex *h2Exchange) {
	body := ex.r.body
	n, err := ex.s.WriteData(body[ex.off:], true)
	ex.off += n
	if err != nil || ex.off == len(body) {
		hc.release(ex) // the stream ended (END_STREAM written, or it is gone)
	}
}

// answerDue sends the answers of streams whose delay has run out. The
// wake flag is cleared before the list is taken, so an ID the delayer
// adds after that brings another wake-up.
func (hc *h2Conn) answerDue() {
	d := hc.delay
	if d == nil {
		return
	}
	d.woken.Store(false)
	d.mu.Lock()
	hc.due, d.ready = d.ready, hc.due[:0]
	d.mu.Unlock()
	for _, id := range hc.due {
		ex := hc.waiting[id]
		if ex == nil {
			continue // reset while waiting
		}
		delete(hc.waiting, id)
		ex.waiting = false
		hc.send(ex)
	}
}

func (hc *h2Conn) getExchange() *h2Exchange {
	if n := len(hc.free); n > 0 {
		ex := hc.free[n-1]
		hc.free = hc.free[:n-1]
		return ex
	}
	return &h2Exchange{}
}

// release recycles ex; its stream has ended for us and is not touched again.
func (hc *h2Conn) release(ex *h2Exchange) {
	*ex = h2Exchange{}
	hc.free = append(hc.free, ex)
}

// h2Due is a stream waiting out its delay.
type h2Due struct {
	due time.Time
	id  uint32
}

// h2Delayer is a connection's delay goroutine. Unlike HTTP/1.1, streams are
// independent, so each is answered at its own due time (a min-heap), not
// behind an earlier stream's longer delay. Due stream IDs go to ready and
// the loop is woken (once per batch) to answer them, since only the loop
// may write to the ServerConn.
type h2Delayer struct {
	in    chan h2Due // from the loop; closed when the connection closes
	c     gnet.Conn
	mu    sync.Mutex
	ready []uint32
	woken atomic.Bool
}

func (d *h2Delayer) run() {
	var heap []h2Due
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		var tick <-chan time.Time
		if len(heap) > 0 {
			now := time.Now()
			fired := false
			d.mu.Lock()
			for len(heap) > 0 && !heap[0].due.After(now) {
				d.ready = append(d.ready, heap[0].id)
				heap = heapPop(heap)
				fired = true
			}
			d.mu.Unlock()
			if fired && d.woken.CompareAndSwap(false, true) {
				_ = d.c.Wake(nil) // fails only once the connection is gone
			}
			if len(heap) > 0 {
				t.Reset(heap[0].due.Sub(now))
				tick = t.C
			}
		}
		select {
		case x, ok := <-d.in:
			if !ok {
				return
			}
			heap = heapPush(heap, x)
		case <-tick:
		}
	}
}

// heapPush and heapPop keep h a binary min-heap on due time (container/heap
// would box every element in an interface).
func heapPush(h []h2Due, x h2Due) []h2Due {
	h = append(h, x)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if !h[i].due.Before(h[p].due) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop(h []h2Due) []h2Due {
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && h[l].due.Before(h[m].due) {
			m = l
		}
		if r := l + 1; r < n && h[r].due.Before(h[m].due) {
			m = r
		}
		if m == i {
			return h
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
