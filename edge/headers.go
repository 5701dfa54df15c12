package edge

import (
	"bytes"
	"github.com/portico-gw/portico/parser"
	"github.com/portico-gw/portico/policy"
)

// headerView lets the router and the pipeline read request fields by name
// without building a map. It is a pointer type, so passing it as
// router.Headers does not allocate.
type headerView struct{ req *parser.Request }

// Get returns the first value of the named field.
func (h *headerView) Get(name string) ([]byte, bool) {
	for i := range h.req.Fields {
		if parser.EqualFoldString(h.req.Fields[i].Name, name) {
			return h.req.Fields[i].Value, true
		}
	}
	return nil, false
}

func (h *headerView) get(name string) []byte {
	v, _ := h.Get(name)
	return v
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && parser.EqualFoldString(b[:len(prefix)], prefix)
}

// requestHeaderDropped reports whether a client field must not be copied as
// is into the upstream request: hop-by-hop fields and what Connection names,
// framing (we re-frame), identity and forwarding fields we own.
//
// hasConnection says whether the message's Connection fields name anything
// beyond close and the hop-by-hop fields (parser.ConnectionNamesOthers),
// so the per-field scan of its tokens is skipped for the usual message.
// dropClaims: the peer is not a trusted proxy, so fields in which a proxy
// reports what it saw (proxyClaim) are not believed.
func requestHeaderDropped(name []byte, req *parser.Request, rt *route, hasConnection, dropClaims bool) bool {
	switch {
	case parser.IsHopByHop(name),
		parser.EqualFoldString(name, "Host"),
		parser.EqualFoldString(name, "Content-Length"),
		ownedRequestField(name),
		dropClaims && proxyClaim(name):
		return true
	}
	if hasConnection && parser.ConnectionLists(req.Fields, name) {
		return true
	}
	if bytes.IndexByte(name, '_') >= 0 && (spoofsOwnedHeader(name, dropClaims) || twinOf(name, rt.reqNames)) {
		return true
	}
	return opsDrop(name, &rt.reqHeaders)
}

// proxyClaim reports a field in which a proxy tells the application what
// it saw or what was asked of it, beside the X-Forwarded-For/Proto/Host
// the gateway sets itself: every other X-Forwarded-* (Port, Scheme, Ssl,
// Prefix, Server, Uri, which forward-auth services build the original URL
// from), RFC 7239 Forwarded (which Rack and Spring read before
// X-Forwarded-*), the client-address fields CDNs and proxies set
// (X-Real-IP, X-Client-IP, True-Client-IP, CF-Connecting-IP,
// Fastly-Client-IP, X-Cluster-Client-IP, X-Envoy-External-Address, read
// before X-Forwarded-For by libraries such as Node's request-ip), and the
// original URL and host (X-Original-URL, X-Rewrite-URL, which some
// frameworks route by, X-Original-Host). From a client that is not a
// trusted proxy each is a forgery the application would believe over the
// gateway's own fields.
func proxyClaim(name []byte) bool {
	if hasPrefixFold(name, "X-Forwarded-") {
		return true
	}
	eq := parser.EqualFoldString
	switch len(name) {
	case len("Forwarded"): // = len("X-Real-IP")
		return eq(name, "Forwarded") || eq(name, "X-Real-IP")
	case len("X-Client-IP"):
		return eq(name, "X-Client-IP")
	case len("X-Rewrite-URL"):
		return eq(name, "X-Rewrite-URL")
	case len("True-Client-IP"): // = len("X-Original-URL")
		return eq(name, "True-Client-IP") || eq(name, "X-Original-URL")
	case len("X-Original-Host"):
		return eq(name, "X-Original-Host")
	case len("CF-Connecting-IP"): // = len("Fastly-Client-IP")
		return eq(name, "CF-Connecting-IP") || eq(name, "Fastly-Client-IP")
	case len("X-Cluster-Client-IP"):
		return eq(name, "X-Cluster-Client-IP")
	case len("X-Envoy-External-Address"):
		return eq(name, "X-Envoy-External-Address")
	}
	return false
}

