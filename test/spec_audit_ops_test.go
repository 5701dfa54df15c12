//go:build integration

package test

// SPEC audit, §1 (command line, signals), §5 (admin, metrics) and the
// TLS/HTTP/2 listener options of §2/§3.

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// validateLineRE is SPEC §1's `FILE:LINE:COL: field.path: message`.
var validateLineRE = regexp.MustCompile(`^(.+):(\d+):(\d+): ([A-Za-z0-9_.\[\]-]+): (.+)$`)

func runValidate(t *testing.T, file string) (string, int) {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd := exec.Command(bin(t), "validate", "-c", file)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// The verdict and the problems are the output, on stdout.
	if stderr.Len() != 0 {
		t.Errorf("validate wrote to stderr: %q", stderr.String())
	}
	if err == nil {
		return stdout.String(), 0
	}
	out := []byte(stdout.String())
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatal(err)
	}
	return string(out), ee.ExitCode()
}

// SPEC §1: validate prints every problem as FILE:LINE:COL: field.path:
// message, at the right line and column, and exits 1.
func TestSpecAuditValidateEveryProblem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte(`version: 1
listeners:
  - name: public
    address: 127.0.0.1:31999
    bogus: 1
    tls:
      certificates: [{cert_file: missing.crt, key_file: missing.key}]
      min_version: "1.1"
upstreams:
  - name: app
    targets: [{address: 127.0.0.1:31998}]
  - name: app
    targets: [{address: 127.0.0.1:31997}]
auth:
  - name: users
    type: jwt
    jwks_file: jwks.json
    issuer: https://id.example.com/
    algorithms: [none]
rate_limits:
  - {name: r, key: ip, rate: 10/x}
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
  - name: later
    match: {path_prefix: /a}
    upstream: nope
    auth: [ghost]
    rate_limits: [gone]
    max_body_bytes: 10MB
    timeout: 5
`), 0o644)
	out, code := runValidate(t, file)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	want := map[string]string{ // field.path => LINE:COL
		"listeners[0].bogus":                         "5:5",
		"listeners[0].tls.min_version":               "8:20",
		"upstreams[1].name":                          "12:11",
		"auth[0].algorithms[0]":                      "19:18",
		"rate_limits[0].rate":                        "21:30",
		"routes[1].upstream":                         "28:15",
		"routes[1].auth[0]":                          "29:12",
		"routes[1].rate_limits[0]":                   "30:19",
		"routes[1].max_body_bytes":                   "31:21",
		"routes[1].timeout":                          "32:14",
		"listeners[0].tls.certificates[0].cert_file": "",
		"auth[0].jwks_file":                          "",
		"routes[1].match":                            "", // shadowed by "all"
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		m := validateLineRE.FindStringSubmatch(l)
		if m == nil || m[1] != file {
			t.Errorf("line not FILE:LINE:COL: field.path: message: %q", l)
			continue
		}
		got[m[4]] = m[2] + ":" + m[3]
	}
	for path, pos := range want {
		g, ok := got[path]
		if !ok {
			t.Errorf("no problem reported for %s\n%s", path, out)
		} else if pos != "" && g != pos {
			t.Errorf("%s reported at %s, want %s", path, g, pos)
		}
	}
}

// SPEC §1: every problem is printed as FILE:LINE:COL: field.path: message
// — also when the file cannot be read or parsed at all.
func TestSpecAuditValidateUnreadableAndBrokenFiles(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	broken := filepath.Join(dir, "broken.yaml")
	os.WriteFile(broken, []byte("version: 1\nroutes: [\n  - name: x\n"), 0o644)
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	for _, file := range []string{missing, broken, empty} {
		out, code := runValidate(t, file)
		if code != 1 {
			t.Errorf("%s: exit %d, want 1", filepath.Base(file), code)
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if m := validateLineRE.FindStringSubmatch(l); m == nil || m[1] != file {
				t.Errorf("%s: line not FILE:LINE:COL: field.path: message: %q", filepath.Base(file), l)
			}
		}
	}
}

