package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func parseErrs(t *testing.T, src string) *Errors {
	t.Helper()
	_, err := Parse([]byte(src), "r.yaml")
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("want *Errors, got %v", err)
	}
	return errs
}

const minimal = `version: 1
listeners: [{name: web, address: "127.0.0.1:8080"}]
upstreams: [{name: app, targets: [{address: "127.0.0.1:9000"}]}]
`

// Positions point at the offending value, in block and flow style, through
// the line and column of the bad scalar itself.
func TestPositionAccuracy(t *testing.T) {
	cases := []struct {
		src        string
		line, col  int
		path, frag string
	}{
		{minimal + "routes:\n  - name: r\n    upstream: app\n    match:\n      path_prefix: nope\n", 8, 20, "routes[0].match.path_prefix", "must start with '/'"},
		{minimal + "routes:\n  - {name: r, upstream: app, match: {methods: [GET, post]}}\n", 5, 53, "routes[0].match.methods[1]", "upper case"},
		{minimal + "routes:\n  - name: r\n    upstream: missing\n", 6, 15, "routes[0].upstream", `unknown upstream "missing"`},
		{minimal + "routes:\n  - name: r\n    upstream: app\n    timeout:   5parsecs\n", 7, 16, "routes[0].timeout", "invalid duration"},
		{minimal + "routes:\n  - name: r\n    upstream: app\n    retries:\n      attempts: 2\n      on:\n        - reset\n        - \"418\"\n", 11, 11, "routes[0].retries.on[1]", `unknown condition "418"`},
		{minimal + "routes:\n  - name: r\n    upstream: app\n    extra: 1\n", 7, 5, "routes[0].extra", "unknown field"},
		{minimal + "drain_timeout: 1s\n" + "access_log:\n  path: \"\"\n", 6, 9, "access_log.path", "required"},
	}
	for _, c := range cases {
		errs := parseErrs(t, c.src)
		if len(errs.Problems) != 1 {
			t.Errorf("want 1 problem, got:\n%v", errs)
			continue
		}
		p := errs.Problems[0]
		if p.Line != c.line || p.Col != c.col || p.Path != c.path || !strings.Contains(p.Message, c.frag) || p.File != "r.yaml" {
			t.Errorf("got %s; want r.yaml:%d:%d: %s: ...%s...", p, c.line, c.col, c.path, c.frag)
		}
	}
}