// twinOf reports whether name, with '_' read as '-', is one of the route's
// own names (route.reqNames): X_API_Key beside a checked X-API-Key
// is the same field to a CGI-style application, which may read either.
func twinOf(name []byte, names []string) bool {
	var buf [64]byte
	if len(name) > len(buf) {
		return false // names the route file accepts are shorter
	}
	d := dashed(buf[:], name)
	for _, n := range names {
		if parser.EqualFoldString(d, n) {
			return true
		}
	}
	return false
}

// spoofsOwnedHeader reports whether name, with '_' read as '-', is a field
// the gateway owns. CGI, WSGI, Rack and PHP hand both X-Portico-Consumer
// and X_Portico_Consumer to the application as HTTP_X_PORTICO_CONSUMER, so
// a client could otherwise set an identity (or a forwarded address) the
// upstream believes came from the gateway. nginx drops names with '_' by
// default for the same reason; Envoy offers it as an option.
func spoofsOwnedHeader(name []byte, dropClaims bool) bool {
	var buf [32]byte
	d := dashed(buf[:], name) // a longer name can only match by its prefix
	if len(name) > len(buf) {
		return hasPrefixFold(d, "X-Portico-")
	}
	return ownedRequestField(d) || dropClaims && proxyClaim(d)
}

// dashed copies name into buf (cut at its length) with '_' read as '-',
// as CGI-style upstreams read a field name.
func dashed(buf, name []byte) []byte {
	d := buf[:copy(buf, name)]
	for i, c := range d {
		if c == '_' {
			d[i] = '-'
		}
	}
	return d
}

// ownedRequestField reports whether name is one the gateway sets on every
// upstream request (SPEC §3), so a client's copy never passes.
func ownedRequestField(name []byte) bool {
	return hasPrefixFold(name, "X-Portico-") ||
		parser.EqualFoldString(name, "X-Forwarded-For") ||
		parser.EqualFoldString(name, "X-Forwarded-Proto") ||
		parser.EqualFoldString(name, "X-Forwarded-Host") ||
		parser.EqualFoldString(name, "X-Request-Id") ||
		parser.EqualFoldString(name, "Traceparent")
}

// clientTraceparent returns the client's traceparent when it sent exactly
// one and it is valid; nil means a new trace starts here. (Two of them are
// invalid: the W3C recommendation allows no combining.)
func clientTraceparent(fields []parser.Field) []byte {
	var v []byte
	n := 0
	for i := range fields {
		f := &fields[i]
		if len(f.Name) == len("Traceparent") && parser.EqualFoldString(f.Name, "Traceparent") {
			v = f.Value
			n++
		}
	}
	if n != 1 || !validTraceparent(v) {
		return nil
	}
	return v
}

// opsDrop: fields a route removes, and fields it sets (its value replaces).
func opsDrop(name []byte, ops *headerOps) bool {
	for _, r := range ops.remove {
		if parser.EqualFoldString(name, r) {
			return true
		}
	}
	for i := range ops.set {
		if parser.EqualFoldString(name, ops.set[i].name) {
			return true
		}
	}
	return false
}