// SPEC §1: validate exits 0 only "if it would load". A file that run
// refuses must not validate.
func TestSpecAuditValidateAgreesWithRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte(`version: 1
listeners:
  - name: public
    address: "`+freePort(t)+`"
access_log: {path: no-such-dir/access.log}
routes:
  - name: d
    match: {path_prefix: /}
    direct_response: {status: 200}
`), 0o644)
	vout, vcode := runValidate(t, file)
	cmd := exec.Command(bin(t), "run", "-c", file)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var runFailed bool
	select {
	case err := <-done:
		runFailed = err != nil
	case <-time.After(1500 * time.Millisecond):
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
	}
	if runFailed && vcode == 0 {
		t.Errorf("validate said ok (%q) but run refused the file:\n%s", strings.TrimSpace(vout), stderr.String())
	}
}

// SPEC §1: `portico version` prints version, commit and Go version; exit 0.
func TestSpecAuditVersion(t *testing.T) {
	out, err := exec.Command(bin(t), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	s := strings.TrimSpace(string(out))
	if !strings.Contains(s, "go1.") || !strings.Contains(s, "commit") || strings.Count(s, "\n") != 0 {
		t.Errorf("version output %q", s)
	}
}

// Help is an answer, not an error: usage on stdout and exit 0 for the
// program and for each command; a bad flag is usage on stderr and exit 2.
func TestHelpAndBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout bool
	}{
		{[]string{"--help"}, 0, true},
		{[]string{"run", "-h"}, 0, true},
		{[]string{"validate", "--help"}, 0, true},
		{[]string{"demo", "-h"}, 0, true},
		{[]string{"run", "-x"}, 2, false},
		{[]string{"validate"}, 2, false},
	} {
		cmd := exec.Command(bin(t), tc.args...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		_ = cmd.Run()
		out, other := stdout.String(), stderr.String()
		if !tc.stdout {
			out, other = other, out
		}
		if code := cmd.ProcessState.ExitCode(); code != tc.code || !strings.Contains(out, "usage") && !strings.Contains(out, "-c FILE") || other != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, stdout.String(), stderr.String())
		}
	}
}

// SPEC §1: SIGINT drains like SIGTERM: /readyz answers 503 while draining,
// the in-flight request finishes, new connections are refused, exit 0.
func TestSpecAuditSIGINTDrain(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		time.Sleep(800 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	g := startGateway(t, basicConfig(up.addr()))
	done := getBody("http://" + g.addr + "/work")
	up.waitPath("/work", 1) // in flight
	g.signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond)
	if resp, err := http.Get("http://" + g.admin + "/readyz"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("/readyz while draining: %d, want 503", resp.StatusCode)
		}
	}
	if c, err := net.DialTimeout("tcp", g.addr, time.Second); err == nil {
		io.WriteString(c, "GET /direct HTTP/1.1\r\nHost: a\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.Contains(string(b), "direct ok") {
			t.Errorf("a new connection was served while draining")
		}
	}
	if body := <-done; body != "finished" {
		t.Errorf("in-flight request: %q", body)
	}
	select {
	case err := <-g.done:
		g.done <- nil
		if err != nil {
			t.Errorf("exit after SIGINT: %v, want 0", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("no exit after SIGINT drain")
	}
}

func adminGet(t *testing.T, g *gateway, method, path string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+g.admin+path, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// SPEC §5: every admin path, its method, status and content type; /config
// is the effective config with the sha256 of the file, secrets redacted;
// /upstreams lists each target with health and in-flight count; POST
// /reload answers with the result.
func TestSpecAuditAdminEndpoints(t *testing.T) {
	up := newUpstream(t, nil)
	key := "very-secret-api-key"
	sum := sha256.Sum256([]byte(key))
	keySum := hex.EncodeToString(sum[:])
	cfg := `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "` + up.addr() + `"}]
auth:
  - name: partners
    type: api_key
    from: header:X-API-Key
    keys: [{consumer: acme, sha256: "` + keySum + `"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`
	g := startGateway(t, cfg)
	for _, c := range []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/metrics", 200, "text/plain"},
		{"GET", "/healthz", 200, ""},
		{"GET", "/readyz", 200, ""},
		{"GET", "/config", 200, "application/json"},
		{"GET", "/upstreams", 200, "application/json"},
		{"POST", "/reload", 200, "application/json"},
		{"GET", "/reload", 405, ""},
		{"POST", "/metrics", 405, ""},
		{"GET", "/no-such-endpoint", 404, ""},
	} {
		resp, body := adminGet(t, g, c.method, c.path)
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d (%s)", c.method, c.path, resp.StatusCode, c.status, body)
		}
		if c.ctype != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("%s %s: Content-Type %q, want %s", c.method, c.path, resp.Header.Get("Content-Type"), c.ctype)
		}
	}
	_, body := adminGet(t, g, "GET", "/config")
	var conf struct {
		SHA256 string         `json:"sha256"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &conf); err != nil {
		t.Fatalf("/config: %v", err)
	}
	file, _ := os.ReadFile(g.file)
	fsum := sha256.Sum256(file)
	if conf.SHA256 != hex.EncodeToString(fsum[:]) {
		t.Errorf("/config sha256 %q, want the file's %x", conf.SHA256, fsum)
	}
	if strings.Contains(body, keySum) || strings.Contains(body, key) {
		t.Errorf("/config leaks the API key hash")
	}
	if conf.Config["routes"] == nil {
		t.Errorf("/config has no routes: %s", body)
	}
	_, body = adminGet(t, g, "GET", "/upstreams")
	for _, want := range []string{up.addr(), `"healthy"`, `"in_flight"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/upstreams lacks %s: %s", want, body)
		}
	}
	_, body = adminGet(t, g, "POST", "/reload")
	if !strings.Contains(body, "success") {
		t.Errorf("POST /reload: %s", body)
	}
}