// Every problem is reported, not just the first, sorted by position, each
// on its own line in the FILE:LINE:COL: path: message form.
func TestAllProblemsSorted(t *testing.T) {
	errs := parseErrs(t, `version: 3
routes:
  - {name: b, upstream: nope}
  - {name: b, upstream: nope, bogus: 1}
listeners: [{name: web, address: "bad"}]
`)
	want := `r.yaml:1:10: version: unsupported version 3 (must be 1)
r.yaml:3:25: routes[0].upstream: unknown upstream "nope"
r.yaml:4:5: routes[1]: never matches: route "b" (line 3) comes first and matches every request this route matches
r.yaml:4:12: routes[1].name: duplicate name "b" (first at routes[0].name)
r.yaml:4:25: routes[1].upstream: unknown upstream "nope"
r.yaml:4:31: routes[1].bogus: unknown field
r.yaml:5:34: listeners[0].address: invalid address "bad": want host:port`
	if got := errs.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestProblemString(t *testing.T) {
	f := func(p Problem, want string) {
		t.Helper()
		if got := p.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	f(Problem{File: "f.yaml", Line: 3, Col: 7, Path: "routes[2].match.path_prefix", Message: "bad"}, "f.yaml:3:7: routes[2].match.path_prefix: bad")
	f(Problem{File: "f.yaml", Line: 3, Col: 0, Message: "syntax"}, "f.yaml:3:1: file: syntax")
	f(Problem{File: "f.yaml", Path: "x", Message: "m"}, "f.yaml:1:1: x: m")
}

// Absent fields take defaults; present fields keep their value, even 0.
func TestDefaultsOnlyForAbsentFields(t *testing.T) {
	dir := fixtures(t)
	c, err := Parse([]byte(`version: 1
listeners: [{name: web, address: "127.0.0.1:8080"}]
upstreams:
  - {name: a, targets: [{address: "127.0.0.1:9000"}]}
  - {name: b, targets: [{address: "127.0.0.1:9000"}], max_idle_conns: 0, health_check: {path: /h}, outlier: {}}
  - {name: c, targets: [{address: "127.0.0.1:9000"}], health_check: {path: /h, interval: 500ms}}
auth:
  - {name: j, type: jwt, issuer: i, jwks_file: jwks.json}
  - {name: z, type: jwt, issuer: i, jwks_file: jwks.json, leeway: 0s, tenant_claim: t}
rate_limits:
  - {name: r, key: ip, rate: 50/m}
routes:
  - {name: d, match: {path: /d}, direct_response: {status: 200, body: hi}}
  - {name: e, match: {path: /e}, direct_response: {status: 204}}
  - {name: f, match: {path: /f}, upstream: a, retries: {attempts: 1}}
`), filepath.Join(dir, "r.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	if !reflect.DeepEqual(l.Limits, Limits{MaxConnections: 10000, MaxHeaderBytes: 64 * KiB, HeaderTimeout: Duration(10 * time.Second),
		IdleTimeout: Duration(60 * time.Second), MaxBodyBytes: 10 * MiB, H2MaxConcurrentStreams: 256}) {
		t.Errorf("limits = %+v", l.Limits)
	}
	if c.AccessLog.Path != "stdout" || c.DrainTimeout != Duration(30*time.Second) || c.Admin != nil {
		t.Errorf("access log %q drain %v admin %v", c.AccessLog.Path, c.DrainTimeout, c.Admin)
	}
	a, b := c.Upstreams[0], c.Upstreams[1]
	if a.MaxIdleConns != 64 || b.MaxIdleConns != 0 || a.Balancer != "round_robin" || a.ConnectTimeout != Duration(time.Second) || a.MaxConns != 0 {
		t.Errorf("upstream defaults: %+v / %+v", a, b)
	}
	if *b.HealthCheck != (HealthCheck{Path: "/h", Interval: Duration(5 * time.Second), Timeout: Duration(time.Second), HealthyThreshold: 2, UnhealthyThreshold: 3, Pos: b.HealthCheck.Pos}) {
		t.Errorf("health check = %+v", b.HealthCheck)
	}
	// The default timeout (1s) never outlasts a shorter interval.
	if hc := c.Upstreams[2].HealthCheck; hc.Timeout != Duration(500*time.Millisecond) {
		t.Errorf("health check timeout with a 500ms interval = %v", hc.Timeout)
	}
	if b.Outlier.ConsecutiveFailures != 5 || b.Outlier.BaseEjection != Duration(30*time.Second) {
		t.Errorf("outlier = %+v", b.Outlier)
	}
	j, z := c.Auth[0], c.Auth[1]
	if j.Leeway != Duration(30*time.Second) || z.Leeway != 0 || j.JWKSRefresh != Duration(10*time.Minute) ||
		!reflect.DeepEqual(j.TokenFrom, []string{"header:Authorization"}) || j.ConsumerClaim != "sub" || j.ScopeClaim != "scope" ||
		j.TenantClaim != "" || z.TenantClaim != "t" || !reflect.DeepEqual(j.Algorithms, asymmetricAlgs) {
		t.Errorf("jwt defaults: %+v / %+v", j, z)
	}
	if c.RateLimits[0].Burst != 50 {
		t.Errorf("burst = %d", c.RateLimits[0].Burst)
	}
	if c.Routes[0].DirectResponse.ContentType != DefaultDirectContentType || c.Routes[1].DirectResponse.ContentType != "" {
		t.Errorf("direct response content types: %q %q", c.Routes[0].DirectResponse.ContentType, c.Routes[1].DirectResponse.ContentType)
	}
	if r := c.Routes[2]; r.Timeout != Duration(15*time.Second) || r.MaxBodyBytes != 0 || !reflect.DeepEqual(r.Retries.On, []string{"connect_failure", "reset"}) {
		t.Errorf("route defaults: %+v", r)
	}
	// Defaults are copies: changing one config does not change the next.
	c.Auth[0].TokenFrom[0] = "changed"
	c.Listeners[0].Protocols[0] = "changed"
	if DefaultTokenFrom[0] != "header:Authorization" || DefaultPlaintextProtocols[0] != "http1" {
		t.Error("a default slice was shared with a Config")
	}
}

func TestConfigProblem(t *testing.T) {
	_, err := Parse([]byte(minimal+"routes:\n  - name: r\n    upstream: app\n    auth: []\n"), "r.yaml")
	if err == nil {
		t.Fatal("empty auth list should not load")
	}
	c, err := Parse([]byte(minimal+"routes:\n  - name: r\n    upstream: app\n    max_body_bytes: 5MiB\n"), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := c.Problem("routes[0].max_body_bytes", "not supported %s", "yet").String()
	if want := "r.yaml:7:21: routes[0].max_body_bytes: not supported yet"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A path that was not written falls back to its nearest parent.
	if got := c.Problem("routes[0].rate_limits[0]", "x"); got.Line != 5 || got.Col != 5 {
		t.Errorf("fallback position = %d:%d", got.Line, got.Col)
	}
	if p, ok := c.PosOf("routes[0].upstream"); !ok || p != (Pos{Line: 6, Col: 15}) {
		t.Errorf("PosOf = %v %v", p, ok)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(t.TempDir(), "big.yaml")
	writeFile(t, big, strings.Repeat("#", MaxFileSize+1))
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

// Hostile documents are refused quickly and with a clear message.
func TestHostileInput(t *testing.T) {
	// Billion laughs: each level multiplies by 10.
	var b strings.Builder
	b.WriteString("version: 1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	start := time.Now()
	errs := parseErrs(t, b.String())
	if !strings.Contains(errs.Error(), "aliases expand the document") || time.Since(start) > 5*time.Second {
		t.Errorf("alias bomb: %v after %v", errs, time.Since(start))
	}

	// Many problems stop at a bound.
	b.Reset()
	b.WriteString("version: 1\nlisteners:\n")
	for i := 0; i < 2*maxProblems; i++ {
		fmt.Fprintf(&b, "  - {name: l%d, address: bad, bogus: 1}\n", i)
	}
	errs = parseErrs(t, b.String())
	if n := len(errs.Problems); n != maxProblems+1 || !strings.HasSuffix(errs.Error(), "too many problems; stopping") {
		t.Errorf("%d problems, last %v", n, errs.Problems[n-1])
	}
}

// Many routes load, and the shadow check stays fast.
func TestManyRoutes(t *testing.T) {
	var b strings.Builder
	b.WriteString(minimal + "routes:\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "  - {name: r%d, match: {hosts: [h%d.example.com], path_prefix: /p%d/}, upstream: app}\n", i, i%50, i)
	}
	start := time.Now()
	c, err := Parse([]byte(b.String()), "r.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 2000 {
		t.Fatalf("%d routes", len(c.Routes))
	}
	t.Logf("2000 routes parsed and validated in %v", time.Since(start))
}

func BenchmarkParseFullExample(b *testing.B) {
	dir := fixtures(b)
	data := []byte(fullExample)
	file := filepath.Join(dir, "portico.yaml")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, file); err != nil {
			b.Fatal(err)
		}
	}
}

// More targets than a pool may hold is one problem, at the targets.
func TestTooManyTargets(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nlisteners: [{name: web, address: \"127.0.0.1:8080\"}]\nupstreams:\n  - name: u\n    targets:\n")
	for i := 0; i < maxTargets+1; i++ {
		fmt.Fprintf(&b, "      - {address: \"10.%d.%d.%d:80\"}\n", i>>16&255, i>>8&255, i&255)
	}
	b.WriteString("routes: [{name: r, upstream: u}]\n")
	errs := parseErrs(t, b.String())
	if len(errs.Problems) != 1 || errs.Problems[0].Path != "upstreams[0].targets" || !strings.Contains(errs.Problems[0].Message, "4097 targets") {
		t.Fatalf("got:\n%v", errs)
	}
}

// A certificate pair whose files are both unreadable is two problems, one
// on each field, not one on the certificate alone.
func TestCertPairBothFilesMissing(t *testing.T) {
	errs := parseErrs(t, `version: 1
listeners:
  - name: web
    address: "127.0.0.1:8443"
    tls:
      certificates: [{cert_file: /nonexistent/a.crt, key_file: /nonexistent/a.key}]
upstreams: [{name: app, targets: [{address: "127.0.0.1:9000"}]}]
routes: [{name: r, upstream: app}]
`)
	var paths []string
	for _, p := range errs.Problems {
		paths = append(paths, p.Path)
	}
	want := []string{"listeners[0].tls.certificates[0].cert_file", "listeners[0].tls.certificates[0].key_file"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("problems at %v, want %v:\n%v", paths, want, errs)
	}
}

// A key file without a PEM private key is reported as such, on key_file,
// not as a key that does not fit its certificate.
func TestKeyFileWithoutKey(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "k.pem")
	os.WriteFile(notKey, []byte("not a key\n"), 0o600)
	errs := parseErrs(t, `version: 1
listeners:
  - name: web
    address: "127.0.0.1:8443"
    tls:
      certificates: [{cert_file: /nonexistent/a.crt, key_file: `+notKey+`}]
upstreams: [{name: app, targets: [{address: "127.0.0.1:9000"}]}]
routes: [{name: r, upstream: app}]
`)
	for _, p := range errs.Problems {
		if p.Path == "listeners[0].tls.certificates[0].key_file" && strings.Contains(p.Message, "no PEM private key") {
			return
		}
	}
	t.Fatalf("no key_file problem naming the missing key:\n%v", errs)
}

// TestLoadForReloadSkipsBindCheck: a reload's listeners are bound already,
// so an address that has left the host (a moved virtual IP) must not fail
// it, where validate and a start refuse it.
func TestLoadForReloadSkipsBindCheck(t *testing.T) {
	nonlocal, _ := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind")
	if strings.TrimSpace(string(nonlocal)) != "0" {
		t.Skip("nonlocal binds are on: every address is bindable here")
	}
	path := filepath.Join(t.TempDir(), "r.yaml")
	writeFile(t, path, "version: 1\nlisteners: [{name: web, address: \"192.0.2.1:8080\"}]\nroutes: [{name: r, direct_response: {status: 200}}]\n")
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "not an address of this host") {
		t.Fatalf("Load: %v", err)
	}
	if _, err := LoadForReload(path); err != nil {
		t.Fatalf("LoadForReload: %v", err)
	}
	// IPv4 link-local has no zones: refused only as another host's address.
	writeFile(t, path, "version: 1\nlisteners: [{name: web, address: \"169.254.1.1:8080\"}]\nroutes: [{name: r, direct_response: {status: 200}}]\n")
	if _, err := Load(path); err == nil || strings.Contains(err.Error(), "zone") {
		t.Fatalf("IPv4 link-local: %v", err)
	}
}
