package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
)

func (v *validator) routes(ups, auths, limits map[string]bool) {
	seen := make(map[string]string)
	for i := range v.c.Routes {
		r := &v.c.Routes[i]
		path := index("routes", i)
		p := func(k string) string { return join(path, k) }
		v.name(path, r.Name, seen)
		v.match(p("match"), &r.Match)

		for j, a := range r.Auth {
			if !auths[a] {
				v.errf(index(p("auth"), j), "unknown auth %q", a)
			} else if slices.Contains(r.Auth[:j], a) {
				v.errf(index(p("auth"), j), "auth %q is listed twice", a)
			}
		}
		if r.Auth != nil && len(r.Auth) == 0 {
			v.errf(p("auth"), "must not be empty (leave it out for a public route)")
		}
		if len(r.Scopes) > 0 && len(r.Auth) == 0 && !v.d.bad[p("auth")] {
			v.errf(p("scopes"), "need auth: a public route has no identity to hold scopes")
		}
		for j, s := range r.Scopes {
			if s == "" || strings.ContainsFunc(s, func(c rune) bool { return c <= ' ' || c == 0x7f }) {
				v.errf(index(p("scopes"), j), "invalid scope %q", s)
			}
		}
		for j, l := range r.RateLimits {
			if !limits[l] {
				v.errf(index(p("rate_limits"), j), "unknown rate limit %q", l)
			} else if slices.Contains(r.RateLimits[:j], l) {
				// Listed twice, it would take two tokens per request.
				v.errf(index(p("rate_limits"), j), "rate limit %q is listed twice", l)
			}
		}

		v.action(path, r, ups)

		if rw := r.Rewrite; rw != nil {
			rp := p("rewrite")
			if rw.StripPrefix != "" && (rw.StripPrefix[0] != '/' || !validRequestTarget(rw.StripPrefix)) {
				v.errf(join(rp, "strip_prefix"), "must be a path starting with '/' (URI path characters and %%XX escapes only), got %q", rw.StripPrefix)
			}
			if rw.AddPrefix != "" && (rw.AddPrefix[0] != '/' || !validRequestTarget(rw.AddPrefix)) {
				v.errf(join(rp, "add_prefix"), "must be a path starting with '/' (URI path characters and %%XX escapes only), got %q", rw.AddPrefix)
			}
			if rw.Host != "" && !validHostHeader(rw.Host) {
				v.errf(join(rp, "host"), "invalid host %q", rw.Host)
			}
		}
		v.headerOps(p("request_headers"), r.RequestHeaders, true)
		v.headerOps(p("response_headers"), r.ResponseHeaders, false)
		v.positive(p("timeout"), r.Timeout)
		if rt := r.Retries; rt != nil {
			rp := p("retries")
			if rt.Attempts < 0 || rt.Attempts > 10 {
				v.errf(join(rp, "attempts"), "must be between 0 and 10, got %d", rt.Attempts)
			}
			if rt.On == nil && !v.d.bad[join(rp, "on")] {
				rt.On = slices.Clone(DefaultRetryOn)
			}
			for j, on := range rt.On {
				op := index(join(rp, "on"), j)
				switch {
				case !slices.Contains([]string{"connect_failure", "reset", "502", "503", "504"}, on):
					v.errf(op, "unknown condition %q (want connect_failure, reset, 502, 503 or 504)", on)
				case slices.Index(rt.On, on) < j:
					v.errf(op, "%s is listed twice", on)
				}
			}
		}
		if r.MaxBodyBytes < 0 {
			v.errf(p("max_body_bytes"), "must not be negative")
		}
		for j, c := range r.Compress {
			cp := index(p("compress"), j)
			switch {
			case c != "zstd" && c != "gzip":
				v.errf(cp, "unknown encoding %q (want zstd or gzip)", c)
			case slices.Index(r.Compress, c) < j:
				v.errf(cp, "%s is listed twice", c)
			}
		}
	}
	v.shadowing()
}