// SPEC §5: the metric names that must exist, with their labels; the two
// histograms are exposed as Prometheus histograms.
func TestSpecAuditMetricNamesAndTypes(t *testing.T) {
	up := newUpstream(t, nil)
	sum := sha256.Sum256([]byte("k"))
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
auth:
  - name: partners
    type: api_key
    from: header:X-API-Key
    keys: [{consumer: acme, sha256: "`+hex.EncodeToString(sum[:])+`"}]
rate_limits:
  - {name: one, key: ip, rate: 1/m}
routes:
  - name: keyed
    match: {path_prefix: /keyed}
    auth: [partners]
    upstream: app
  - name: limited
    match: {path_prefix: /limited}
    rate_limits: [one]
    upstream: app
`)
	doReq(t, "GET", "http://"+g.addr+"/keyed", nil)
	doReq(t, "GET", "http://"+g.addr+"/limited", nil)
	doReq(t, "GET", "http://"+g.addr+"/limited", nil)
	_, m := adminGet(t, g, "GET", "/metrics")
	for _, re := range []string{
		`(?m)^portico_http_requests_total\{listener="public",route="limited",code="200"\} 1$`,
		`(?m)^portico_http_requests_total\{listener="public",route="limited",code="429"\} 1$`,
		`(?m)^portico_http_request_duration_seconds_bucket\{route="limited",le="\+Inf"\} 2$`,
		`(?m)^portico_http_request_duration_seconds_count\{route="limited"\} 2$`,
		`(?m)^portico_upstream_request_duration_seconds_bucket\{upstream="app",le="\+Inf"\} 1$`,
		`(?m)^portico_upstream_target_healthy\{upstream="app",target="` + regexp.QuoteMeta(up.addr()) + `"\} 1$`,
		`(?m)^portico_connections_active\{listener="public"\} \d+$`,
		`(?m)^portico_auth_rejected_total\{route="keyed",auth="partners",reason="[a-z_]+"\} 1$`,
		`(?m)^portico_ratelimit_rejected_total\{route="limited",limit="one"\} 1$`,
		`(?m)^portico_config_reloads_total\{result="success"\} 0$`,
		`(?m)^portico_config_reloads_total\{result="failure"\} 0$`,
	} {
		if !regexp.MustCompile(re).MatchString(m) {
			t.Errorf("metrics lack %s", re)
		}
	}
	// A _total series is a counter by Prometheus convention; typed as a
	// gauge, rate() over it would still work but alerts and recording
	// rules written for counters would not.
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (portico_\S+_total) (\S+)$`).FindAllStringSubmatch(m, -1) {
		if m[2] != "counter" {
			t.Errorf("%s is typed %s, want counter", m[1], m[2])
		}
	}
	for _, c := range []string{"completed", "failed", "timed_out", "refused"} {
		if !strings.Contains(m, "# TYPE portico_tls_handshakes_"+c+"_total counter") {
			t.Errorf("no counter type line for portico_tls_handshakes_%s_total", c)
		}
	}
	for _, g := range []string{"in_flight", "queued", "awaiting_peer"} {
		if !regexp.MustCompile(`(?m)^portico_tls_handshakes_` + g + ` \d+$`).MatchString(m) {
			t.Errorf("no gauge portico_tls_handshakes_%s", g)
		}
	}
	// Every Portico family says what it counts (promtool lints a HELP
	// line without text).
	for _, typ := range regexp.MustCompile(`(?m)^# TYPE (portico_\S+) `).FindAllStringSubmatch(m, -1) {
		if !regexp.MustCompile(`(?m)^# HELP ` + typ[1] + ` \S`).MatchString(m) {
			t.Errorf("%s has no HELP text", typ[1])
		}
	}
	for _, h := range []string{"portico_http_request_duration_seconds", "portico_upstream_request_duration_seconds"} {
		if !strings.Contains(m, "# TYPE "+h+" histogram") {
			t.Errorf("no \"# TYPE %s histogram\" line: Prometheus reads the series as untyped", h)
		}
	}
}

