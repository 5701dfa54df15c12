package config

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fullExample is SPEC §2 made loadable: every field is used, and the
// route whose actions were alternatives is split into one route per action.
const fullExample = `version: 1

listeners:
  - name: public
    address: 0.0.0.0:8443
    protocols: [http1, h2]
    tls:
      certificates:
        - {cert_file: certs/api.crt, key_file: certs/api.key}
        - {cert_file: certs/other.crt, key_file: certs/other.key}
      min_version: "1.2"
      client_auth:
        mode: require
        ca_file: certs/ca.crt
    trusted_proxies: [10.0.0.0/8, 192.168.1.7]
    limits:
      max_connections: 100000
      max_header_bytes: 64KiB
      header_timeout: 10s
      idle_timeout: 60s
      max_body_bytes: 10MiB
      h2_max_concurrent_streams: 256
  - name: plain
    address: 127.0.0.1:8080

admin:
  address: 127.0.0.1:9901

access_log: {path: stdout}

drain_timeout: 30s

upstreams:
  - name: orders
    targets:
      - {address: 127.0.0.1:9001, weight: 1}
      - {address: 127.0.0.1:9002, weight: 3}
    balancer: consistent_hash
    hash_on: header:X-User-Id
    connect_timeout: 1s
    max_idle_conns: 64
    max_conns: 0
    health_check:
      path: /healthz
      interval: 5s
      timeout: 1s
      healthy_threshold: 2
      unhealthy_threshold: 3
    outlier:
      consecutive_failures: 5
      base_ejection: 30s
    tls: {server_name: orders.internal, ca_file: certs/ca.crt}
  - name: orders-canary
    targets: [{address: "localhost:9003"}]

auth:
  - name: users
    type: jwt
    jwks_url: https://id.example.com/.well-known/jwks.json
    issuer: https://id.example.com/
    audiences: [orders-api]
    algorithms: [RS256, ES256, EdDSA, HS256]
    hmac_secret_file: secrets/hs256.key
    leeway: 30s
    jwks_refresh: 10m
    jwks_ca_file: certs/ca.crt
    token_from: [header:Authorization, query:access_token, cookie:session]
    consumer_claim: sub
    tenant_claim: tenant
    scope_claim: scope
  - name: partners
    type: api_key
    from: header:X-API-Key
    keys:
      - {consumer: acme, tenant: acme, sha256: "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE"}

rate_limits:
  - name: per-ip
    key: ip
    rate: 100/s
    burst: 200
  - name: per-consumer
    key: consumer
    rate: 6000/m

routes:
  - name: orders-v1
    match:
      hosts: [api.example.com, "*.Example.com"]
      path_prefix: /v1/orders/
      methods: [GET, POST]
      headers: {X-Api-Version: "2"}
    auth: [users, partners]
    scopes: [orders:read]
    rate_limits: [per-ip, per-consumer]
    upstream: orders
    rewrite:
      strip_prefix: /v1
      add_prefix: /internal
      host: orders.internal
    request_headers:  {set: {X-Gateway: portico}, add: {}, remove: [X-Debug]}
    response_headers: {set: {}, add: {}, remove: [Server]}
    timeout: 15s
    retries: {attempts: 2, on: [connect_failure, reset, "502", 503]}
    max_body_bytes: 1MiB
    compress: [zstd, gzip]
  - name: orders-canary
    match: {path_prefix: /v2/orders/}
    split:
      - {upstream: orders, weight: 95}
      - {upstream: orders-canary, weight: 5}
  - name: ping
    match: {path: /ping}
    direct_response: {status: 200, body: "ok\n", content_type: text/plain}
`

