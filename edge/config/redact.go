package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Redacted is the placeholder that replaces secrets in Redacted output.
const Redacted = "REDACTED"

// Redacted returns a copy of c that is safe to show on the admin /config
// endpoint, with "REDACTED" in place of:
//   - API key hashes (a sha256 of a low-entropy key can be brute-forced);
//   - query values and a password in a jwks_url (an identity provider may
//     take an access token there), and query values in a health check's
//     path;
//   - every header value a route matches on (a header gate's value is
//     the secret, whatever the header's name) or sets or adds upstream
//     (upstream API keys, pre-shared keys);
//   - the values of credential-like headers a route sets or adds in its
//     responses (Set-Cookie, or a name with key, token, secret, bearer,
//     ...); other response header values go to every client anyway and
//     stay shown.
//
// File paths stay, file contents are never part of a Config. c itself is
// not changed.
func (c *Config) Redacted() *Config {
	r := *c
	r.Auth = slices.Clone(c.Auth)
	for i := range r.Auth {
		keys := slices.Clone(r.Auth[i].Keys)
		for j := range keys {
			keys[j].SHA256 = Redacted
		}
		r.Auth[i].Keys = keys
		if r.Auth[i].JWKSURL != "" {
			r.Auth[i].JWKSURL = redactURL(r.Auth[i].JWKSURL)
		}
	}
	r.Upstreams = slices.Clone(c.Upstreams)
	for i := range r.Upstreams {
		if hc := r.Upstreams[i].HealthCheck; hc != nil && strings.Contains(hc.Path, "?") {
			h := *hc
			h.Path = redactURL(h.Path) // a relative URL: its path stays, its query values go
			r.Upstreams[i].HealthCheck = &h
		}
	}
	r.Routes = slices.Clone(c.Routes)
	for i := range r.Routes {
		// What a route sends upstream may be a credential under any name
		// (X-Partner: <key>), and is never sent to clients.
		r.Routes[i].RequestHeaders = redactHeaderOps(r.Routes[i].RequestHeaders, allHeaders)
		r.Routes[i].ResponseHeaders = redactHeaderOps(r.Routes[i].ResponseHeaders, credentialHeader)
		// A route that matches on a header is a gate whose value is the
		// secret (X-Internal: s3cret), whatever the name says.
		r.Routes[i].Match.Headers = redactHeaderMap(r.Routes[i].Match.Headers, allHeaders)
	}
	return &r
}

// redactURL keeps a URL's shape (scheme, host, path, query names) and
// hides its password and query values.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return Redacted
	}
	if u.User != nil {
		// The user name too: an API token is often put there
		// (https://TOKEN@idp/...), with no password.
		u.User = url.User(Redacted)
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			q[k] = []string{Redacted}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// credentialHeader reports whether a header's value is likely a secret.
func credentialHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie", "set-cookie":
		return true
	}
	for _, w := range []string{"key", "token", "secret", "password", "passwd", "auth", "session", "credential", "signature", "bearer", "private"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// allHeaders is the redaction rule that hides every value.
func allHeaders(string) bool { return true }

// redactHeaderOps hides the set and add values of the headers secret
// reports.
func redactHeaderOps(h *HeaderOps, secret func(name string) bool) *HeaderOps {
	if h == nil {
		return nil
	}
	r := *h
	r.Set, r.Add = redactHeaderMap(h.Set, secret), redactHeaderMap(h.Add, secret)
	return &r
}

func redactHeaderMap(m map[string]string, secret func(name string) bool) map[string]string {
	if m == nil {
		return nil
	}
	r := maps.Clone(m)
	for k := range r {
		if secret(k) {
			r[k] = Redacted
		}
	}
	return r
}

// RedactedJSON is the admin /config body: the effective config (defaults
// applied, paths absolute) as indented JSON with the file's sha256, secrets
// redacted. Field names are those of the route file.
func (c *Config) RedactedJSON() ([]byte, error) {
	b, err := json.MarshalIndent(c.Redacted(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("cannot encode config as JSON: %w", err)
	}
	return b, nil
}