// SPEC §2 access_log: stderr and off are honoured (stdout is the default
// and tested elsewhere).
func TestSpecAuditAccessLogStderr(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, strings.Replace(basicConfig(up.addr()), "access_log: {path: stdout}", "access_log: {path: stderr}", 1))
	resp, _ := g.get("/direct")
	id := resp.Header.Get("X-Request-Id")
	if !g.logged(`"request_id":"` + id + `"`) {
		t.Errorf("access log line not on stderr")
	}
	if strings.Contains(g.stdout.String(), id) {
		t.Errorf("access log line on stdout with path: stderr")
	}
}

// SPEC §2 listeners[].tls.min_version "1.3" refuses TLS 1.2; protocols
// [http1] on TLS does not offer h2; [http1] on plaintext refuses h2c.
func TestSpecAuditListenerProtocolsAndMinVersion(t *testing.T) {
	up := newUpstream(t, nil)
	p := newPKI(t, "audit-ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	tls13 := freePort(t)
	tlsH1 := freePortNotIn(t, "", tls13) // two draws in a row can return the same port
	g := startGateway(t, `version: 1
listeners:
  - name: plain
    address: "{{LISTEN}}"
    protocols: [http1]
  - name: tls13
    address: "`+tls13+`"
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
      min_version: "1.3"
  - name: tlsh1
    address: "`+tlsH1+`"
    protocols: [http1]
    tls:
      certificates: [{cert_file: "`+cert+`", key_file: "`+key+`"}]
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
routes:
  - name: all
    match: {path_prefix: /}
    upstream: app
`)
	base := func() *tls.Config { return &tls.Config{RootCAs: p.pool(), ServerName: "localhost"} }
	c12 := base()
	c12.MaxVersion = tls.VersionTLS12
	if c, err := tls.Dial("tcp", tls13, c12); err == nil {
		c.Close()
		t.Errorf("min_version 1.3 accepted a TLS 1.2 handshake")
	}
	if _, _, st, err := tlsGet(t, tls13, base(), "/", nil); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("TLS 1.3 on the 1.3 listener: %v", err)
	}
	ch2 := base()
	ch2.NextProtos = []string{"h2", "http/1.1"}
	c, err := tls.Dial("tcp", tlsH1, ch2)
	if err != nil {
		t.Fatal(err)
	}
	if np := c.ConnectionState().NegotiatedProtocol; np == "h2" {
		t.Errorf("protocols [http1] negotiated h2 by ALPN")
	}
	c.Close()
	// h2c prior knowledge on an http1-only plaintext listener is not served
	// as HTTP/2.
	out := g.raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00", 2*time.Second)
	if strings.HasPrefix(out, "\x00") {
		t.Errorf("h2c served on a [http1] listener: %q", out)
	}
}

