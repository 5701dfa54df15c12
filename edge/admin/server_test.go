package admin

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeProvider struct {
	mu        sync.Mutex
	ready     bool
	config    []byte
	sha       string
	configErr error
	ups       []byte
	upsErr    error
	reload    ReloadResult
	reloads   atomic.Int32
}

func (p *fakeProvider) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

func (p *fakeProvider) ConfigJSON() ([]byte, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.config, p.sha, p.configErr
}

func (p *fakeProvider) UpstreamsJSON() ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ups, p.upsErr
}

func (p *fakeProvider) Reload() ReloadResult {
	p.reloads.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reload
}

func newFake() *fakeProvider {
	return &fakeProvider{
		ready:  true,
		config: []byte(`{"version":1,"routes":[{"name":"a"}],"auth":[{"name":"k","hmac_secret_file":"<redacted>"}]}`),
		sha:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		ups:    []byte(`{"upstreams":[{"name":"orders","targets":[{"address":"127.0.0.1:9001","healthy":true,"in_flight":3}]}]}`),
		reload: ReloadResult{OK: true, Message: "loaded 1 route", SHA256: "abc"},
	}
}

func writeMetrics(w io.Writer) {
	fmt.Fprintln(w, `portico_http_requests_total{listener="public",route="a",code="200"} 7`)
}

type result struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, h http.Handler, method, path, body string, hdr ...string) result {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return result{rec.Code, rec.Header(), rec.Body.Bytes()}
}

// errorOf checks the SPEC §4 envelope and returns its code.
func errorOf(t *testing.T, r result) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type %q", ct)
	}
	var env struct {
		Error struct {
			Status    int    `json:"status"`
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("error body %q: %v", r.body, err)
	}
	// SPEC §4: the envelope names the response's X-Request-Id.
	if id := r.header.Get("X-Request-Id"); len(id) != 32 || env.Error.RequestID != id {
		t.Fatalf("request_id %q, X-Request-Id %q", env.Error.RequestID, id)
	}
	if env.Error.Status != r.status || env.Error.Code == "" || env.Error.Message == "" {
		t.Fatalf("bad envelope for %d: %s", r.status, r.body)
	}
	return env.Error.Code
}

func TestHealthz(t *testing.T) {
	s := New("", newFake(), writeMetrics)
	for _, m := range []string{"GET", "HEAD"} {
		r := do(t, s, m, "/healthz", "")
		if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %v", m, r.status, r.header)
		}
		if m == "GET" && string(r.body) != `{"status":"ok"}`+"\n" {
			t.Fatalf("body %q", r.body)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatal("missing Cache-Control: no-store")
		}
	}
	// Healthz does not depend on the provider at all.
	if r := do(t, New("", nil, nil), "GET", "/healthz", ""); r.status != 200 {
		t.Fatalf("nil provider healthz %d", r.status)
	}
}

func TestReadyz(t *testing.T) {
	p := newFake()
	s := New("", p, nil)
	r := do(t, s, "GET", "/readyz", "")
	if r.status != 200 || string(r.body) != `{"status":"ready"}`+"\n" {
		t.Fatalf("ready: %d %s", r.status, r.body)
	}
	p.mu.Lock()
	p.ready = false
	p.mu.Unlock()
	r = do(t, s, "GET", "/readyz", "")
	if r.status != 503 || errorOf(t, r) != "unavailable" {
		t.Fatalf("draining: %d %s", r.status, r.body)
	}
	if r := do(t, New("", nil, nil), "GET", "/readyz", ""); r.status != 503 {
		t.Fatalf("nil provider readyz %d", r.status)
	}
}

func TestMetrics(t *testing.T) {
	s := New("", newFake(), writeMetrics)
	want := `portico_http_requests_total{listener="public",route="a",code="200"} 7` + "\n"

	r := do(t, s, "GET", "/metrics", "")
	if r.status != 200 || string(r.body) != want {
		t.Fatalf("plain: %d %q", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("Content-Type %q", ct)
	}
	if r.header.Get("Content-Encoding") != "" {
		t.Fatal("plain answer is encoded")
	}

	r = do(t, s, "GET", "/metrics", "", "Accept-Encoding", "deflate, gzip;q=0.8")
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip not used: %v", r.header)
	}
	zr, err := gzip.NewReader(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil || string(plain) != want {
		t.Fatalf("gunzip: %q %v", plain, err)
	}

	r = do(t, s, "HEAD", "/metrics", "")
	if r.status != 200 || len(r.body) != 0 {
		t.Fatalf("HEAD: %d %q", r.status, r.body)
	}
	if r := do(t, New("", nil, nil), "GET", "/metrics", ""); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("nil writer: %d %q", r.status, r.body)
	}
}

