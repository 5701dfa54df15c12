package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/panjf2000/gnet/v2"

	"github.com/portico-gw/portico/edge/h2"
)

// Delay is a response latency distribution. The zero value means no delay.
type Delay struct {
	Kind string        // "", "fixed", "uniform" or "exp"
	Min  time.Duration // fixed: the delay; uniform: lower bound
	Max  time.Duration // uniform: upper bound
	Mean time.Duration // exp: mean of the exponential distribution
}

// ParseDelayDist parses "uniform:MIN:MAX" or "exp:MEAN" (Go durations).
func ParseDelayDist(s string) (Delay, error) {
	kind, rest, _ := strings.Cut(s, ":")
	switch kind {
	case "uniform":
		a, b, ok := strings.Cut(rest, ":")
		if !ok {
			return Delay{}, fmt.Errorf("cannot parse delay distribution %q: want uniform:MIN:MAX", s)
		}
		lo, err1 := time.ParseDuration(a)
		hi, err2 := time.ParseDuration(b)
		if err := errors.Join(err1, err2); err != nil {
			return Delay{}, fmt.Errorf("cannot parse delay distribution %q: %w", s, err)
		}
		if lo < 0 || hi < lo {
			return Delay{}, fmt.Errorf("cannot parse delay distribution %q: want 0 <= MIN <= MAX", s)
		}
		return Delay{Kind: "uniform", Min: lo, Max: hi}, nil
	case "exp":
		m, err := time.ParseDuration(rest)
		if err != nil || m <= 0 {
			return Delay{}, fmt.Errorf("cannot parse delay distribution %q: want exp:MEAN with MEAN > 0", s)
		}
		return Delay{Kind: "exp", Mean: m}, nil
	}
	return Delay{}, fmt.Errorf("cannot parse delay distribution %q: want uniform:MIN:MAX or exp:MEAN", s)
}

func (d Delay) enabled() bool { return d.Kind != "" }

func (d Delay) sample() time.Duration {
	switch d.Kind {
	case "fixed":
		return d.Min
	case "uniform":
		return d.Min + time.Duration(rand.Int64N(int64(d.Max-d.Min)+1))
	case "exp":
		return time.Duration(rand.ExpFloat64() * float64(d.Mean))
	}
	return 0
}

// UpstreamConfig configures the bench origin.
type UpstreamConfig struct {
	Addr     string  // host:port to listen on; port 0 picks a free one
	BodySize int     // response body bytes (filled with "hello world\n" repeated)
	Status   int     // response status; 0 means 200
	Chunked  bool    // send the body with Transfer-Encoding: chunked
	Delay    Delay   // latency added before each response (not /healthz)
	FailRate float64 // share of requests answered 500 instead, in [0, 1]
	Loops    int     // event loops; 0 means one per GOMAXPROCS
}

// Upstream is a fast HTTP/1.1 and h2c origin on a gnet event loop.
// Responses are built once at start; serving a request parses its head in
// place, skips its body (Content-Length or chunked) and writes the pre-built
// bytes, so the hot path allocates nothing. Keep-alive and pipelining are
// supported; /healthz always answers 200 at once. A connection that starts
// with the HTTP/2 client preface is served as h2c with prior knowledge
// (upstream_h2.go) with the same answers, delays and failure share.
type Upstream struct {
	gnet.BuiltinEventEngine
	cfg     UpstreamConfig
	resp    [2][]byte // [keep-alive, close]
	fail    [2][]byte
	health  [2][]byte
	headLen [2]int // head length of resp (for HEAD requests)
	h2      h2Responses
	served  atomic.Uint64
	eng     gnet.Engine
	addr    string
	booted  chan struct{}
	done    chan error
}

var (
	bodyPattern = []byte("hello world\n")
	pathHealthz = []byte("/healthz")
)