// SPEC §3 over HTTP/2: h2c prior knowledge on a default plaintext listener;
// Portico's errors carry the envelope and x-request-id; identity and
// forwarding headers as on HTTP/1.1.
func TestSpecAuditH2cHeadersAndErrors(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	hc := h2cClient()
	req, _ := http.NewRequest("GET", "http://"+g.addr+"/up/h2?x=1", nil)
	req.Header.Set("X-Portico-Consumer", "forged")
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("h2c: %s %d %v", resp.Proto, resp.StatusCode, resp.Header)
	}
	s := lastSeen(t, up)
	if s.Header.Get("X-Portico-Consumer") != "" || s.Header.Get("X-Forwarded-For") != "198.51.100.9, 127.0.0.1" ||
		s.Header.Get("X-Forwarded-Proto") != "http" || s.Header.Get("X-Forwarded-Host") != g.addr || s.Host != g.addr ||
		s.Header.Get("X-Request-Id") != resp.Header.Get("X-Request-Id") || !traceparentRE.MatchString(s.Header.Get("Traceparent")) {
		t.Errorf("upstream saw over h2: host %q %v", s.Host, s.Header)
	}
	for _, c := range []struct {
		path   string
		status int
		code   string
	}{{"/nowhere", 404, "not_found"}, {"/a%2Fb", 400, "bad_request"}} {
		resp, err := hc.Get("http://" + g.addr + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		checkEnvelope(t, resp, string(b), c.status, c.code)
	}
}

// SPEC §3 trusted_proxies: only decides which hop is the client address
// for rate-limit keys and the access log; X-Forwarded-For is appended to
// either way.
func TestSpecAuditTrustedProxies(t *testing.T) {
	up := newUpstream(t, nil)
	cfg := `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
    trusted_proxies: [127.0.0.1/32, 10.0.0.0/8]
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "` + up.addr() + `"}]
rate_limits:
  - {name: per-ip, key: ip, rate: 1/m}
routes:
  - name: limited
    match: {path_prefix: /}
    rate_limits: [per-ip]
    upstream: app
`
	g := startGateway(t, cfg)
	base := "http://" + g.addr + "/x"
	// The client is the rightmost untrusted hop: 203.0.113.5 here.
	resp, _ := doReq(t, "GET", base, map[string]string{"X-Forwarded-For": "192.0.2.1, 203.0.113.5, 10.1.2.3"})
	if resp.StatusCode != 200 {
		t.Fatalf("first: %d", resp.StatusCode)
	}
	if l := accessLogLine(t, g, resp.Header.Get("X-Request-Id")); l["remote_addr"] != "203.0.113.5" {
		t.Errorf("access log remote_addr %v, want 203.0.113.5", l["remote_addr"])
	}
	if got := lastSeen(t, up).Header.Get("X-Forwarded-For"); got != "192.0.2.1, 203.0.113.5, 10.1.2.3, 127.0.0.1" {
		t.Errorf("X-Forwarded-For upstream %q", got)
	}
	// Same client address through another proxy chain: limited.
	if resp, _ := doReq(t, "GET", base, map[string]string{"X-Forwarded-For": "203.0.113.5"}); resp.StatusCode != 429 {
		t.Errorf("same client again: %d, want 429", resp.StatusCode)
	}
	// Another client behind the same proxy: its own bucket.
	if resp, _ := doReq(t, "GET", base, map[string]string{"X-Forwarded-For": "203.0.113.6"}); resp.StatusCode != 200 {
		t.Errorf("other client: %d, want 200", resp.StatusCode)
	}
}

// SPEC §2: JSON is valid YAML and accepted; relative file paths are
// relative to the route file's folder, whatever the working directory.
func TestSpecAuditJSONAndRelativePaths(t *testing.T) {
	p := newPKI(t, "rel-ca")
	cert, key, _ := p.issue(t, "srv", false, "localhost")
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "certs"), 0o755)
	for src, dst := range map[string]string{cert: "certs/srv.crt", key: "certs/srv.key"} {
		b, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(dir, dst), b, 0o600)
	}
	file := filepath.Join(dir, "portico.json")
	os.WriteFile(file, []byte(`{"version": 1,
 "listeners": [{"name": "tls", "address": "127.0.0.1:31998",
   "tls": {"certificates": [{"cert_file": "certs/srv.crt", "key_file": "certs/srv.key"}]}}],
 "routes": [{"name": "d", "match": {"path_prefix": "/"}, "direct_response": {"status": 200, "body": "ok"}}]}`), 0o644)
	cmd := exec.Command(bin(t), "validate", "-c", file)
	cmd.Dir = t.TempDir() // elsewhere: relative paths must not follow the cwd
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("JSON route file with relative paths: %v\n%s", err, out)
	}
	os.WriteFile(file, []byte(`{"version": 1, "listeners": [{"name": "p", "address": "127.0.0.1:31998", "extra": 1}],
 "routes": [{"name": "d", "match": {"path_prefix": "/"}, "direct_response": {"status": 200}}]}`), 0o644)
	out, code := runValidate(t, file)
	if code != 1 || !strings.Contains(out, "listeners[0].extra") {
		t.Errorf("unknown field in JSON: exit %d\n%s", code, out)
	}
}