func appendHeaderOps(b []byte, ops *headerOps) []byte {
	for i := range ops.set {
		b = appendField(b, ops.set[i].name, ops.set[i].value)
	}
	for i := range ops.add {
		b = appendField(b, ops.add[i].name, ops.add[i].value)
	}
	return b
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

// rewritePath applies the route's rewrite to the normalised path, into
// cc.rewriteBuf. A byte-prefix strip can leave a dot segment at the start
// of what remains ("/api../admin" with strip_prefix "/api" leaves
// "../admin"); where that starts a segment of its own (after an add_prefix
// ending in "/", or with none) it is normalised as a path of its own, so
// it cannot climb above the add_prefix (it reached "/admin" behind
// "/svc/"). Where it continues the add_prefix's last segment ("/svc" +
// "../admin" is "/svc../admin") nothing can climb. The add_prefix itself
// is used as written. It reports false only for a path that cannot be
// normalised (it cannot happen: the pieces come from a normalised path).
func (cc *clientConn) rewritePath() bool {
	rt := cc.rt
	rest := cc.pathBuf
	if rt.stripPrefix != "" && len(rest) >= len(rt.stripPrefix) && string(rest[:len(rt.stripPrefix)]) == rt.stripPrefix {
		rest = rest[len(rt.stripPrefix):]
	}
	out := cc.rewriteBuf[:0]
	switch {
	case len(rest) == 0:
		// Nothing left after the strip: the add_prefix alone is the path
		// ("/v1" with strip /v1, add /internal is "/internal", as Envoy's
		// and nginx's prefix rewrites give), else "/".
		out = append(out, rt.addPrefix...)
		if len(out) == 0 {
			out = append(out, '/')
		}
	case rt.addPrefix != "" && rt.addPrefix[len(rt.addPrefix)-1] != '/':
		out = append(out, rt.addPrefix...)
		out = append(out, rest...)
	default:
		raw := append(cc.rewriteRaw[:0], '/')
		if rest[0] == '/' {
			rest = rest[1:]
		}
		raw = append(raw, rest...)
		cc.rewriteRaw = raw
		out = append(out, rt.addPrefix...)
		mark := len(out)
		norm, err := parser.NormalizePath(out, raw)
		if err != nil {
			return false
		}
		out = norm
		if rt.addPrefix != "" { // it ends in "/": one slash between
			out = append(out[:mark], out[mark+1:]...)
		}
	}
	cc.rewriteBuf = oneLeadingSlash(out)
	return true
}

// oneLeadingSlash cuts a path's leading run of slashes to one, in place.
// SPEC §3 keeps "//" in a path, but at its start it reads as an authority
// to WHATWG URL parsers (Node's new URL(req.url, base)) and Python's
// urlsplit: "//x/admin/secret", routed as a path outside "/admin/", would
// reach the application as "/admin/secret" on host "x". Cut, the gateway
// routes and forwards the path the application reads.
func oneLeadingSlash(p []byte) []byte {
	k := 0
	for k < len(p) && p[k] == '/' {
		k++
	}
	if k < 2 {
		return p
	}
	return p[:copy(p, p[k-1:])]
}

// buildUpstreamHead appends the request head sent upstream (SPEC §3).
func (cc *clientConn) buildUpstreamHead(b []byte) []byte {
	r := &cc.req
	rt := cc.rt
	b = appendMethod(b, r.Method)
	b = append(b, ' ')
	if rt.stripPrefix == "" && rt.addPrefix == "" {
		b = append(b, cc.pathBuf...)
	} else {
		b = append(b, cc.rewriteBuf...) // rewritePath, at the request's start
	}
	ra := rt.auth
	if r.Query != nil {
		if ra != nil && len(ra.stripQuery) > 0 {
			// Credentials in the query do not go upstream.
			mark := len(b)
			b = append(b, '?')
			var n int
			b, n = policy.StripQueryParams(b, r.Query, ra.stripQuery)
			switch {
			case n == 0:
				b = append(b[:mark+1], r.Query...) // nothing removed: the query exactly as sent
			case len(b) == mark+1:
				b = b[:mark]
			}
		} else {
			b = append(b, '?')
			b = append(b, r.Query...)
		}
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	switch {
	case rt.hostRewrite != "":
		b = append(b, rt.hostRewrite...)
	case len(r.Host) > 0:
		b = append(b, r.Host...)
	case cc.up != nil:
		b = append(b, cc.up.defaultHost...)
	}
	b = append(b, "\r\n"...)

	hasConnection := parser.ConnectionNamesOthers(r.Fields)
	parent := clientTraceparent(r.Fields)
	dropClaims := cc.ls == nil || len(cc.ls.trusted) == 0 || !trusted(cc.ls.trusted, cc.peer)
	for i := range r.Fields {
		f := &r.Fields[i]
		if requestHeaderDropped(f.Name, r, rt, hasConnection, dropClaims) {
			continue
		}
		if parent == nil && len(f.Name) == len("Tracestate") && parser.EqualFoldString(f.Name, "Tracestate") {
			continue // a new trace starts without the old one's vendor state (W3C Trace Context §3.3)
		}
		if ra != nil && len(ra.stripCookies) > 0 && parser.EqualFoldString(f.Name, "Cookie") {
			mark := len(b)
			b = append(b, "Cookie: "...)
			valueStart := len(b)
			b, _ = policy.StripCookies(b, f.Value, ra.stripCookies)
			if len(b) == valueStart {
				b = b[:mark] // nothing else was in it
			} else {
				b = append(b, "\r\n"...)
			}
			continue
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	// X-Forwarded-For keeps every client element, in order, then our
	// peer; empty elements ("1.1.1.1,", a blank field) are left out, so
	// that a reader counting hops from the right counts ours right.
	b = append(b, "X-Forwarded-For: "...)
	for i := range r.Fields {
		f := &r.Fields[i]
		if !parser.EqualFoldString(f.Name, "X-Forwarded-For") {
			continue
		}
		for v := f.Value; len(v) > 0; {
			elem := v
			if j := bytes.IndexByte(v, ','); j >= 0 {
				elem, v = v[:j], v[j+1:]
			} else {
				v = nil
			}
			if elem = trimOWS(elem); len(elem) > 0 {
				b = append(b, elem...)
				b = append(b, ", "...)
			}
		}
	}
	b = append(b, cc.peerStr...)
	if !rt.reqHeaders.ownProto {
		b = append(b, "\r\nX-Forwarded-Proto: "...)
		b = append(b, cc.ls.proto...)
	}
	if len(r.Host) > 0 && !rt.reqHeaders.ownHost { // an HTTP/1.0 request may have none
		b = append(b, "\r\nX-Forwarded-Host: "...)
		b = append(b, r.Host...)
	}
	b = append(b, "\r\nX-Request-Id: "...)
	b = append(b, cc.reqID...)
	b = append(b, "\r\nTraceparent: "...)
	b = appendTraceparent(b, parent)
	b = append(b, "\r\n"...)
	if cc.certSHA256 != "" { // a verified client certificate; its subject may be empty (SAN-only)
		b = appendField(b, "X-Portico-Client-Cert-Subject", cc.certSubject)
		b = appendField(b, "X-Portico-Client-Cert-Sha256", cc.certSHA256)
	}
	if id := cc.id; id != nil {
		b = appendField(b, "X-Portico-Auth", id.Auth)
		b = appendField(b, "X-Portico-Consumer", id.Consumer)
		if id.Tenant != "" {
			b = appendField(b, "X-Portico-Tenant", id.Tenant)
		}
		// Always set (SPEC §3 qualifies only the tenant with "when
		// known"): empty for an identity without scopes, an API key's.
		if id.ScopesHeader != "" {
			b = appendField(b, "X-Portico-Scopes", id.ScopesHeader)
		} else {
			b = append(b, "X-Portico-Scopes:\r\n"...)
		}
	}
	b = appendHeaderOps(b, &rt.reqHeaders)
	switch cc.bodyKind {
	case bodyLength:
		b = append(b, "Content-Length: "...)
		b = appendInt(b, r.ContentLength)
		b = append(b, "\r\n"...)
	case bodyChunked:
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	default:
		// No body: say so where the method gives content a meaning (RFC
		// 9110 §8.6 SHOULD), or the client said it; origins answer 411 or
		// fail on a POST without a length. An HTTP/2 POST ended with its
		// HEADERS gets it too.
		if r.ContentLength == 0 || methodWithContent(r.Method) {
			b = append(b, "Content-Length: 0\r\n"...)
		}
	}
	return append(b, "\r\n"...)
}

func appendInt(b []byte, v int64) []byte {
	if v == 0 {
		return append(b, '0')
	}
	var tmp [20]byte
	i := len(tmp)
	for v > 0 {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[i:]...)
}

// clientAddr returns the address that counts as the client for logs and
// rate-limit keys.
func (cc *clientConn) clientAddr() string {
	if cc.ls == nil || len(cc.ls.trusted) == 0 || !trusted(cc.ls.trusted, cc.peer) {
		return cc.peerStr
	}
	// Walk X-Forwarded-For right to left across all its fields.
	best := cc.peerStr
	for i := len(cc.req.Fields) - 1; i >= 0; i-- {
		f := &cc.req.Fields[i]
		if !parser.EqualFoldString(f.Name, "X-Forwarded-For") {
			continue
		}
		v := f.Value
		end := len(v)
		for end > 0 {
			start := end
			for start > 0 && v[start-1] != ',' {
				start--
			}
			hop := trimOWS(v[start:end])
			end = start - 1
			if len(hop) == 0 {
				continue
			}
			addr, ok := parseAddr(hop)
			if !ok {
				return best
			}
			// The canonical form (IPv4-mapped unmapped, IPv6 compressed):
			// one client, one rate-limit bucket and one log spelling,
			// however a proxy wrote it.
			best = addr.String()
			if !trusted(cc.ls.trusted, addr) {
				return best
			}
		}
	}
	return best
}

// trailerForwarded says whether a trailer field passes the gateway (RFC
// 9110 §6.5.1): not hop-by-hop, not framing, routing, authentication or
// content metadata, which a trailer may not change, nothing of ours, and
// none of the route's own names (deny: route.reqNames or respNames).
func trailerForwarded(name []byte, deny []string) bool {
	if bytes.IndexByte(name, '_') >= 0 {
		// CGI-style upstreams read X_Portico_Consumer as X-Portico-Consumer:
		// the rules apply to the name as they will read it.
		var buf [64]byte
		if len(name) > len(buf) {
			return false // no legitimate trailer needs such a name
		}
		name = dashed(buf[:], name)
	}
	if parser.IsHopByHop(name) || hasPrefixFold(name, "X-Portico-") || proxyClaim(name) { // proxyClaim covers every X-Forwarded-*
		return false
	}
	for _, n := range [...]string{"Content-Length", "Content-Type", "Content-Encoding", "Content-Range",
		"Host", "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "Expect", "Max-Forwards",
		"Cache-Control", "X-Request-Id", "Traceparent", "Tracestate",
		// Authentication challenges and response control data (RFC 9110
		// §6.5.1), which a client that merges trailers into the head
		// would act on after the fact.
		"WWW-Authenticate", "Proxy-Authenticate", "Location", "Retry-After", "Vary",
		"Strict-Transport-Security", "Content-Security-Policy"} {
		if parser.EqualFoldString(name, n) {
			return false
		}
	}
	for _, n := range deny {
		if parser.EqualFoldString(name, n) {
			return false
		}
	}
	return true
}

// appendLastChunk ends a chunked body: the last chunk, the trailer fields
// that pass (from a section kept by parser.ChunkedDecoder), the final CRLF.
// encoded: the gateway encoded the body, so a digest of the upstream's
// bytes (Content-Digest and its kin) no longer holds and is dropped.
func appendLastChunk(b, trailers []byte, deny []string, encoded bool) []byte {
	if len(trailers) == 0 {
		return append(b, lastChunk...)
	}
	b = append(b, "0\r\n"...)
	parser.ForEachTrailer(trailers, func(name, value []byte) {
		if trailerForwarded(name, deny) && !(encoded && digestField(name)) {
			b = append(b, name...)
			b = append(b, ": "...)
			b = append(b, value...)
			b = append(b, "\r\n"...)
		}
	})
	return append(b, "\r\n"...)
}

func methodWithContent(m []byte) bool {
	return parser.EqualFoldString(m, "POST") || parser.EqualFoldString(m, "PUT") || parser.EqualFoldString(m, "PATCH")
}

// appendMethod writes the request method upstream, a standard one in its
// canonical upper case: routes and the relay treat "head" as HEAD (a
// bodiless answer), so the upstream must see HEAD too. A case-sensitive
// origin would otherwise answer "head" with a body the relay did not
// expect, left on a pooled connection for the next request to read.
func appendMethod(b, m []byte) []byte {
	for _, x := range [...]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE"} {
		if parser.EqualFoldString(m, x) {
			return append(b, x...)
		}
	}
	return append(b, m...)
}