func TestFullExampleLoads(t *testing.T) {
	dir := fixtures(t)
	file := filepath.Join(dir, "portico.yaml")
	writeFile(t, file, fullExample)
	c, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	abs := func(p string) string { return filepath.Join(dir, p) }

	if c.File != file || c.Dir != dir || len(c.SHA256) != 64 {
		t.Errorf("File=%q Dir=%q SHA256=%q", c.File, c.Dir, c.SHA256)
	}
	l := c.Listeners[0]
	if got := l.TLS.Certificates[0]; got.CertFile != abs("certs/api.crt") || got.KeyFile != abs("certs/api.key") {
		t.Errorf("cert pair not resolved: %+v", got)
	}
	if l.TLS.ClientAuth.Mode != "require" || l.TLS.ClientAuth.CAFile != abs("certs/ca.crt") {
		t.Errorf("client auth = %+v", l.TLS.ClientAuth)
	}
	wantProxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32")}
	if !reflect.DeepEqual(l.TrustedProxies, wantProxies) {
		t.Errorf("trusted proxies = %v", l.TrustedProxies)
	}
	if l.Limits.MaxConnections != 100000 || l.Limits.MaxHeaderBytes != 64*KiB || l.Limits.MaxBodyBytes != 10*MiB ||
		l.Limits.HeaderTimeout.Duration() != 10*time.Second {
		t.Errorf("limits = %+v", l.Limits)
	}
	// The second listener takes every default.
	p := c.Listeners[1]
	if !reflect.DeepEqual(p.Protocols, []string{"http1", "h2c"}) || p.TLS != nil || p.Limits.MaxConnections != DefaultMaxConnections ||
		p.Limits.H2MaxConcurrentStreams != 256 || p.Limits.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("plain listener = %+v", p)
	}
	if c.Admin == nil || c.Admin.Address != "127.0.0.1:9901" || c.AccessLog.Path != "stdout" || c.DrainTimeout.Duration() != 30*time.Second {
		t.Errorf("admin=%+v access=%+v drain=%v", c.Admin, c.AccessLog, c.DrainTimeout)
	}
	u := c.Upstreams[0]
	if u.Balancer != "consistent_hash" || u.HashOn != "header:X-User-Id" || u.Targets[1].Weight != 3 ||
		u.HealthCheck.Path != "/healthz" || u.Outlier.ConsecutiveFailures != 5 || u.TLS.CAFile != abs("certs/ca.crt") {
		t.Errorf("upstream = %+v", u)
	}
	cu := c.Upstreams[1]
	if cu.Balancer != "round_robin" || cu.Targets[0].Weight != 1 || cu.ConnectTimeout.Duration() != time.Second ||
		cu.MaxIdleConns != 64 || cu.HealthCheck != nil || cu.Outlier != nil || cu.TLS != nil {
		t.Errorf("defaulted upstream = %+v", cu)
	}
	a := c.Auth[0]
	if a.HMACSecretFile != abs("secrets/hs256.key") || a.JWKSCAFile != abs("certs/ca.crt") || a.Leeway.Duration() != 30*time.Second ||
		a.TenantClaim != "tenant" || len(a.TokenFrom) != 3 {
		t.Errorf("jwt auth = %+v", a)
	}
	if k := c.Auth[1].Keys[0]; k.SHA256 != strings.ToLower(k.SHA256) || k.Consumer != "acme" {
		t.Errorf("api key = %+v", k)
	}
	if c.RateLimits[0].Burst != 200 || c.RateLimits[1].Burst != 6000 || c.RateLimits[1].Rate.PerSecond() != 100 {
		t.Errorf("rate limits = %+v", c.RateLimits)
	}
	r := c.Routes[0]
	if !reflect.DeepEqual(r.Match.Hosts, []string{"api.example.com", "*.example.com"}) || r.Match.Headers["X-Api-Version"] != "2" ||
		r.Match.HeaderList[0].Name != "X-Api-Version" || r.RequestHeaders.Set["X-Gateway"] != "portico" ||
		!reflect.DeepEqual(r.Retries.On, []string{"connect_failure", "reset", "502", "503"}) || r.MaxBodyBytes != MiB {
		t.Errorf("route = %+v", r)
	}
	if r.ResponseHeaders.Set == nil || len(r.ResponseHeaders.Set) != 0 || r.RequestHeaders.Add == nil {
		t.Errorf("empty maps should be present and empty: %+v %+v", r.RequestHeaders, r.ResponseHeaders)
	}
	if c.Routes[1].Timeout != DefaultRouteTimeout || c.Routes[1].MaxBodyBytes != 0 || len(c.Routes[1].Split) != 2 {
		t.Errorf("canary route = %+v", c.Routes[1])
	}
	if dr := c.Routes[2].DirectResponse; dr.Status != 200 || dr.Body != "ok\n" || dr.ContentType != "text/plain" {
		t.Errorf("direct response = %+v", dr)
	}
	if r.Pos != (Pos{Line: 87, Col: 5}) || r.Match.Pos != (Pos{Line: 89, Col: 7}) || c.Listeners[1].Pos != (Pos{Line: 23, Col: 5}) {
		t.Errorf("positions: route %v match %v listener %v", r.Pos, r.Match.Pos, c.Listeners[1].Pos)
	}
}