// SPEC §3: every rejection closes the connection, and nothing pipelined
// behind the bad request is answered.
func TestSpecAuditRejectionsCloseConnection(t *testing.T) {
	up := newUpstream(t, auditHandler)
	g := startGateway(t, auditConfig(up.addr()))
	next := "GET /direct HTTP/1.1\r\nHost: a\r\n\r\n"
	for _, bad := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
		"POST /up/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
		"POST /up/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /a%2fb HTTP/1.1\r\nHost: a\r\n\r\n",
	} {
		start := time.Now()
		out := g.raw(bad+next, 3*time.Second)
		if time.Since(start) > 2*time.Second {
			t.Errorf("%q: connection not closed after the rejection", bad)
		}
		if strings.Contains(out, "direct ok") || strings.Count(out, "HTTP/1.1 ") != 1 {
			t.Errorf("%q: request after the rejection was answered:\n%s", bad, out)
		}
	}
}

// SPEC §1: drain lets in-flight requests finish "up to drain_timeout",
// then exits 0 — a request longer than that does not hold the process.
func TestSpecAuditDrainTimeoutBounds(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if r.URL.Path == "/streaming" {
			w.WriteHeader(200)
			io.WriteString(w, "part")
			w.(http.Flusher).Flush()
		}
		time.Sleep(4 * time.Second)
	})
	cfg := strings.Replace(basicConfig(up.addr()), "drain_timeout: 5s", "drain_timeout: 700ms", 1)
	g := startGateway(t, cfg)
	// Exchanges still waiting for their answer when drain_timeout passes
	// get a 503 envelope (HTTP/1.1 and HTTP/2); one whose answer is under
	// way is cut, and logged with the status sent and drain_timeout.
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, 2)
	for _, c := range []*http.Client{{Timeout: 5 * time.Second}, h2cClient()} {
		c := c
		go func() {
			resp, err := c.Get("http://" + g.addr + "/long")
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers <- answer{status: resp.StatusCode, body: string(b)}
		}()
	}
	streamed := make(chan string, 1)
	go func() {
		resp, err := client.Get("http://" + g.addr + "/streaming")
		if err != nil {
			streamed <- err.Error()
			return
		}
		defer resp.Body.Close()
		streamed <- resp.Header.Get("X-Request-Id")
		io.Copy(io.Discard, resp.Body)
	}()
	up.waitPath("/long", 2) // both in flight
	up.waitPath("/streaming", 1)
	start := time.Now()
	g.signal(syscall.SIGTERM)
	select {
	case err := <-g.done:
		g.done <- nil
		if err != nil {
			t.Errorf("exit %v, want 0", err)
		}
		if d := time.Since(start); d > 2500*time.Millisecond {
			t.Errorf("exit %v after SIGTERM; drain_timeout is 700ms", d)
		}
	case <-time.After(3500 * time.Millisecond):
		t.Fatal("still running 3.5 s after SIGTERM with drain_timeout 700ms")
	}
	for i := 0; i < 2; i++ {
		a := <-answers
		if a.err != nil || a.status != 503 || !strings.Contains(a.body, `"code":"unavailable"`) {
			t.Errorf("in flight at the drain's end: %d %q %v, want the 503 envelope", a.status, a.body, a.err)
		}
	}
	if id := <-streamed; len(id) != 32 {
		t.Fatalf("streaming request: %s", id)
	} else if l := accessLogLine(t, g, id); l["status"] != float64(200) || l["error_code"] != "drain_timeout" {
		t.Errorf("cut response logged as %v %v, want 200 drain_timeout", l["status"], l["error_code"])
	}
}

// h2Settings opens an h2c prior-knowledge connection and returns the
// server's first SETTINGS frame.
func h2Settings(t *testing.T, addr string) map[http2.SettingID]uint32 {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading server frames: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			out := map[http2.SettingID]uint32{}
			sf.ForeachSetting(func(s http2.Setting) error { out[s.ID] = s.Val; return nil })
			return out
		}
	}
	t.Fatal("no SETTINGS frame from the server")
	return nil
}