// action checks that exactly one of upstream, split, direct_response and
// aggregate is set, and what it refers to.
func (v *validator) action(path string, r *Route, ups map[string]bool) {
	p := func(k string) string { return join(path, k) }
	var set []string
	for _, k := range []struct {
		key string
		on  bool
	}{
		{"upstream", r.Upstream != ""},
		{"split", r.Split != nil},
		{"direct_response", r.DirectResponse != nil},
		{"aggregate", v.set(p("aggregate"))},
	} {
		if k.on || v.d.bad[p(k.key)] {
			set = append(set, k.key)
		}
	}
	switch len(set) {
	case 0:
		v.d.add(v.d.lookup(path), path, "one of upstream, split, direct_response or aggregate is required")
	case 1:
	default:
		v.errf(p(set[1]), "set only one of upstream, split, direct_response or aggregate; found %s", strings.Join(set, ", "))
	}
	if v.set(p("aggregate")) {
		v.errf(p("aggregate"), "aggregate is not supported yet")
	}
	if r.Upstream != "" && !ups[r.Upstream] {
		v.errf(p("upstream"), "unknown upstream %q", r.Upstream)
	}
	if r.Split != nil {
		sp := p("split")
		if len(r.Split) == 0 {
			v.errf(sp, "must not be empty")
		}
		for j, s := range r.Split {
			ip := index(sp, j)
			up := join(ip, "upstream")
			switch {
			case s.Upstream == "":
				if !v.d.bad[up] {
					v.d.add(v.d.lookup(ip), up, "required")
				}
			case !ups[s.Upstream]:
				v.errf(up, "unknown upstream %q", s.Upstream)
			case slices.IndexFunc(r.Split, func(o SplitTarget) bool { return o.Upstream == s.Upstream }) < j:
				v.errf(up, "%s is listed twice", s.Upstream)
			}
			wp := join(ip, "weight")
			switch {
			case !v.set(wp):
				if !v.d.bad[wp] {
					v.d.add(v.d.lookup(ip), wp, "required")
				}
			case s.Weight < 1 || s.Weight > 1_000_000:
				v.errf(wp, "must be between 1 and 1000000, got %d", s.Weight)
			}
		}
	}
	if dr := r.DirectResponse; dr != nil && len(set) == 1 {
		dp := p("direct_response")
		st := join(dp, "status")
		// 1xx is not a final response, so a gateway cannot answer with one.
		switch {
		case !v.set(st):
			if !v.d.bad[st] {
				v.d.add(v.d.lookup(dp), st, "required")
			}
		case dr.Status < 200 || dr.Status > 599:
			v.errf(st, "must be between 200 and 599, got %d", dr.Status)
		case (dr.Status == 204 || dr.Status == 205 || dr.Status == 304) && dr.Body != "":
			// RFC 9110 §15.3.5, §15.3.6, §15.4.5: no content.
			v.errf(join(dp, "body"), "a %d response has no body", dr.Status)
		}
		if dr.Body != "" && dr.ContentType == "" && !v.set(join(dp, "content_type")) {
			dr.ContentType = DefaultDirectContentType
		}
		if !validHeaderValue(dr.ContentType) {
			v.errf(join(dp, "content_type"), "invalid header value %q", dr.ContentType)
		}
		for _, k := range []string{"rewrite", "retries", "compress", "request_headers"} {
			if v.set(p(k)) {
				v.errf(p(k), "has no effect on a direct_response")
			}
		}
	}
}