// NewUpstream validates cfg and pre-builds the responses.
func NewUpstream(cfg UpstreamConfig) (*Upstream, error) {
	if cfg.Status == 0 {
		cfg.Status = 200
	}
	if cfg.Status < 100 || cfg.Status > 999 {
		return nil, fmt.Errorf("cannot configure upstream: status %d out of range", cfg.Status)
	}
	if cfg.BodySize < 0 || cfg.BodySize > 1<<30 {
		return nil, fmt.Errorf("cannot configure upstream: body size %d out of range", cfg.BodySize)
	}
	if cfg.FailRate < 0 || cfg.FailRate > 1 {
		return nil, fmt.Errorf("cannot configure upstream: fail rate %v not in [0, 1]", cfg.FailRate)
	}
	body := make([]byte, cfg.BodySize)
	for i := range body {
		body[i] = bodyPattern[i%len(bodyPattern)]
	}
	u := &Upstream{cfg: cfg, booted: make(chan struct{}), done: make(chan error, 1)}
	for i, closeConn := range []bool{false, true} {
		u.resp[i], u.headLen[i] = buildResponse(cfg.Status, body, cfg.Chunked, closeConn)
		u.fail[i], _ = buildResponse(500, []byte("injected failure\n"), false, closeConn)
		u.health[i], _ = buildResponse(200, []byte("ok\n"), false, closeConn)
	}
	u.h2 = buildH2Responses(cfg.Status, body, cfg.Chunked)
	return u, nil
}

func buildResponse(status int, body []byte, chunked, closeConn bool) ([]byte, int) {
	var b []byte
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	reason := statusText(status)
	b = append(b, reason...)
	b = append(b, "\r\nServer: portico-bench\r\nContent-Type: text/plain\r\n"...)
	if closeConn {
		b = append(b, "Connection: close\r\n"...)
	}
	noBody := status == 204 || status == 304 || status < 200
	switch {
	case noBody:
	case chunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	default:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	head := len(b)
	switch {
	case noBody:
	case chunked:
		if len(body) > 0 {
			b = strconv.AppendInt(b, int64(len(body)), 16)
			b = append(b, "\r\n"...)
			b = append(b, body...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "0\r\n\r\n"...)
	default:
		b = append(b, body...)
	}
	return b, head
}

func statusText(code int) string {
	switch code {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 429:
		return "Too Many Requests"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	}
	return "Status"
}

// Start listens and serves in the background; it returns once the listener
// accepts connections.
func (u *Upstream) Start() error {
	loops := u.cfg.Loops
	opts := []gnet.Option{
		gnet.WithMulticore(loops == 0),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithReuseAddr(true),
		gnet.WithLogger(quietLogger{}),
	}
	if loops > 0 {
		opts = append(opts, gnet.WithNumEventLoop(loops))
	}
	go func() { u.done <- gnet.Run(u, "tcp://"+u.cfg.Addr, opts...) }()
	select {
	case <-u.booted:
		return nil
	case err := <-u.done:
		u.done <- err
		return fmt.Errorf("cannot start upstream on %s: %w", u.cfg.Addr, err)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("cannot start upstream on %s: no boot after 5s", u.cfg.Addr)
	}
}

// Addr returns the address the upstream listens on (with the real port).
func (u *Upstream) Addr() string { return u.addr }

// Served returns the number of requests answered so far.
func (u *Upstream) Served() uint64 { return u.served.Load() }

// Stop closes the listener and all connections, and returns once the
// event loops have exited.
func (u *Upstream) Stop(ctx context.Context) error {
	// gnet's Engine.Stop signals the shutdown at once but then polls for
	// its end every 500 ms; Run returning (u.done) is the prompt signal,
	// and cancelling sctx ends that poll.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- u.eng.Stop(sctx) }()
	select {
	case err := <-u.done:
		u.done <- err // for Wait
		return nil
	case err := <-stopped:
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("cannot stop upstream: %w", err)
		}
	}
	select {
	case err := <-u.done:
		u.done <- err
	case <-ctx.Done():
	}
	return nil
}

// Wait blocks until the upstream stops.
func (u *Upstream) Wait() error {
	err := <-u.done
	u.done <- err
	return err
}

// OnBoot implements gnet.EventHandler.
func (u *Upstream) OnBoot(eng gnet.Engine) gnet.Action {
	u.eng = eng
	u.addr = u.cfg.Addr
	if fd, err := eng.Dup(); err == nil {
		if sa, err := syscall.Getsockname(fd); err == nil {
			if in, ok := sa.(*syscall.SockaddrInet4); ok {
				u.addr = (&net.TCPAddr{IP: net.IP(in.Addr[:]), Port: in.Port}).String()
			} else if in6, ok := sa.(*syscall.SockaddrInet6); ok {
				u.addr = (&net.TCPAddr{IP: net.IP(in6.Addr[:]), Port: in6.Port}).String()
			}
		}
		syscall.Close(fd)
	}
	close(u.booted)
	return gnet.None
}

// upConn is the per-connection state; it is owned by the connection's event
// loop, except delayed which the loop sends on and a writer goroutine reads.
type upConn struct {
	bodyLeft  int64 // Content-Length body bytes still to discard
	inChunked bool
	cs        chunkSkipper
	pending   []byte // response waiting for the request body to end
	pendClose bool
	out       []byte        // responses batched in one OnTraffic (pipelining)
	delayed   chan delayedW // delay mode only
	queued    atomic.Int64  // delay mode: answers handed to the writer, not yet written
	written   gnet.AsyncCallback
	sniffed   bool    // the first bytes were checked for the HTTP/2 preface
	h2        *h2Conn // non-nil: the connection speaks h2c
}

type delayedW struct {
	due   time.Time
	resp  []byte
	close bool
}

// OnOpen implements gnet.EventHandler.
func (u *Upstream) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	st := &upConn{}
	if u.cfg.Delay.enabled() {
		// One writer per connection keeps responses in request order while
		// each waits out its own delay off the event loop.
		st.delayed = make(chan delayedW, 1024)
		st.written = func(gnet.Conn, error) error { st.queued.Add(-1); return nil }
		go delayedWriter(c, st, st.delayed) // the loop may drop st.delayed (h2c)
	}
	c.SetContext(st)
	return nil, gnet.None
}

