package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig describes one load run.
type LoadConfig struct {
	URL      string        // http:// or https:// target
	Rate     float64       // open loop: requests per second over all connections
	Max      bool          // closed loop: each connection sends as soon as the last answer arrived; Rate is ignored
	Duration time.Duration // how long requests are started; in-flight ones are then awaited
	Conns    int           // connections (HTTP/1.1: at most one request in flight on each)
	Method   string        // default GET
	Headers  []string      // extra "Name: value" lines
	Body     []byte        // request body (sent with Content-Length)
	Timeout  time.Duration // per request, from the moment it is sent; default 10s
	Insecure bool          // https: skip certificate verification (-k)
	H2       bool          // HTTP/2: h2c with prior knowledge for http://, ALPN h2 for https://
	Streams  int           // HTTP/2: concurrent streams per connection (default 10, capped by the server's limit)
	// Progress, when set, receives a one-line status every second
	// (carriage-return separated, meant for a terminal).
	Progress io.Writer
}

// LoadResult is the outcome of a load run. Its JSON form is what
// `portico-bench load -json` prints.
type LoadResult struct {
	URL        string  `json:"url"`
	Mode       string  `json:"mode"` // "open" or "closed"
	TargetRate float64 `json:"target_rate,omitempty"`
	Conns      int     `json:"conns"`
	Streams    int     `json:"streams,omitempty"` // HTTP/2 only
	Requests   uint64  `json:"requests"`          // responses received (any status)
	DurationS  float64 `json:"duration_s"`        // first intended send to last answer
	RPS        float64 `json:"requests_per_second"`
	// SendRate is the pacing actually achieved: requests sent per second
	// from the first intended send to the last actual send.
	SendRate  float64           `json:"send_rate"`
	Latency   LatencyMillis     `json:"latency_ms"`
	Curve     []CurvePoint      `json:"latency_curve"`
	Errors    map[string]uint64 `json:"errors"` // by kind; status_4xx/status_5xx count answered requests too
	Status    map[string]uint64 `json:"status"` // "2xx", "3xx", ...
	BytesRead uint64            `json:"bytes_read"`
	// Hist holds every latency; not serialised.
	Hist *Histogram `json:"-"`
}

// LatencyMillis is the latency summary in milliseconds.
type LatencyMillis struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// Error kinds counted in LoadResult.Errors.
const (
	ErrKindConnect   = "connect"
	ErrKindTLS       = "tls"
	ErrKindTimeout   = "timeout"
	ErrKindWrite     = "write"
	ErrKindRead      = "read"
	ErrKindParse     = "parse"
	ErrKindStatus4xx = "status_4xx"
	ErrKindStatus5xx = "status_5xx"
	ErrKindRST       = "rst_stream" // HTTP/2: the server reset a stream
	ErrKindGoAway    = "goaway"     // HTTP/2: GOAWAY with an error code (a graceful one only reconnects)
)

var errKinds = [...]string{ErrKindConnect, ErrKindTLS, ErrKindTimeout, ErrKindWrite, ErrKindRead, ErrKindParse, ErrKindStatus4xx, ErrKindStatus5xx, ErrKindRST, ErrKindGoAway}

type loadRun struct {
	cfg      LoadConfig
	addr     string
	tlsConf  *tls.Config
	req      []byte
	h2hdr    []byte // HTTP/2 request header block, encoded once
	isHead   bool
	hist     *Histogram
	t0       time.Time
	end      time.Time
	period   time.Duration
	next     atomic.Int64 // next open-loop ticket
	errs     [len(errKinds)]atomic.Uint64
	status   [6]atomic.Uint64 // by first digit
	bytes    atomic.Uint64
	lastDone atomic.Int64 // unix nanos of the last answer
	lastSend atomic.Int64 // unix nanos of the last send
	sent     atomic.Uint64
}