func (v *validator) match(path string, m *Match) {
	p := func(k string) string { return join(path, k) }
	if m.Hosts != nil && len(m.Hosts) == 0 {
		v.errf(p("hosts"), "must not be empty (leave it out to match any host)")
	}
	for i, h := range m.Hosts {
		hp := index(p("hosts"), i)
		name := strings.TrimPrefix(h, "*.")
		switch {
		case strings.Contains(h, ":") && !strings.HasPrefix(h, "["):
			v.errf(hp, "invalid host %q: leave the port out (it is ignored when matching)", h)
		case strings.HasPrefix(h, "["):
			v.errf(hp, "invalid host %q: IPv6 literals are not supported in hosts", h)
		case strings.Contains(name, "*") || !validHostname(name):
			v.errf(hp, "invalid host %q (want a name such as api.example.com or *.example.com)", h)
		case slices.Index(m.Hosts, h) < i:
			v.errf(hp, "%s is listed twice", h)
		}
	}
	if m.Path != "" && m.PathPrefix != "" {
		v.errf(p("path_prefix"), "set only one of path or path_prefix")
	}
	for _, k := range []struct{ key, val string }{{"path", m.Path}, {"path_prefix", m.PathPrefix}} {
		if v.set(p(k.key)) {
			if msg := checkMatchPath(k.val); msg != "" {
				v.errf(p(k.key), "%s", msg)
			}
		}
	}
	if m.Methods != nil && len(m.Methods) == 0 {
		v.errf(p("methods"), "must not be empty (leave it out to match any method)")
	}
	for i, meth := range m.Methods {
		mp := index(p("methods"), i)
		switch {
		case !isToken(meth):
			v.errf(mp, "invalid method %q", meth)
		case strings.ToUpper(meth) != meth:
			v.errf(mp, "methods are written in upper case: %q is not %q", meth, strings.ToUpper(meth))
		case slices.Index(m.Methods, meth) < i:
			v.errf(mp, "%s is listed twice", meth)
		}
	}
	v.headerList(p("headers"), m.HeaderList, nil)
	for _, h := range m.HeaderList {
		if gatewayHeader(h.Name) {
			v.errf(join(p("headers"), h.Name), "%s can never match: X-Portico-* headers are removed from client requests (SPEC §3) and routing runs before auth", h.Name)
		}
	}
}

// gatewayHeader reports a header name of the identity context: a client's
// value is forged by definition, so nothing may be keyed or matched on it.
func gatewayHeader(name string) bool {
	return len(name) >= len("X-Portico-") && strings.EqualFold(name[:len("X-Portico-")], "X-Portico-")
}

// checkMatchPath returns why a match path could never match a normalised
// request path, or "".
func checkMatchPath(s string) string {
	switch {
	case s == "" || s[0] != '/':
		return fmt.Sprintf("must start with '/', got %q", s)
	case badEscape(s):
		return fmt.Sprintf("path %q has a bad percent-escape", s)
	case !validRequestTarget(s):
		return fmt.Sprintf("invalid path %q: only URI path characters are allowed (no query, fragment, spaces or control bytes)", s)
	}
	for _, seg := range strings.Split(s, "/")[1:] {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("path %q has a dot segment; request paths are normalised before matching, so it could never match", s)
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		b := unhex(s[i+1])<<4 | unhex(s[i+2])
		switch {
		case isAlnum(b) || b == '-' || b == '.' || b == '_' || b == '~':
			return fmt.Sprintf("path %q escapes an unreserved byte (%s); request paths are normalised before matching, so write %q", s, s[i:i+3], string(b))
		case b == '/' || b == '\\' || b == 0:
			return fmt.Sprintf("path %q contains %s, which is always refused with 400", s, s[i:i+3])
		}
	}
	return ""
}

// validRequestTarget reports whether s contains only RFC 3986 pchar bytes,
// '/' and well-formed percent-escapes.
func validRequestTarget(s string) bool {
	if badEscape(s) {
		// A broken escape ("%zz", a trailing "%") would reach the
		// upstream as a path it must refuse or guess at.
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("-._~!$&'()*+,;=:@/%", rune(c)) {
			return false
		}
	}
	return true
}

// badEscape reports a '%' not followed by two hex digits.
func badEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		if i+2 >= len(s) || !isHexDigit(s[i+1]) || !isHexDigit(s[i+2]) {
			return true
		}
		i += 2
	}
	return false
}