func delayedWriter(c gnet.Conn, st *upConn, delayed <-chan delayedW) {
	var t *time.Timer
	for w := range delayed {
		if d := time.Until(w.due); d > 0 {
			if t == nil {
				t = time.NewTimer(d)
			} else {
				t.Reset(d)
			}
			<-t.C
		}
		// queued drops in the callback, which runs on the loop after the
		// write: until then a direct answer from OnTraffic would overtake.
		if err := c.AsyncWrite(w.resp, st.written); err != nil {
			st.queued.Add(-1)
			continue // connection gone; drain until OnClose closes the channel
		}
		if w.close {
			_ = c.CloseWithCallback(nil)
		}
	}
}

// OnClose implements gnet.EventHandler.
func (u *Upstream) OnClose(c gnet.Conn, _ error) gnet.Action {
	st, ok := c.Context().(*upConn)
	if !ok {
		return gnet.None
	}
	if st.delayed != nil {
		close(st.delayed) // only the loop sends on it, and the loop is here
	}
	if st.h2 != nil {
		st.h2.close()
	}
	return gnet.None
}

// OnTraffic implements gnet.EventHandler: frame every complete request in
// the inbound buffer and answer each, batching pipelined answers in one
// write.
func (u *Upstream) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*upConn)
	if st.h2 != nil {
		return st.h2.traffic()
	}
	buf, _ := c.Peek(-1)
	if !st.sniffed {
		// h2c with prior knowledge: the preface is the connection's first
		// bytes. A strict prefix of it waits for more (no HTTP/1.1 method
		// starts with "PRI ", but "P" could still be POST).
		isH2, needMore := h2.IsPreface(buf)
		if needMore {
			return gnet.None
		}
		st.sniffed = true
		if isH2 {
			u.switchToH2(c, st)
			return st.h2.traffic()
		}
	}
	pos := 0
	st.out = st.out[:0]
	closeNow := false
	for pos < len(buf) && !closeNow {
		if st.bodyLeft > 0 {
			k := int64(len(buf) - pos)
			if k > st.bodyLeft {
				k = st.bodyLeft
			}
			pos += int(k)
			st.bodyLeft -= k
			if st.bodyLeft > 0 {
				break
			}
			closeNow = u.respond(st, st.pending, st.pendClose)
			continue
		}
		if st.inChunked {
			n, done, err := st.cs.skip(buf[pos:])
			pos += n
			if err != nil {
				st.out = append(st.out, u.fail[1]...)
				closeNow = true
				break
			}
			if !done {
				break
			}
			st.inChunked = false
			closeNow = u.respond(st, st.pending, st.pendClose)
			continue
		}
		h, err := parseRequestHead(buf[pos:])
		if err == errNeedMore {
			break
		}
		if err != nil {
			st.out = append(st.out, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"...)
			closeNow = true
			break
		}
		pos += h.headLen
		ci := 0
		if h.close {
			ci = 1
		}
		var resp []byte
		switch {
		case string(h.target) == string(pathHealthz):
			resp = u.health[ci]
		case u.cfg.FailRate > 0 && rand.Float64() < u.cfg.FailRate:
			resp = u.fail[ci]
		case string(h.method) == "HEAD":
			resp = u.resp[ci][:u.headLen[ci]]
		default:
			resp = u.resp[ci]
		}
		st.pending, st.pendClose = resp, h.close
		switch {
		case h.chunked:
			st.inChunked = true
		case h.contentLength > 0:
			st.bodyLeft = h.contentLength
		default:
			closeNow = u.respond(st, resp, h.close)
		}
	}
	if pos > 0 {
		_, _ = c.Discard(pos)
	}
	if len(st.out) > 0 {
		if err := writeOut(c, st.out); err != nil {
			return gnet.Close
		}
	}
	if closeNow {
		return gnet.Close
	}
	return gnet.None
}