// SPEC §2 limits.h2_max_concurrent_streams (default 256) is what the
// server announces in SETTINGS_MAX_CONCURRENT_STREAMS.
func TestSpecAuditH2MaxConcurrentStreams(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, basicConfig(up.addr())) // default limit
	if v := h2Settings(t, g.addr)[http2.SettingMaxConcurrentStreams]; v != 256 {
		t.Errorf("default SETTINGS_MAX_CONCURRENT_STREAMS %d, want 256", v)
	}
	g2 := startGateway(t, strings.Replace(basicConfig(up.addr()), "max_body_bytes: 2GiB}", "max_body_bytes: 2GiB, h2_max_concurrent_streams: 7}", 1))
	if v := h2Settings(t, g2.addr)[http2.SettingMaxConcurrentStreams]; v != 7 {
		t.Errorf("SETTINGS_MAX_CONCURRENT_STREAMS %d, want 7", v)
	}
}

// Every family SPEC §5 lists is on a fresh process's /metrics, before any
// request or rejection; requests that match no route are timed as well as
// counted; a request answered at once is timed above 0; and a reload that
// removes an upstream or a target removes its health series.
func TestMetricsFamiliesDurationsAndStaleTargets(t *testing.T) {
	up1, up2 := newUpstream(t, nil), newUpstream(t, nil)
	cfg := `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - name: app
    targets: [{address: "` + up1.addr() + `"}, {address: "` + up2.addr() + `"}]
  - name: gone
    targets: [{address: "` + up2.addr() + `"}]
routes:
  - name: direct
    match: {path: /direct}
    direct_response: {status: 200, body: "ok"}
  - name: app
    match: {path_prefix: /app}
    upstream: app
  - name: gone
    match: {path_prefix: /gone}
    upstream: gone
`
	g := startGateway(t, cfg)
	_, m := adminGet(t, g, "GET", "/metrics")
	for _, fam := range []string{
		"portico_http_requests_total counter", "portico_http_request_duration_seconds histogram",
		"portico_upstream_request_duration_seconds histogram", "portico_upstream_target_healthy gauge",
		"portico_connections_active gauge", "portico_auth_rejected_total counter",
		"portico_ratelimit_rejected_total counter", "portico_config_reloads_total counter",
		"portico_h2_connection_errors_total counter", // README lists it; absent() alerts need it declared
	} {
		if !strings.Contains(m, "# TYPE "+fam+"\n") {
			t.Errorf("fresh /metrics lacks # TYPE %s", fam)
		}
	}
	if strings.Contains(m, `", `) {
		t.Errorf("a label set with a space after a comma: %q", regexp.MustCompile(`.*", .*`).FindString(m))
	}

	for i := 0; i < 3; i++ {
		g.get("/nowhere")
		g.get("/direct")
	}
	_, m = adminGet(t, g, "GET", "/metrics")
	for _, re := range []string{
		`(?m)^portico_http_requests_total\{listener="public",route="",code="404"\} 3$`,
		`(?m)^portico_http_request_duration_seconds_count\{route=""\} 3$`,
		`(?m)^portico_http_request_duration_seconds_count\{route="direct"\} 3$`,
		`(?m)^portico_upstream_target_healthy\{upstream="gone",target="` + regexp.QuoteMeta(up2.addr()) + `"\} 1$`,
	} {
		if !regexp.MustCompile(re).MatchString(m) {
			t.Errorf("metrics lack %s", re)
		}
	}
	if s := regexp.MustCompile(`(?m)^portico_http_request_duration_seconds_sum\{route="direct"\} (\S+)$`).FindStringSubmatch(m); s == nil || s[1] == "0" {
		t.Errorf("direct responses timed at 0: %v", s)
	}
	for deadline := time.Now().Add(3 * time.Second); strings.Count(g.stdout.String(), "\n") < 6 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // the access log is written off the loop
	}
	for _, line := range strings.Split(strings.TrimSpace(g.stdout.String()), "\n") {
		var e struct {
			Path     string  `json:"path"`
			Duration float64 `json:"duration_ms"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("access log line %q: %v", line, err)
		}
		if e.Duration <= 0 {
			t.Errorf("%s logged with duration %v: %s", e.Path, e.Duration, line)
		}
	}

	// Drop upstream gone and app's second target.
	next := strings.Replace(cfg, `, {address: "`+up2.addr()+`"}]`, `]`, 1)
	next = next[:strings.Index(next, "  - name: gone\n    targets")] + next[strings.Index(next, "routes:"):]
	next = next[:strings.Index(next, "  - name: gone\n    match")]
	g.writeConfig(next)
	if resp, body := adminGet(t, g, "POST", "/reload"); resp.StatusCode != 200 {
		t.Fatalf("reload: %d %s", resp.StatusCode, body)
	}
	_, m = adminGet(t, g, "GET", "/metrics")
	if !regexp.MustCompile(`(?m)^portico_upstream_target_healthy\{upstream="app",target="` + regexp.QuoteMeta(up1.addr()) + `"\} 1$`).MatchString(m) {
		t.Errorf("kept target's health series missing")
	}
	if n := strings.Count(m, "portico_upstream_target_healthy{"); n != 1 {
		t.Errorf("%d target health series after the reload, want 1:\n%s", n, regexp.MustCompile(`(?m)^portico_upstream_target_healthy\{.*$`).FindAllString(m, -1))
	}
}

// A reload refused while compiling (here: a JWKS file with no usable key,
// which only the key parser sees) leaves no metric series for the routes
// and upstreams of the file it refused.
func TestFailedReloadLeavesNoSeries(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, oneRouteConfig(up.addr(), "", ""))
	jwks := filepath.Join(t.TempDir(), "bad.jwks")
	if err := os.WriteFile(jwks, []byte(`{"keys":[{"kty":"XX"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	g.writeConfig(`version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: stdout}
upstreams:
  - {name: app, targets: [{address: "` + up.addr() + `"}]}
  - {name: ghost, targets: [{address: "` + up.addr() + `"}]}
auth:
  - {name: broken, type: jwt, jwks_file: "` + jwks + `", algorithms: [ES256]}
rate_limits:
  - {name: ghostly, key: ip, rate: 10/s}
routes:
  - name: ghost
    match: {path_prefix: /ghost/}
    auth: [broken]
    rate_limits: [ghostly]
    upstream: ghost
  - {name: all, upstream: app}
`)
	if resp, body := adminGet(t, g, "POST", "/reload"); resp.StatusCode != 400 || !strings.Contains(body, "broken") {
		t.Fatalf("reload of a file that cannot compile: %d %s", resp.StatusCode, body)
	}
	_, m := adminGet(t, g, "GET", "/metrics")
	for _, s := range []string{`route="ghost"`, `upstream="ghost"`} {
		if strings.Contains(m, s) {
			t.Errorf("a refused reload left series with %s", s)
		}
	}
	// The log has each problem once, on its own line, then the summary
	// (written after them through the same ordered writer: once it is
	// there, they are).
	if !g.logged(`"msg":"reload failed; keeping the previous config","problems":1}`) {
		t.Errorf("no summary line with the count:\n%s", g.stderr.String())
	}
	log := g.stderr.String()
	if n := strings.Count(log, `"msg":"route file problem"`); n != 1 || !regexp.MustCompile(`"problem":"[^"]+:\d+:\d+: auth\[0\]`).MatchString(log) {
		t.Errorf("%d problem lines for one problem:\n%s", n, log)
	}
}

// `portico run` on a file with several problems exits 1 and logs each as
// its own JSON line, in validate's FILE:LINE:COL: field.path: message form.
func TestRunLogsEachProblem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("version: 2\nlisteners: []\nbogus: 1\n"), 0o644)
	cmd := exec.Command(bin(t), "run", "-c", file)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("run on a bad file: %v\n%s", err, stderr.String())
	}
	var problems int
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON log line: %q", l)
		}
		if p, _ := e["problem"].(string); p != "" {
			problems++
			if !regexp.MustCompile(`^` + regexp.QuoteMeta(file) + `:\d+:\d+: \S+: .+`).MatchString(p) {
				t.Errorf("problem %q is not FILE:LINE:COL: field.path: message", p)
			}
		}
	}
	if problems < 3 {
		t.Fatalf("%d problems logged, want one line each for version, listeners and bogus:\n%s", problems, stderr.String())
	}
}
