//go:build integration

package test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// headRecorder is an origin that answers every request 200 and keeps each
// request head exactly as the gateway sent it.
type headRecorder struct {
	mu    sync.Mutex
	heads []string
}

func (h *headRecorder) serve(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		h.mu.Lock()
		h.heads = append(h.heads, head.String())
		h.mu.Unlock()
		if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")); err != nil {
			return
		}
	}
}

func (h *headRecorder) all() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.heads...)
}

// TestCredentialTwinsNeverReachUpstream: a query parameter or cookie whose
// name some application reads as a credential name (PHP renames '.', ' '
// and '[' to '_', ASP.NET Core ignores case, Rack 2 splits the query on
// ';') is stripped like the credential itself, so a forged value never
// reaches the application beside the one the gateway checked; the same
// credential twice with different values is refused.
func TestCredentialTwinsNeverReachUpstream(t *testing.T) {
	rec := &headRecorder{}
	up := rawUpstream(t, rec.serve)
	is := newIssuer(t)
	key := "k-123456"
	sum := sha256.Sum256([]byte(key))
	g := startGateway(t, `version: 1
listeners:
  - name: public
    address: "{{LISTEN}}"
admin: {address: "{{ADMIN}}"}
upstreams:
  - name: app
    targets: [{address: "`+up+`"}]
auth:
  - name: users
    type: jwt
    jwks_url: "`+is.url+`/jwks"
    issuer: "`+is.url+`/"
    audiences: [api]
    algorithms: [ES256]
    token_from: [header:Authorization, query:access_token, cookie:session, cookie:auth_token]
  - name: partners-q
    type: api_key
    from: query:api_key
    keys: [{consumer: acme, sha256: "`+hex.EncodeToString(sum[:])+`"}]
routes:
  - name: jwt
    match: {path_prefix: /jwt}
    auth: [users]
    upstream: app
  - name: key
    match: {path_prefix: /key}
    auth: [partners-q]
    upstream: app
  - name: both
    match: {path_prefix: /both}
    auth: [users, partners-q]
    upstream: app
`)
	good := is.token(t, nil)
	send := func(target, headers string) string {
		t.Helper()
		return g.raw("GET "+target+" HTTP/1.1\r\nHost: a\r\n"+headers+"Connection: close\r\n\r\n", 3*time.Second)
	}
	// Wait for the JWKS first fetch.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if strings.HasPrefix(send("/jwt", "Authorization: Bearer "+good+"\r\n"), "HTTP/1.1 200") {
			break
		}
	}
	bearer := "Authorization: Bearer " + good + "\r\n"
	for _, c := range []struct {
		target, headers string
		status          string // of the answer
	}{
		// Admitted by the Bearer header; every twin in the query or a
		// cookie is removed.
		{"/jwt?a=1&access.token=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&access+token=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&access%20token=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&access[token=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&access%2Etoken=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&ACCESS_TOKEN=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&x=1;access_token=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&access_token[]=FORGED&b=2", bearer, "200"},
		{"/jwt?a=1&[access_token]=FORGED&b=2", bearer, "200"},     // Rack 2, qs (Express)
		{"/jwt?a=1&%5Baccess_token%5D=FORGED&b=2", bearer, "200"}, // the same, escaped
		{"/jwt?a=1&access_token%5D=FORGED&b=2", bearer, "200"},    // Rack 2
		{"/jwt?a=1&b=2", bearer + "Cookie: a=1; [session]=FORGED; b=2\r\n", "200"},
		{"/jwt?a=1&b=2", bearer + "Cookie: a=1; auth.token=FORGED; Session=FORGED; b=2\r\n", "200"},
		{"/jwt?a=1&b=2", bearer + "Cookie: a=1; auth%2Etoken=FORGED, session=FORGED\r\nCookie: b=2\r\n", "200"},
		{"/both?a=1&api.key=FORGED&API_KEY=FORGED&b=2", bearer, "200"},
		// Admitted by a query or cookie credential: its twins go too, and
		// the same value twice is no conflict.
		{"/jwt?a=1&access_token=" + good + "&access.token=" + good + "&b=2", "", "200"},
		{"/key?a=1&api_key=" + key + "&Api.Key=" + key + "&b=2", "", "200"},
		{"/jwt?a=1&b=2", "Cookie: a=1; auth_token=" + good + "; AUTH.TOKEN=" + good + "; b=2\r\n", "200"},
		// A credential beside a twin with another value: the first under
		// the exact name is checked, and every copy goes (a browser sends
		// two cookies of one name for path or domain variants).
		{"/jwt?a=1&access_token=" + good + "&access.token=FORGED&b=2", "", "200"},
		{"/jwt?a=1&access_token=" + good + "&x=1;access_token=FORGED&b=2", "", "200"},
		{"/key?a=1&api_key=" + key + "&api.key=FORGED&b=2", "", "200"},
		{"/key?a=1&api_key=" + key + "&API_KEY=FORGED&b=2", "", "200"},
		{"/jwt?a=1&b=2", "Cookie: a=1; auth_token=" + good + "; auth.token=FORGED; b=2\r\n", "200"},
		{"/jwt?a=1&b=2", "Cookie: a=1; session=" + good + "; session=OLD; b=2\r\n", "200"},
		// The first under the exact name decides: a forged one first fails.
		{"/jwt?access_token=FORGED&access_token=" + good, "", "401"},
	} {
		before := len(rec.all())
		out := send(c.target, c.headers)
		if !strings.HasPrefix(out, "HTTP/1.1 "+c.status) {
			t.Errorf("%s %q: %.40q, want %s", c.target, c.headers, out, c.status)
			continue
		}
		heads := rec.all()[before:]
		if c.status != "200" {
			if len(heads) != 0 {
				t.Errorf("%s %q: refused but the upstream saw %q", c.target, c.headers, heads)
			}
			continue
		}
		if len(heads) != 1 {
			t.Errorf("%s %q: upstream saw %d requests", c.target, c.headers, len(heads))
			continue
		}
		h := heads[0]
		line := h[:strings.Index(h, "\r\n")]
		// (The Authorization header goes upstream: headers are the
		// integrator's call.)
		sent := line + "\n" + cookieLines(h)
		if strings.Contains(h, "FORGED") || strings.Contains(sent, good) || strings.Contains(sent, key) {
			t.Errorf("%s %q: a credential reached the upstream:\n%s", c.target, c.headers, h)
		}
		if !strings.Contains(line, "?a=1&b=2 ") {
			t.Errorf("%s: upstream request line %q, want the other parameters kept", c.target, line)
		}
		if strings.Contains(c.headers, "Cookie") && !strings.Contains(h, "Cookie: a=1") {
			t.Errorf("%s %q: other cookies lost:\n%s", c.target, c.headers, h)
		}
	}
}

// cookieLines returns the Cookie fields of a request head.
func cookieLines(head string) string {
	var out []string
	for _, l := range strings.Split(head, "\r\n") {
		if len(l) > 7 && strings.EqualFold(l[:7], "Cookie:") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