// respond queues resp (immediately or after the configured delay) and
// reports whether the connection must close right now.
func (u *Upstream) respond(st *upConn, resp []byte, closeConn bool) bool {
	u.served.Add(1)
	st.pending = nil
	if st.delayed != nil && !isHealth(resp, u) {
		st.queued.Add(1)
		select {
		case st.delayed <- delayedW{due: time.Now().Add(u.cfg.Delay.sample()), resp: resp, close: closeConn}:
			return false // the writer closes after the write
		default:
			return true // more than 1024 pipelined requests waiting: refuse
		}
	}
	if st.delayed != nil && st.queued.Load() > 0 {
		// A health check behind delayed answers must still keep order.
		st.queued.Add(1)
		select {
		case st.delayed <- delayedW{resp: resp, close: closeConn}:
			return false
		default:
			return true
		}
	}
	st.out = append(st.out, resp...)
	return closeConn
}

// writeOut sends b on c, by a raw write(2) when nothing is queued ahead of
// it, and leaves what the socket did not take to gnet's outbound buffer.
// Why raw: with GOMAXPROCS=1, a P seen in a syscall (gnet's writes go
// through entersyscall) by two sysmon ticks in a row is handed off, which
// keeps sysmon waking every 20 µs; on a contended core that took up to 12%
// of the origin's CPU and 4x the context switches. The socket is
// non-blocking, so the raw call cannot hold the P for long.
func writeOut(c gnet.Conn, b []byte) error {
	if c.OutboundBuffered() == 0 {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(c.Fd()), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch errno {
		case 0:
			b = b[n:]
		case syscall.EAGAIN, syscall.EINTR:
		default:
			return fmt.Errorf("cannot write response: %w", errno)
		}
		if len(b) == 0 {
			return nil
		}
	}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("cannot write response: %w", err)
	}
	return nil
}

func isHealth(resp []byte, u *Upstream) bool {
	return len(resp) > 0 && (&resp[0] == &u.health[0][0] || &resp[0] == &u.health[1][0])
}

// quietLogger drops gnet's informational chatter (its start banner would
// otherwise land in every benchmark's output) and keeps warnings and errors.
type quietLogger struct{}

func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Warnf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "portico-bench upstream: warning: "+f+"\n", a...)
}
func (quietLogger) Errorf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "portico-bench upstream: error: "+f+"\n", a...)
}
func (quietLogger) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "portico-bench upstream: fatal: "+f+"\n", a...)
	os.Exit(1)
}
