package admin

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Provider is the gateway state the admin endpoints show. The integrator
// implements it; every method may be called from many goroutines at once.
type Provider interface {
	// Ready reports whether listeners are bound and a config is loaded, and
	// the process is not draining.
	Ready() bool
	// ConfigJSON returns the effective config as one JSON value (normally
	// an object) with secrets redacted, and the lowercase hex SHA-256 that
	// identifies it. The admin server does not modify body.
	ConfigJSON() (body []byte, sha256 string, err error)
	// UpstreamsJSON returns every upstream target with its health state
	// and in-flight count, as one JSON document, sent as is.
	UpstreamsJSON() ([]byte, error)
	// Reload does what SIGHUP does and reports the outcome. It may run
	// concurrently with a SIGHUP reload; the provider serialises them.
	Reload() ReloadResult
}

// ReloadResult is the outcome of Provider.Reload.
type ReloadResult struct {
	OK bool
	// Message is a short summary on success, or what went wrong (for an
	// invalid route file, every problem, one per line).
	Message string
	// SHA256 identifies the config in effect after the attempt (the old one
	// when it failed); "" leaves it out of the answer.
	SHA256 string
	// Invalid marks a failure caused by the route file itself (answered
	// 400 invalid_config); other failures are answered 500 reload_failed.
	Invalid bool
	// Unavailable marks a reload refused because the process is draining
	// (answered 503 unavailable): it keeps the config it drains with.
	Unavailable bool
}

// Limits of the admin HTTP server. The endpoints take no input, so request
// bodies are refused past a token size.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 60 * time.Second // a reload may validate certs and read files
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	maxBodyBytes      = 4 << 10
)

// Content types of the answers.
const (
	contentTypeJSON       = "application/json"
	contentTypePrometheus = "text/plain; version=0.0.4; charset=utf-8"
)

// Server is the admin listener. Create it with New, then Start it.
type Server struct {
	// ErrorLog, if set before Start, receives net/http's connection-level
	// errors (failed handshakes, panics in a provider); nil means the log
	// package's standard logger.
	ErrorLog *log.Logger

	// Immutable after New:
	addr     string
	loopback bool // addr is on loopback: Host must name an IP or localhost (localHost)
	p        Provider
	metrics  func(io.Writer)

	mu     sync.Mutex // guards srv, ln, closed and served
	srv    *http.Server
	ln     net.Listener
	closed bool
	served chan struct{} // closed when Serve returns

	// serveErr is what Serve returned, unless ErrServerClosed. The Serve
	// goroutine writes it before closing served; read it only after that.
	serveErr error
}

// New returns a Server for addr (host:port; port 0 picks a free one). p
// backs /readyz, /config, /upstreams and /reload; metricsWriter writes
// the Prometheus text for /metrics (for example a closure calling
// metrics.WritePrometheus(w, true)); either may be nil, which makes their
// endpoints answer 503 and an empty scrape respectively.
func New(addr string, p Provider, metricsWriter func(w io.Writer)) *Server {
	return &Server{addr: addr, loopback: LoopbackAddr(addr), p: p, metrics: metricsWriter}
}

// Start binds the address and serves in the background. Bind errors are
// returned here, before any goroutine starts. A Server starts at most once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("cannot start admin listener: server was shut down")
	}
	if s.srv != nil {
		return errors.New("cannot start admin listener: already started")
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("cannot start admin listener on %s: %w", s.addr, err)
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          s.ErrorLog,
	}
	s.srv, s.ln, s.served = srv, ln, make(chan struct{})
	go func() {
		err := srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("admin listener on %s stopped: %w", ln.Addr(), err)
		}
		close(s.served)
	}()
	return nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting, lets in-flight requests finish until ctx ends,
// then closes what is left. It returns ctx's error if it had to force
// connections closed, or the error that stopped serving early. Calling it
// before Start, or twice, is harmless.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv, served := s.srv, s.served
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close() // ctx ended: do not leave the stragglers open
		err = fmt.Errorf("cannot shut down admin listener gracefully: %w", err)
	}
	<-served
	if err == nil {
		err = s.serveErr
	}
	return err
}