// RunLoad runs the load described by cfg and returns its result. Cancelling
// ctx stops it early (the result then covers what was done).
func RunLoad(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if cfg.H2 && cfg.Streams <= 0 {
		cfg.Streams = 10
	}
	if cfg.Conns <= 0 {
		return nil, fmt.Errorf("cannot run load: conns must be > 0, got %d", cfg.Conns)
	}
	if cfg.Duration <= 0 {
		return nil, fmt.Errorf("cannot run load: duration must be > 0, got %v", cfg.Duration)
	}
	if !cfg.Max && cfg.Rate <= 0 {
		return nil, fmt.Errorf("cannot run load: rate must be > 0 in open-loop mode (or use max)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	r := &loadRun{cfg: cfg, hist: NewHistogram()}
	if err := r.prepare(); err != nil {
		return nil, err
	}
	if !cfg.Max {
		r.period = time.Duration(float64(time.Second) / cfg.Rate)
		if r.period <= 0 {
			r.period = 1
		}
	}
	r.t0 = time.Now()
	r.end = r.t0.Add(cfg.Duration)
	r.lastDone.Store(r.t0.UnixNano())

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range cfg.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.H2 {
				r.h2worker(runCtx)
			} else {
				r.worker(runCtx)
			}
		}()
	}
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		r.progress(stopProgress)
	}()
	wg.Wait()
	close(stopProgress)
	<-progressDone
	return r.result(), nil
}

func (r *loadRun) prepare() error {
	u, err := url.Parse(r.cfg.URL)
	if err != nil {
		return fmt.Errorf("cannot parse URL %q: %w", r.cfg.URL, err)
	}
	host := u.Host
	switch u.Scheme {
	case "http":
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	case "https":
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "443")
		}
		r.tlsConf = &tls.Config{
			InsecureSkipVerify: r.cfg.Insecure, //nolint:gosec // explicit -k
			ServerName:         u.Hostname(),
			NextProtos:         []string{"http/1.1"},
		}
		if r.cfg.H2 {
			r.tlsConf.NextProtos = []string{"h2"}
		}
	default:
		return fmt.Errorf("cannot use URL %q: scheme must be http or https", r.cfg.URL)
	}
	r.addr = host
	method := r.cfg.Method
	if method == "" {
		method = "GET"
	}
	r.isHead = method == "HEAD"
	path := u.RequestURI()
	var b []byte
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, u.Host...)
	b = append(b, "\r\nUser-Agent: portico-bench\r\n"...)
	for _, h := range r.cfg.Headers {
		name, val, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" || strings.ContainsAny(h, "\r\n") {
			return fmt.Errorf("cannot use header %q: want \"Name: value\"", h)
		}
		b = append(b, strings.TrimSpace(name)...)
		b = append(b, ": "...)
		b = append(b, strings.TrimSpace(val)...)
		b = append(b, "\r\n"...)
	}
	if len(r.cfg.Body) > 0 || method == "POST" || method == "PUT" || method == "PATCH" {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(r.cfg.Body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	b = append(b, r.cfg.Body...)
	r.req = b
	if r.cfg.H2 {
		hb, err := h2HeaderBlock(method, u.Scheme, u.Host, path, r.cfg.Headers, len(r.cfg.Body), len(r.cfg.Body) > 0 || method == "POST" || method == "PUT" || method == "PATCH")
		if err != nil {
			return err
		}
		r.h2hdr = hb
	}
	return nil
}

func (r *loadRun) countErr(kind string) {
	for i, k := range errKinds {
		if k == kind {
			r.errs[i].Add(1)
			return
		}
	}
}

// client is one connection's state, owned by its worker goroutine.
type client struct {
	mu   sync.Mutex // guards conn against the cancel goroutine only
	conn net.Conn
	buf  []byte
	r, w int    // unread bytes are buf[r:w]
	read uint64 // bytes read
}

func (c *client) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.setConn(nil)
	}
	c.r, c.w = 0, 0
}

// worker drives one connection until the run ends. In open loop it claims
// tickets (intended send times) from the shared schedule, so a connection
// stuck on a slow answer leaves its tickets to the others, and when all are
// stuck the backlog's latency is charged from each ticket's intended time.
func (r *loadRun) worker(ctx context.Context) {
	c := &client{buf: make([]byte, 64<<10)}
	defer func() {
		c.close()
		r.bytes.Add(c.read)
	}()
	go func() { // unblock reads and writes when the run is cancelled
		<-ctx.Done()
		if conn := c.connLoad(); conn != nil {
			_ = conn.SetDeadline(time.Now())
		}
	}()
	for ctx.Err() == nil {
		var start time.Time
		if r.cfg.Max {
			start = time.Now()
			if !start.Before(r.end) {
				return
			}
		} else {
			idx := r.next.Add(1) - 1
			intended := r.t0.Add(time.Duration(idx) * r.period)
			if !intended.Before(r.end) {
				return
			}
			if d := time.Until(intended); d > 0 {
				// On time: charge from the actual send, so our own timer
				// wake-up slop (up to ~1 ms) is not blamed on the server.
				if !sleepCtx(ctx, d) {
					return
				}
				start = time.Now()
			} else {
				// Behind schedule (the server held every connection): the
				// wait counts, which is the coordinated-omission correction.
				start = intended
			}
		}
		ok := r.roundTrip(ctx, c, start)
		if !ok && r.cfg.Max {
			// Don't spin on a dead target in closed loop.
			sleepCtx(ctx, 10*time.Millisecond)
		}
	}
}