func TestAcceptsGzip(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := acceptsGzip([]string{in}); got != want {
			t.Fatalf("acceptsGzip(%q) = %v", in, got)
		}
	}
	f("", false)
	f("gzip", true)
	f("GZIP", true)
	f("identity", false)
	f("deflate, gzip", true)
	f("gzip;q=0", false)
	f("gzip; q=0.0", false)
	f("gzip;q=0.001", true)
	f("gzip;q=bogus", true)
	f("*", true)
	f("*;q=0", false)
	f("x-gzip", false)
	f(" , ,gzip , ", true)
}

func TestConfig(t *testing.T) {
	p := newFake()
	s := New("", p, nil)
	r := do(t, s, "GET", "/config", "")
	if r.status != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	var got struct {
		SHA256 string         `json:"sha256"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	if got.SHA256 != p.sha || got.Config["version"] != float64(1) {
		t.Fatalf("body %s", r.body)
	}
	if !strings.HasPrefix(string(r.body), `{"sha256":`) {
		t.Fatalf("sha256 should come first: %s", r.body)
	}

	p.mu.Lock()
	p.configErr = errors.New("snapshot missing")
	p.mu.Unlock()
	r = do(t, s, "GET", "/config", "")
	if r.status != 500 || errorOf(t, r) != "internal_error" || !strings.Contains(string(r.body), "snapshot missing") {
		t.Fatalf("%d %s", r.status, r.body)
	}

	p.mu.Lock()
	p.configErr, p.config = nil, []byte(`{"broken":`)
	p.mu.Unlock()
	r = do(t, s, "GET", "/config", "")
	if r.status != 500 || errorOf(t, r) != "internal_error" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := do(t, New("", nil, nil), "GET", "/config", ""); r.status != 503 {
		t.Fatalf("nil provider: %d", r.status)
	}
}

func TestUpstreams(t *testing.T) {
	p := newFake()
	s := New("", p, nil)
	r := do(t, s, "GET", "/upstreams", "")
	if r.status != 200 || string(r.body) != string(p.ups) || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	r = do(t, s, "HEAD", "/upstreams", "")
	if r.status != 200 {
		t.Fatalf("HEAD %d", r.status)
	}

	p.mu.Lock()
	p.upsErr = errors.New("pool gone")
	p.mu.Unlock()
	r = do(t, s, "GET", "/upstreams", "")
	if r.status != 500 || errorOf(t, r) != "internal_error" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	p.mu.Lock()
	p.upsErr, p.ups = nil, []byte("not json")
	p.mu.Unlock()
	r = do(t, s, "GET", "/upstreams", "")
	if r.status != 500 || errorOf(t, r) != "internal_error" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if r := do(t, New("", nil, nil), "GET", "/upstreams", ""); r.status != 503 {
		t.Fatalf("nil provider: %d", r.status)
	}
}

func TestReload(t *testing.T) {
	type body struct {
		Result  string     `json:"result"`
		Message string     `json:"message"`
		SHA256  string     `json:"sha256"`
		Error   *errorBody `json:"error"`
	}
	f := func(res ReloadResult, wantStatus int, wantResult, wantCode string) {
		t.Helper()
		p := newFake()
		p.reload = res
		r := do(t, New("", p, nil), "POST", "/reload", "")
		if r.status != wantStatus || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%+v: status %d, want %d", res, r.status, wantStatus)
		}
		var b body
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("%s: %v", r.body, err)
		}
		if b.Result != wantResult || b.SHA256 != res.SHA256 {
			t.Fatalf("body %s", r.body)
		}
		if wantCode == "" {
			if b.Error != nil || b.Message != res.Message {
				t.Fatalf("success body %s", r.body)
			}
		} else if b.Error == nil || b.Error.Code != wantCode || b.Error.Status != wantStatus || b.Error.Message == "" {
			t.Fatalf("failure body %s", r.body)
		}
		if p.reloads.Load() != 1 {
			t.Fatalf("Reload called %d times", p.reloads.Load())
		}
	}
	f(ReloadResult{OK: true, Message: "loaded", SHA256: "abc"}, 200, "success", "")
	f(ReloadResult{OK: true}, 200, "success", "")
	f(ReloadResult{Invalid: true, Message: "routes.yaml:3:5: routes[0].upstream: unknown upstream \"x\"", SHA256: "old"}, 400, "failure", "invalid_config")
	f(ReloadResult{Message: "cannot bind 0.0.0.0:443"}, 500, "failure", "reload_failed")
	f(ReloadResult{}, 500, "failure", "reload_failed")
	f(ReloadResult{Unavailable: true, Message: "draining; reload refused", SHA256: "old"}, 503, "failure", "unavailable")

	if r := do(t, New("", nil, nil), "POST", "/reload", ""); r.status != 503 {
		t.Fatalf("nil provider: %d", r.status)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	p := newFake()
	s := New("", p, writeMetrics)
	f := func(method, path, allow string) {
		t.Helper()
		r := do(t, s, method, path, "")
		if r.status != 405 || r.header.Get("Allow") != allow {
			t.Fatalf("%s %s: %d Allow=%q", method, path, r.status, r.header.Get("Allow"))
		}
		if method != "HEAD" && errorOf(t, r) != "method_not_allowed" {
			t.Fatalf("%s %s: %s", method, path, r.body)
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/config", "/upstreams"} {
		for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			f(m, path, "GET, HEAD")
		}
	}
	for _, m := range []string{"GET", "HEAD", "PUT", "DELETE", "OPTIONS"} {
		f(m, "/reload", "POST")
	}
	if p.reloads.Load() != 0 {
		t.Fatal("a refused method ran Reload")
	}
}

func TestNotFound(t *testing.T) {
	s := New("", newFake(), writeMetrics)
	for _, path := range []string{"/", "/metrics/", "/Metrics", "/healthz/x", "/reload/", "/debug/pprof/", "/%2e%2e/config"} {
		for _, m := range []string{"GET", "POST"} {
			r := do(t, s, m, path, "")
			if r.status != 404 || errorOf(t, r) != "not_found" {
				t.Fatalf("%s %s: %d %s", m, path, r.status, r.body)
			}
		}
	}
}

func TestBodyLimit(t *testing.T) {
	p := newFake()
	s := New("", p, nil)
	r := do(t, s, "POST", "/reload", strings.Repeat("x", maxBodyBytes+1))
	if r.status != 413 || errorOf(t, r) != "payload_too_large" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Without Content-Length the limit still holds.
	req := httptest.NewRequest("POST", "/reload", io.MultiReader(strings.NewReader(strings.Repeat("x", maxBodyBytes)), strings.NewReader("yy")))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 413 {
		t.Fatalf("chunked: %d", rec.Code)
	}
	if p.reloads.Load() != 0 {
		t.Fatal("Reload ran despite an oversized body")
	}
	// A small body is tolerated and ignored.
	if r := do(t, s, "POST", "/reload", "{}"); r.status != 200 {
		t.Fatalf("small body: %d", r.status)
	}
}

func TestServerLifecycle(t *testing.T) {
	p := newFake()
	s := New("127.0.0.1:0", p, writeMetrics)
	if s.Addr() != nil {
		t.Fatal("Addr before Start")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("second Start succeeded")
	}
	base := "http://" + s.Addr().String()
	client := &http.Client{Timeout: 5 * time.Second}

	get := func(path string) int {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/config": 200, "/upstreams": 200, "/nope": 404, "/reload": 405} {
		if got := get(path); got != want {
			t.Fatalf("GET %s = %d, want %d", path, got, want)
		}
	}
	resp, err := client.Post(base+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /reload = %d", resp.StatusCode)
	}

	// The same address cannot be bound twice: the error comes from Start.
	s2 := New(s.Addr().String(), p, nil)
	if err := s2.Start(); err == nil || !strings.Contains(err.Error(), "cannot start admin listener") {
		t.Fatalf("second bind: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := client.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after Shutdown")
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}

func TestShutdownBeforeStart(t *testing.T) {
	s := New("127.0.0.1:0", nil, nil)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Shutdown succeeded")
	}
}

func TestBadAddress(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:99999", "no-such-host.invalid:1", "::::"} {
		if err := New(addr, nil, nil).Start(); err == nil {
			t.Fatalf("Start(%q) succeeded", addr)
		}
	}
}

// A stuck request must not make Shutdown hang past its context.
func TestShutdownForcesAfterDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := &blockingProvider{fakeProvider: newFake(), entered: make(chan struct{}), release: release}
	s := New("127.0.0.1:0", p, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c := &http.Client{Timeout: 5 * time.Second}
		if resp, err := c.Post("http://"+s.Addr().String()+"/reload", "", nil); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-p.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("request never reached the provider")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Shutdown reported a clean stop with a stuck request")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hung")
	}
}

type blockingProvider struct {
	*fakeProvider
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (p *blockingProvider) Reload() ReloadResult {
	p.once.Do(func() { close(p.entered) })
	<-p.release
	return ReloadResult{OK: true}
}

func TestServerTimeoutsAreSet(t *testing.T) {
	s := New("127.0.0.1:0", nil, nil)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("missing limits: %+v", srv)
	}
	// A client that sends a huge header is refused by net/http.
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 2*maxHeaderBytes+4096))
	buf := make([]byte, 64)
	n, _ := conn.Read(buf)
	if !strings.Contains(string(buf[:n]), "431") {
		t.Fatalf("huge header answered %q", buf[:n])
	}
}

// TestCrossSiteRefused: a browser request made on another site's behalf
// (a page making a visitor's browser POST /reload) is refused with 403 and
// never reaches the provider; tools (no Origin, no Sec-Fetch-Site) and
// same-origin requests are served.
func TestCrossSiteRefused(t *testing.T) {
	p := newFake()
	h := New("", p, nil)
	for _, c := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"curl", nil, 200},
		{"cross-origin form", []string{"Origin", "http://evil.example", "Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}, 403},
		{"same-site fetch", []string{"Sec-Fetch-Site", "same-site"}, 403},
		{"bad origin", []string{"Origin", "::"}, 403},
		{"same origin", []string{"Origin", "http://example.com", "Sec-Fetch-Site", "same-origin"}, 200},
		{"typed in the address bar", []string{"Sec-Fetch-Site", "none"}, 200},
	} {
		before := p.reloads.Load()
		r := do(t, h, "POST", "/reload", "", c.hdr...)
		if r.status != c.status {
			t.Errorf("%s: %d, want %d", c.name, r.status, c.status)
		}
		if got := p.reloads.Load() - before; (c.status == 200) != (got == 1) {
			t.Errorf("%s: provider reloaded %d times", c.name, got)
		}
	}
	if r := do(t, h, "GET", "/config", "", "Origin", "http://evil.example"); r.status != 403 || errorOf(t, r) != "forbidden" {
		t.Errorf("cross-origin GET /config: %d", r.status)
	}
}

// TestDNSRebindingRefused: a page whose name was rebound to 127.0.0.1 is
// same-origin to the browser (Origin and Host agree), so on a loopback
// admin listener only a Host that is an IP address or localhost is served.
// A listener bound elsewhere is reached by names the gateway cannot know.
func TestDNSRebindingRefused(t *testing.T) {
	for _, c := range []struct {
		bind, host string
		status     int
	}{
		{"127.0.0.1:9901", "attacker.example:9901", 403},
		{"127.0.0.1:9901", "127.0.0.1.nip.io:9901", 403},
		{"127.0.0.1:9901", "127.0.0.1:9901", 200},
		{"127.0.0.1:9901", "localhost:9901", 200},
		{"127.0.0.1:9901", "LocalHost", 200},
		{"127.0.0.1:9901", "localhost.:9901", 200},
		{"[::1]:9901", "[::1]:9901", 200},
		{"localhost:9901", "evil.example", 403},
		{"127.0.0.1:9901", "", 200}, // HTTP/1.0 without Host
		{"0.0.0.0:9901", "node1.internal:9901", 200},
		{"10.0.0.5:9901", "admin.example", 200},
	} {
		p := newFake()
		h := New(c.bind, p, nil)
		req := httptest.NewRequest("POST", "/reload", nil)
		req.Host = c.host
		req.Header.Set("Origin", "http://"+c.host)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status {
			t.Errorf("admin on %s, Host %q: %d, want %d", c.bind, c.host, rec.Code, c.status)
		}
		if got := p.reloads.Load(); (c.status == 200) != (got == 1) {
			t.Errorf("admin on %s, Host %q: provider reloaded %d times", c.bind, c.host, got)
		}
	}
}