// Handler returns the admin endpoints as an http.Handler, for tests or to
// mount them on another server.
func (s *Server) Handler() http.Handler { return s }

// Allow header values.
const (
	allowGet  = "GET, HEAD"
	allowPost = "POST"
)

// ServeHTTP routes one admin request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// SPEC §3 puts X-Request-Id on every response, and §4's envelope
	// names it: the admin listener answers like the data plane.
	h.Set("X-Request-Id", newRequestID())

	var handle func(http.ResponseWriter, *http.Request)
	allow := allowGet
	switch r.URL.Path {
	case "/metrics":
		handle = s.serveMetrics
	case "/healthz":
		handle = serveHealthz
	case "/readyz":
		handle = s.serveReadyz
	case "/config":
		handle = s.serveConfig
	case "/upstreams":
		handle = s.serveUpstreams
	case "/reload":
		handle, allow = s.serveReload, allowPost
	default:
		writeError(w, http.StatusNotFound, "not_found", "no admin endpoint at "+r.URL.Path)
		return
	}
	if !methodAllowed(r.Method, allow) {
		h.Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s %s is not allowed; use %s", r.Method, r.URL.Path, allow))
		return
	}
	if crossSite(r) {
		writeError(w, http.StatusForbidden, "forbidden",
			"cross-origin requests to the admin listener are refused")
		return
	}
	if s.loopback && !localHost(r.Host) {
		writeError(w, http.StatusForbidden, "forbidden",
			"the admin listener is on loopback and answers only requests to an IP address or localhost, not to "+strconv.Quote(r.Host))
		return
	}
	if !readBody(w, r) {
		return
	}
	handle(w, r)
}

// crossSite reports a request a browser made on behalf of another site: a
// page elsewhere could otherwise make a visitor's browser POST /reload (the
// admin listener has no credentials to forge). Browsers name the
// requesting page's origin (Origin on cross-origin requests and on POST;
// Sec-Fetch-Site on every request); tools such as curl send neither. (A
// DNS-rebinding page is same-origin by the browser's count: see localHost.)
func crossSite(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	return err != nil || !strings.EqualFold(u.Host, r.Host)
}

// LoopbackAddr reports whether addr is host:port on loopback (a loopback
// IP or localhost), as the admin listener's default is: only local
// processes reach it, by IP address or localhost.
func LoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// localHost reports a Host header naming an IP address or localhost (or
// none: HTTP/1.0). On a loopback admin listener anything else is a DNS
// rebinding page: a browser sends the attacker's name, now resolving to
// 127.0.0.1, and counts the page as same-origin, so crossSite cannot see
// it. Tools (curl, Prometheus, scripts) reach loopback by address or
// localhost. A listener bound elsewhere is reached by names the gateway
// cannot know; there a firewall is the defence (docs/STATUS.md).
func localHost(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.ParseIP(host) != nil || strings.EqualFold(strings.TrimSuffix(host, "."), "localhost")
}

func methodAllowed(method, allow string) bool {
	if allow == allowPost {
		return method == http.MethodPost
	}
	return method == http.MethodGet || method == http.MethodHead
}

// readBody consumes and discards a small request body, so the connection
// can be reused, and refuses a large one with 413.
func readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
			fmt.Sprintf("admin requests take no body over %d bytes", maxBodyBytes))
		return false
	}
	body := http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if _, err := io.Copy(io.Discard, body); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "payload_too_large",
				fmt.Sprintf("admin requests take no body over %d bytes", maxBodyBytes))
		} else {
			writeError(w, http.StatusBadRequest, "bad_request", "cannot read request body")
		}
		return false
	}
	return true
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", contentTypePrometheus)
	h.Add("Vary", "Accept-Encoding")
	if r.Method == http.MethodHead || s.metrics == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	if !acceptsGzip(r.Header.Values("Accept-Encoding")) {
		s.metrics(w)
		return
	}
	h.Set("Content-Encoding", "gzip")
	zw := gzipPool.Get().(*gzip.Writer)
	zw.Reset(w)
	s.metrics(zw)
	_ = zw.Close() // a failed write means the scraper went away
	zw.Reset(io.Discard)
	gzipPool.Put(zw)
}

