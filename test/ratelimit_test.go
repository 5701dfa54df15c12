//go:build integration

package test

import (
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func limitConfig(up, rate string) string {
	return `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "` + up + `"}]
rate_limits:
  - {name: per-ip, key: ip, rate: ` + rate + `, burst: 5}
  - {name: per-user, key: "header:X-User", rate: 1/m, burst: 3}
  - {name: roomy, key: global, rate: 100000/s}
routes:
  - name: limited
    match: {path_prefix: /limited}
    rate_limits: [per-ip, roomy]
    upstream: app
  - name: by-header
    match: {path_prefix: /user}
    rate_limits: [per-user]
    direct_response: {status: 200, body: "ok"}
  - name: free
    match: {path_prefix: /}
    upstream: app
`
}

func TestRateLimits(t *testing.T) {
	up := newUpstream(t, nil)
	cfg := limitConfig(up.addr(), "5/m")
	g := startGateway(t, cfg)
	base := "http://" + g.addr
	for i := 0; i < 5; i++ {
		resp, _ := doReq(t, "GET", base+"/limited", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		if resp.Header.Get("RateLimit-Limit") != "5" || resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(4-i) {
			t.Errorf("request %d RateLimit headers: limit %q remaining %q", i,
				resp.Header.Get("RateLimit-Limit"), resp.Header.Get("RateLimit-Remaining"))
		}
	}
	resp, body := doReq(t, "GET", base+"/limited", nil)
	checkEnvelope(t, resp, body, 429, "rate_limited")
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if ra < 11 || ra > 12 { // 5/m: one token every 12 s
		t.Errorf("Retry-After %q, want about 12", resp.Header.Get("Retry-After"))
	}
	if resp.Header.Get("RateLimit-Remaining") != "0" || resp.Header.Get("RateLimit-Reset") == "" {
		t.Errorf("429 headers: %v", resp.Header)
	}
	// Other routes and keys are not affected.
	if resp, _ := doReq(t, "GET", base+"/free", nil); resp.StatusCode != 200 {
		t.Errorf("unlimited route: %d", resp.StatusCode)
	}
	for _, user := range []string{"a", "a", "a"} {
		if resp, _ := doReq(t, "GET", base+"/user", map[string]string{"X-User": user}); resp.StatusCode != 200 {
			t.Fatalf("user %s: %d", user, resp.StatusCode)
		}
	}
	if resp, _ := doReq(t, "GET", base+"/user", map[string]string{"X-User": "a"}); resp.StatusCode != 429 {
		t.Errorf("4th request of user a: %d", resp.StatusCode)
	}
	if resp, _ := doReq(t, "GET", base+"/user", map[string]string{"X-User": "b"}); resp.StatusCode != 200 {
		t.Errorf("user b limited by user a: %d", resp.StatusCode)
	}

	// A reload that keeps the definition keeps the buckets.
	g.writeConfig(strings.Replace(cfg, "name: free", "name: free2", 1))
	g.signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, m := doReq(t, "GET", "http://"+g.admin+"/metrics", nil)
		if strings.Contains(m, `portico_config_reloads_total{result="success"} 1`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp, _ := doReq(t, "GET", base+"/limited", nil); resp.StatusCode != 429 {
		t.Errorf("after reload the exhausted bucket was reset: %d", resp.StatusCode)
	}
	_, m := doReq(t, "GET", "http://"+g.admin+"/metrics", nil)
	if !strings.Contains(m, `portico_ratelimit_rejected_total{route="limited",limit="per-ip"} 2`) {
		t.Errorf("metrics: %s", grepLines(m, "ratelimit"))
	}
	if up.requests() == nil {
		t.Fatal("upstream never reached")
	}
	_ = http.StatusOK
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A request refused by one limit of a route does not use up the others:
// only admitted requests count (a client hammering a tight limit must not
// drain a shared one it was never admitted against).
func TestRefusedRequestDoesNotSpendOtherLimits(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
access_log: {path: "off"}
upstreams:
  - name: app
    targets: [{address: "`+up.addr()+`"}]
rate_limits:
  - {name: big, key: ip, rate: 10/m}
  - {name: small, key: ip, rate: 2/m}
routes:
  - name: both
    match: {path_prefix: /both}
    rate_limits: [big, small]
    upstream: app
  - name: big-only
    match: {path_prefix: /big}
    rate_limits: [big]
    upstream: app
`)
	base := "http://" + g.addr
	codes := ""
	for i := 0; i < 5; i++ {
		resp, _ := doReq(t, "GET", base+"/both", nil)
		codes += strconv.Itoa(resp.StatusCode) + " "
	}
	if codes != "200 200 429 429 429 " {
		t.Fatalf("/both: %s", codes)
	}
	resp, _ := doReq(t, "GET", base+"/big", nil)
	if resp.StatusCode != 200 || resp.Header.Get("RateLimit-Remaining") != "7" {
		t.Fatalf("big after 2 admitted and 3 refused: %d, Remaining %q, want 7", resp.StatusCode, resp.Header.Get("RateLimit-Remaining"))
	}
}