func TestRedactedJSON(t *testing.T) {
	dir := fixtures(t)
	file := filepath.Join(dir, "portico.yaml")
	writeFile(t, file, fullExample)
	c, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(strings.ToLower(s), "2c26b46b68ffc68f") || !strings.Contains(s, `"sha256": "REDACTED"`) {
		t.Errorf("api key hash not redacted:\n%s", s)
	}
	if c.Auth[1].Keys[0].SHA256 == Redacted {
		t.Error("Redacted changed the original config")
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back["sha256"] != c.SHA256 || back["drain_timeout"] != "30s" {
		t.Errorf("sha256=%v drain_timeout=%v", back["sha256"], back["drain_timeout"])
	}
	for _, want := range []string{`"max_header_bytes": "64KiB"`, `"rate": "100/s"`, `"trusted_proxies": [`, `"10.0.0.0/8"`} {
		if !strings.Contains(s, want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

// JSON is YAML: the same config written as JSON (tab-indented, as
// encoders write it) loads the same.
func TestJSONInput(t *testing.T) {
	dir := fixtures(t)
	js := "{\n\t\"version\": 1,\n\t\"listeners\": [{\"name\": \"plain\", \"address\": \"127.0.0.1:8080\",\n\t\t\"limits\": {\"max_body_bytes\": \"1MiB\", \"max_connections\": 50}}],\n" +
		"\t\"upstreams\": [{\"name\": \"orders\", \"targets\": [{\"address\": \"127.0.0.1:9001\", \"weight\": 2}]}],\n" +
		"\t\"auth\": [{\"name\": \"users\", \"type\": \"jwt\", \"jwks_file\": \"jwks.json\", \"issuer\": \"me\"}],\n" +
		"\t\"routes\": [{\"name\": \"r\", \"match\": {\"path_prefix\": \"/\"}, \"auth\": [\"users\"], \"upstream\": \"orders\"}]\n}\n"
	jsonFile := filepath.Join(dir, "portico.json")
	writeFile(t, jsonFile, js)
	c, err := Load(jsonFile)
	if err != nil {
		t.Fatalf("Load JSON: %v", err)
	}
	if c.Listeners[0].Limits.MaxBodyBytes != MiB || c.Listeners[0].Limits.MaxConnections != 50 ||
		c.Upstreams[0].Targets[0].Weight != 2 || c.Auth[0].JWKSFile != filepath.Join(dir, "jwks.json") ||
		!reflect.DeepEqual(c.Auth[0].Algorithms, asymmetricAlgs) || c.Routes[0].Upstream != "orders" {
		t.Errorf("JSON config = %+v", c)
	}
	if c.Routes[0].Pos != (Pos{Line: 7, Col: 13}) {
		t.Errorf("JSON route position = %v", c.Routes[0].Pos)
	}

	// A JSON error is reported with its line like any other.
	_, err = Parse([]byte("{\n\t\"version\": 1,\n\t\"listeners\": [{\"name\": \"x\", \"address\": \"0.0.0.0:80\", \"bogus\": true}]\n}\n"), "x.json")
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.Problems) != 1 || errs.Error() != `x.json:3:55: listeners[0].bogus: unknown field` {
		t.Errorf("JSON unknown field: %v", err)
	}
}

// Relative paths resolve against the route file's folder, not the working
// directory; absolute ones are kept.
func TestRelativePaths(t *testing.T) {
	dir := fixtures(t)
	sub := filepath.Join(dir, "conf", "routes.yaml")
	abs := filepath.Join(dir, "certs/ca.crt")
	writeFile(t, sub, `version: 1
listeners:
  - name: tls
    address: 127.0.0.1:18443
    tls:
      certificates: [{cert_file: ../certs/api.crt, key_file: ../certs/api.key}]
      client_auth: {mode: request, ca_file: `+abs+`}
access_log: {path: logs/access.log}
upstreams: [{name: u, targets: [{address: "127.0.0.1:1"}], tls: {ca_file: ../certs/ca.crt}}]
auth:
  - {name: a, type: jwt, jwks_file: ../jwks.json, issuer: i, hmac_secret_file: ../secrets/hs256.key}
routes: [{name: r, upstream: u}]
`)
	// The access log's folder must exist; the file itself need not.
	if err := os.MkdirAll(filepath.Join(dir, "conf", "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Load(sub)
	if err != nil {
		t.Fatal(err)
	}
	j := func(p string) string { return filepath.Join(dir, p) }
	checks := []struct{ got, want string }{
		{c.Listeners[0].TLS.Certificates[0].CertFile, j("certs/api.crt")},
		{c.Listeners[0].TLS.Certificates[0].KeyFile, j("certs/api.key")},
		{c.Listeners[0].TLS.ClientAuth.CAFile, abs},
		{c.AccessLog.Path, j("conf/logs/access.log")},
		{c.Upstreams[0].TLS.CAFile, j("certs/ca.crt")},
		{c.Auth[0].JWKSFile, j("jwks.json")},
		{c.Auth[0].HMACSecretFile, j("secrets/hs256.key")},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("got %s, want %s", ch.got, ch.want)
		}
	}
	// The 32-byte secret allows HS256 only (HS384/512 need 48/64 bytes).
	if want := append(append([]string{}, asymmetricAlgs...), "HS256"); !reflect.DeepEqual(c.Auth[0].Algorithms, want) {
		t.Errorf("default algorithms = %v", c.Auth[0].Algorithms)
	}
	if c.Listeners[0].TLS.MinVersion != "1.2" || !reflect.DeepEqual(c.Listeners[0].Protocols, []string{"http1", "h2"}) {
		t.Errorf("tls defaults: %+v %v", c.Listeners[0].TLS, c.Listeners[0].Protocols)
	}
}

// TestDefaultHMACAlgs: without an algorithms list, a secret allows the HS*
// algorithms whose hash it is as long as; HS256 always (a shorter secret
// is then reported by the verifier), all three for an unreadable file
// (reported as unreadable).
func TestDefaultHMACAlgs(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		secret string
		want   []string
	}{
		{strings.Repeat("s", 16), []string{"HS256"}},
		{strings.Repeat("s", 32) + "\n", []string{"HS256"}},
		{strings.Repeat("s", 47) + "\n", []string{"HS256"}},
		{strings.Repeat("s", 48), []string{"HS256", "HS384"}},
		{strings.Repeat("s", 64) + "\r\n", []string{"HS256", "HS384", "HS512"}},
	} {
		p := filepath.Join(dir, "k")
		if err := os.WriteFile(p, []byte(c.secret), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := defaultHMACAlgs(p); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%d-byte secret: %v, want %v", len(c.secret), got, c.want)
		}
	}
	if got := defaultHMACAlgs(filepath.Join(dir, "missing")); !reflect.DeepEqual(got, hmacAlgs) {
		t.Errorf("missing file: %v", got)
	}
}

// TestRedactedSecrets: credentials a route file may hold outside API keys
// (a token in a jwks_url query, every header value a route matches on or
// sends upstream, credential-like ones it sets in responses) do not reach
// /config; the rest of those fields does.
func TestRedactedSecrets(t *testing.T) {
	c := &Config{
		Auth: []Auth{{Name: "users", Type: "jwt", JWKSURL: "https://id.example.com/jwks?token=s3cret&tenant=acme"},
			{Name: "staff", Type: "jwt", JWKSURL: "https://sk_live_9@id.example.com/jwks"}, {Name: "ops", Type: "jwt", JWKSURL: "https://bob:pw-77@id.example.com/jwks"}},
		Upstreams: []Upstream{{Name: "u", HealthCheck: &HealthCheck{Path: "/healthz?api_key=HC-123&full=1"}}},
		Routes: []Route{{Name: "r",
			// A gate's value is its secret whatever the header's name.
			Match: Match{Headers: map[string]string{"X-Internal-Token": "gate-789", "X-Internal": "gate-790"}},
			// So is what goes upstream: a partner's key, a pre-shared key.
			RequestHeaders: &HeaderOps{Set: map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "X-Partner": "psk-111", "X-Bearer": "b-000"},
				Add: map[string]string{"X-Api-Key": "k-123", "X-Upstream-Token": "t-456", "X-Tenant-Id": "tenant-222"}},
			ResponseHeaders: &HeaderOps{Set: map[string]string{"Set-Cookie": "sid=abc", "Cache-Control": "no-store"},
				Add: map[string]string{"X-Served-By": "edge-1"}},
		}},
	}
	b, err := c.RedactedJSON()
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, secret := range []string{"sk_live_9", "bob", "pw-77", "s3cret", "dXNlcjpwYXNz", "k-123", "t-456", "sid=abc", "gate-789", "gate-790", "b-000", "HC-123", "psk-111", "tenant-222"} {
		if strings.Contains(s, secret) {
			t.Errorf("/config shows %q:\n%s", secret, s)
		}
	}
	for _, kept := range []string{"https://id.example.com/jwks?", "tenant=REDACTED", `"/healthz?api_key=REDACTED\u0026full=REDACTED"`, `"Cache-Control": "no-store"`, `"X-Served-By": "edge-1"`, `"Authorization": "REDACTED"`, `"X-Internal": "REDACTED"`, `"X-Partner": "REDACTED"`} {
		if !strings.Contains(s, kept) {
			t.Errorf("/config lacks %s:\n%s", kept, s)
		}
	}
	if c.Routes[0].RequestHeaders.Set["Authorization"] != "Basic dXNlcjpwYXNz" || c.Auth[0].JWKSURL != "https://id.example.com/jwks?token=s3cret&tenant=acme" ||
		c.Upstreams[0].HealthCheck.Path != "/healthz?api_key=HC-123&full=1" {
		t.Error("Redacted changed the original config")
	}
	// A password in a jwks_url is refused without being echoed.
	if err := checkJWKSURL("https://alice:hunter2@id.example.com/jwks"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("checkJWKSURL with a password: %v", err)
	}
}

// The API key a comment in examples/gateway.yaml gives must be the one
// whose hash the file stores: a newcomer tries exactly that key.
func TestExampleAPIKeyCommentMatchesHash(t *testing.T) {
	b, err := os.ReadFile("../../examples/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`sha256 of the key "([^"]+)"[^\n]*\n[^\n]*sha256: "([0-9a-f]{64})"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no commented API key in examples/gateway.yaml")
	}
	sum := sha256.Sum256(m[1])
	if hex.EncodeToString(sum[:]) != string(m[2]) {
		t.Errorf("sha256(%q) = %x, the file stores %s", m[1], sum, m[2])
	}
}