func (c *client) connLoad() net.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

func (c *client) setConn(conn net.Conn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// roundTrip sends one request and reads its answer, recording the latency
// from start. It reports whether an answer arrived.
func (r *loadRun) roundTrip(ctx context.Context, c *client, start time.Time) bool {
	if c.conn == nil {
		conn := r.dial(ctx)
		if conn == nil {
			return false
		}
		c.setConn(conn)
		c.r, c.w = 0, 0
	}
	sendAt := time.Now()
	_ = c.conn.SetDeadline(sendAt.Add(r.cfg.Timeout))
	r.noteSend(sendAt)
	if _, err := c.conn.Write(r.req); err != nil {
		r.fail(ctx, c, err, ErrKindWrite)
		return false
	}
	// Read the head.
	var h msgHead
	for {
		var err error
		h, err = parseResponseHead(c.buf[c.r:c.w])
		if err == nil {
			break
		}
		if err != errNeedMore {
			r.fail(ctx, c, err, ErrKindParse)
			return false
		}
		if err := c.fill(); err != nil {
			r.fail(ctx, c, err, ErrKindRead)
			return false
		}
	}
	c.r += h.headLen
	// Skip the body.
	noBody := r.isHead || h.status == 204 || h.status == 304 || h.status < 200
	switch {
	case noBody:
	case h.chunked:
		var cs chunkSkipper
		for {
			n, done, err := cs.skip(c.buf[c.r:c.w])
			c.r += n
			if err != nil {
				r.fail(ctx, c, err, ErrKindParse)
				return false
			}
			if done {
				break
			}
			if err := c.fill(); err != nil {
				r.fail(ctx, c, err, ErrKindRead)
				return false
			}
		}
	case h.contentLength >= 0:
		left := h.contentLength
		for {
			k := int64(c.w - c.r)
			if k > left {
				k = left
			}
			c.r += int(k)
			left -= k
			if left == 0 {
				break
			}
			if err := c.fill(); err != nil {
				r.fail(ctx, c, err, ErrKindRead)
				return false
			}
		}
	default: // body until close
		for {
			c.r = c.w
			if err := c.fill(); err != nil {
				if err != io.EOF {
					r.fail(ctx, c, err, ErrKindRead)
					return false
				}
				break
			}
		}
		h.close = true
	}
	r.recordAnswer(start, h.status)
	if h.close {
		c.close()
	}
	return true
}

// dial connects (and handshakes TLS), counting a failure; nil on failure.
func (r *loadRun) dial(ctx context.Context) net.Conn {
	d := net.Dialer{Timeout: r.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", r.addr)
	if err != nil {
		if ctx.Err() == nil {
			r.countErr(ErrKindConnect)
		}
		return nil
	}
	if r.tlsConf != nil {
		tc := tls.Client(conn, r.tlsConf)
		_ = tc.SetDeadline(time.Now().Add(r.cfg.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = conn.Close()
			if ctx.Err() == nil {
				r.countErr(ErrKindTLS)
			}
			return nil
		}
		if r.cfg.H2 && tc.ConnectionState().NegotiatedProtocol != "h2" {
			// HTTP/2 frames to a server that chose HTTP/1.1 would only
			// measure its error path: count it as a TLS failure instead.
			_ = conn.Close()
			r.countErr(ErrKindTLS)
			return nil
		}
		_ = tc.SetDeadline(time.Time{})
		conn = tc
	}
	return conn
}

// noteSend counts a request going out at sendAt.
func (r *loadRun) noteSend(sendAt time.Time) {
	r.sent.Add(1)
	for {
		l := r.lastSend.Load()
		if sendAt.UnixNano() <= l || r.lastSend.CompareAndSwap(l, sendAt.UnixNano()) {
			return
		}
	}
}

// recordAnswer records one answered request whose latency counts from start.
func (r *loadRun) recordAnswer(start time.Time, status int) {
	now := time.Now()
	r.hist.Record(now.Sub(start))
	r.lastDone.Store(now.UnixNano())
	if s := status / 100; s >= 0 && s < len(r.status) {
		r.status[s].Add(1)
	}
	switch status / 100 {
	case 4:
		r.countErr(ErrKindStatus4xx)
	case 5:
		r.countErr(ErrKindStatus5xx)
	}
}

// fill reads more bytes, compacting the buffer first.
func (c *client) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if c.w == len(c.buf) {
		if c.r == 0 {
			return errHeadTooBig
		}
		c.w = copy(c.buf, c.buf[c.r:c.w])
		c.r = 0
	}
	n, err := c.conn.Read(c.buf[c.w:])
	c.w += n
	c.read += uint64(n)
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (r *loadRun) fail(ctx context.Context, c *client, err error, kind string) {
	c.close()
	if ctx.Err() != nil {
		return // cancelled: not the server's fault
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		kind = ErrKindTimeout
	}
	r.countErr(kind)
}

func (r *loadRun) errorCount() uint64 {
	var n uint64
	for i := range r.errs {
		n += r.errs[i].Load()
	}
	return n
}

func (r *loadRun) progress(stop <-chan struct{}) {
	w := r.cfg.Progress
	if w == nil {
		<-stop
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	for {
		select {
		case <-stop:
			fmt.Fprint(w, "\r\033[K")
			return
		case <-t.C:
			n := r.hist.Count()
			fmt.Fprintf(w, "\r\033[K%4.0fs  %8d req/s  errors %d  p99 %.2f ms",
				time.Since(r.t0).Seconds(), n-last, r.errorCount(), ms(r.hist.Quantile(0.99)))
			last = n
		}
	}
}

func (r *loadRun) result() *LoadResult {
	res := &LoadResult{
		URL:      r.cfg.URL,
		Mode:     "open",
		Conns:    r.cfg.Conns,
		Requests: r.hist.Count(),
		Streams:  r.cfg.Streams,
		Errors:   map[string]uint64{},
		Status:   map[string]uint64{},
		Hist:     r.hist,
	}
	if r.cfg.Max {
		res.Mode = "closed"
	} else {
		res.TargetRate = r.cfg.Rate
	}
	dur := time.Duration(r.lastDone.Load() - r.t0.UnixNano())
	if dur < r.cfg.Duration && r.cfg.Max {
		dur = r.cfg.Duration
	}
	if dur <= 0 {
		dur = r.cfg.Duration
	}
	res.DurationS = dur.Seconds()
	res.RPS = float64(res.Requests) / dur.Seconds()
	if n := r.sent.Load(); n > 0 {
		// n sends span n-1 periods after the first intended send.
		span := time.Duration(r.lastSend.Load()-r.t0.UnixNano()) + r.period
		if r.cfg.Max || span <= 0 {
			span = dur
		}
		res.SendRate = float64(n) / span.Seconds()
	}
	p := r.hist.Percentiles()
	res.Latency = LatencyMillis{P50: ms(p.P50), P90: ms(p.P90), P99: ms(p.P99), P999: ms(p.P999), Max: ms(p.Max), Mean: ms(r.hist.Mean())}
	res.Curve = r.hist.Curve()
	for i, k := range errKinds {
		if n := r.errs[i].Load(); n > 0 {
			res.Errors[k] = n
		}
	}
	for i := range r.status {
		if n := r.status[i].Load(); n > 0 {
			res.Status[strconv.Itoa(i)+"xx"] = n
		}
	}
	res.BytesRead = r.bytes.Load()
	return res
}

// Text renders the result for humans.
func (res *LoadResult) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %s loop, %d conns", res.URL, res.Mode, res.Conns)
	if res.Streams > 0 {
		fmt.Fprintf(&b, " x %d h2 streams", res.Streams)
	}
	if res.Mode == "open" {
		fmt.Fprintf(&b, ", target %.0f req/s", res.TargetRate)
	}
	fmt.Fprintf(&b, "\n  requests  %d in %.2fs = %.1f req/s\n", res.Requests, res.DurationS, res.RPS)
	l := res.Latency
	fmt.Fprintf(&b, "  latency   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f ms\n", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean)
	keys := make([]string, 0, len(res.Status))
	for k := range res.Status {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("  status   ")
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, res.Status[k])
	}
	b.WriteString("\n  errors   ")
	if len(res.Errors) == 0 {
		b.WriteString(" none")
	}
	for _, k := range errKinds {
		if n, ok := res.Errors[k]; ok {
			fmt.Fprintf(&b, " %s=%d", k, n)
		}
	}
	b.WriteString("\n")
	return b.String()
}

// StderrIsTerminal reports whether stderr is a character device, which is
// when the live progress line is wanted.
func StderrIsTerminal() bool {
	fi, err := os.Stderr.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