// validOriginForm checks an origin-form request target: a path and an
// optional query (RFC 9112 §3.2.1), '?' and '/' allowed in the query.
func validOriginForm(s string) bool {
	path, query, _ := strings.Cut(s, "?")
	return validRequestTarget(path) && validRequestTarget(strings.ReplaceAll(query, "?", "/"))
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// validHostHeader checks a Host value: a name or IP, optionally with a port.
func validHostHeader(s string) bool {
	if h, port, err := net.SplitHostPort(s); err == nil {
		if port == "" || !isDigits(port) || len(port) > 5 {
			return false
		}
		return validHostOrIP(h)
	}
	return validHostname(s)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// validHeaderValue refuses control bytes (CR and LF above all: header
// injection) other than horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// hopByHop are never forwarded (SPEC §3), so editing them is a mistake;
// Content-Length is the framing of the message and belongs to the proxy.
var forbiddenHeaders = []string{"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length"}

// headerName returns why a header name cannot be configured with op (set,
// add or remove), or "".
func headerName(name string, request bool, op string) string {
	low := strings.ToLower(name)
	switch {
	case !isToken(name):
		return fmt.Sprintf("invalid header name %q", name)
	case slices.Contains(forbiddenHeaders, low):
		return fmt.Sprintf("%s is managed by the gateway (hop-by-hop or framing) and cannot be configured", name)
	case strings.HasPrefix(low, "x-portico-"):
		return fmt.Sprintf("%s is reserved: X-Portico-* headers are set by the gateway only", name)
	case request && low == "host":
		return "use rewrite.host to change the Host sent upstream"
	case request && low == "expect":
		// The gateway forwards a client's Expect: 100-continue and relays
		// the upstream's 100: removed, the upstream never sends one and
		// the client waits out its timer; set or added, the request
		// claims a handshake the client is not doing.
		return fmt.Sprintf("%s is relayed by the gateway (Expect: 100-continue) and cannot be configured", name)
	case low == "x-request-id" || (request && (low == "x-forwarded-for" || low == "traceparent")):
		// SPEC §3: X-Forwarded-For is always appended to; X-Request-Id and
		// traceparent tie the request's logs and traces together.
		return fmt.Sprintf("%s is set by the gateway (SPEC §3) and cannot be configured", name)
	case request && op == "add" && (low == "x-forwarded-proto" || low == "x-forwarded-host"):
		return fmt.Sprintf("%s is set by the gateway: use set to replace its value or remove to drop it", name)
	case op == "add" && slices.Contains(singletonHeaders, low):
		// add appends a field beside the message's own: two Date or
		// Content-Type fields are an invalid message, and recipients
		// disagree on which one counts.
		return fmt.Sprintf("%s takes a single value: use set to replace it", name)
	}
	return ""
}

// singletonHeaders are fields RFC 9110 and 9111 define with a single value
// (not a list): a message may carry each once.
var singletonHeaders = []string{"age", "authorization", "content-location", "content-type", "date", "etag",
	"expires", "from", "if-modified-since", "if-range", "if-unmodified-since", "last-modified", "location",
	"max-forwards", "proxy-authorization", "referer", "retry-after", "user-agent"}

// headerList checks names and values of a name->value mapping and that no
// name appears twice in different case. seen, when non-nil, collects the
// lowercased names.
func (v *validator) headerList(path string, l []Header, seen map[string]bool) {
	first := make(map[string]string)
	for _, h := range l {
		hp := join(path, h.Name)
		low := strings.ToLower(h.Name)
		if !isToken(h.Name) {
			v.errf(hp, "invalid header name %q", h.Name)
			continue
		}
		if f, dup := first[low]; dup {
			v.errf(hp, "header names are case-insensitive: %s repeats %s", h.Name, f)
			continue
		}
		first[low] = h.Name
		if seen != nil {
			seen[low] = true
		}
		if !validHeaderValue(h.Value) {
			v.errf(hp, "invalid value %q: control characters are not allowed", h.Value)
		}
	}
}

func (v *validator) headerOps(path string, h *HeaderOps, request bool) {
	if h == nil {
		return
	}
	setNames := make(map[string]bool)
	for _, part := range []struct {
		key  string
		list []Header
		seen map[string]bool
	}{{"set", h.SetList, setNames}, {"add", h.AddList, nil}} {
		pp := join(path, part.key)
		v.headerList(pp, part.list, part.seen)
		for _, hd := range part.list {
			if msg := headerName(hd.Name, request, part.key); msg != "" && isToken(hd.Name) {
				v.errf(join(pp, hd.Name), "%s", msg)
			}
		}
	}
	for i, name := range h.Remove {
		rp := index(join(path, "remove"), i)
		if msg := headerName(name, request, "remove"); msg != "" {
			v.errf(rp, "%s", msg)
		} else if setNames[strings.ToLower(name)] {
			v.errf(rp, "%s is both set and removed; set alone replaces it", name)
		}
	}
}