var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// acceptsGzip reports whether Accept-Encoding lists gzip (or *) with a
// non-zero q value.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			coding = strings.TrimSpace(coding)
			if !strings.EqualFold(coding, "gzip") && coding != "*" {
				continue
			}
			if q, ok := qValue(params); ok && q == 0 {
				continue
			}
			return true
		}
	}
	return false
}

// qValue extracts q from "q=0.5" style parameters; ok is false when absent
// or unreadable (then the coding counts as accepted).
func qValue(params string) (float64, bool) {
	for p := range strings.SplitSeq(params, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(p), "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, false
		}
		return q, true
	}
	return 0, false
}

func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
}

type statusBody struct {
	Status string `json:"status"`
}

func (s *Server) serveReadyz(w http.ResponseWriter, _ *http.Request) {
	if s.p == nil || !s.p.Ready() {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "not ready")
		return
	}
	writeJSON(w, http.StatusOK, statusBody{Status: "ready"})
}

func (s *Server) serveConfig(w http.ResponseWriter, _ *http.Request) {
	if s.p == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "no config loaded")
		return
	}
	body, sum, err := s.p.ConfigJSON()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "cannot render config: "+err.Error())
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusInternalServerError, "internal_error", "cannot render config: provider returned invalid JSON")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SHA256 string          `json:"sha256"`
		Config json.RawMessage `json:"config"`
	}{sum, body})
}

func (s *Server) serveUpstreams(w http.ResponseWriter, _ *http.Request) {
	if s.p == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "no config loaded")
		return
	}
	body, err := s.p.UpstreamsJSON()
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal_error", "cannot list upstreams: "+err.Error())
		return
	}
	if !json.Valid(body) {
		writeError(w, http.StatusInternalServerError, "internal_error", "cannot list upstreams: provider returned invalid JSON")
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

type reloadBody struct {
	Result  string     `json:"result"`
	Message string     `json:"message,omitempty"`
	SHA256  string     `json:"sha256,omitempty"`
	Error   *errorBody `json:"error,omitempty"`
}

func (s *Server) serveReload(w http.ResponseWriter, _ *http.Request) {
	if s.p == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "reload is not available")
		return
	}
	res := s.p.Reload()
	if res.OK {
		writeJSON(w, http.StatusOK, reloadBody{Result: "success", Message: res.Message, SHA256: res.SHA256})
		return
	}
	status, code := http.StatusInternalServerError, "reload_failed"
	switch {
	case res.Unavailable:
		status, code = http.StatusServiceUnavailable, "unavailable"
	case res.Invalid:
		status, code = http.StatusBadRequest, "invalid_config"
	}
	msg := res.Message
	if msg == "" {
		msg = "reload failed"
	}
	writeJSON(w, status, reloadBody{
		Result: "failure",
		SHA256: res.SHA256,
		Error:  &errorBody{Status: status, Code: code, Message: msg, RequestID: w.Header().Get("X-Request-Id")},
	})
}

// errorBody is the inside of the SPEC §4 error envelope.
type errorBody struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, struct {
		Error errorBody `json:"error"`
	}{errorBody{Status: status, Code: code, Message: message, RequestID: w.Header().Get("X-Request-Id")}})
}

// newRequestID is 32 random hex digits, the form the data plane uses.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// writeJSON sends v as the whole response. Marshal cannot fail for the
// types used here; if it ever did, the client gets a bare 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"status":500,"code":"internal_error","message":"cannot encode response"}}` + "\n")
	}
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
