package config

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// validator applies the defaults that depend on other fields, checks every
// rule and resolves relative file paths. It reports through the decoder so
// that problems already found while decoding are not repeated.
type validator struct {
	d         *decoder
	c         *Config
	bindCheck bool // check listening addresses against this host (bindable)
}

func (v *validator) errf(path, format string, args ...any) { v.d.errAt(path, format, args...) }

// set reports whether the field at path was written in the file.
func (v *validator) set(path string) bool { return v.d.has(path) }

// resolve makes a file path from the route file absolute.
func (v *validator) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.c.Dir, p)
}

func (v *validator) run() {
	c := v.c
	switch {
	case !v.set("version"):
		v.d.add(Pos{Line: 1, Col: 1}, "version", "required (must be 1)")
	case c.Version != 1:
		v.errf("version", "unsupported version %d (must be 1)", c.Version)
	}
	if len(c.Listeners) == 0 && !v.d.bad["listeners"] {
		v.d.add(v.d.lookup("listeners"), "listeners", "at least one listener is required")
	}
	// 0 would read as "no drain", yet the server has to wait some time for
	// what is in flight: refused like every other timeout.
	v.positive("drain_timeout", c.DrainTimeout)
	v.accessLog()
	binds := v.listeners()
	if a := c.Admin; a != nil {
		if a.Address == "" {
			v.errf("admin.address", "required")
		} else if v.hostPort("admin.address", a.Address, true, false) && v.bindable("admin.address", a.Address) {
			v.bindConflict(binds, "admin.address", a.Address)
		}
	}
	ups := v.upstreams()
	auths := v.auths()
	limits := v.rateLimits()
	v.routes(ups, auths, limits)
}

func (v *validator) accessLog() {
	a := &v.c.AccessLog
	switch a.Path {
	case "stdout", "stderr", "off":
	case "":
		v.errf("access_log.path", `required: stdout, stderr, off or a file path`)
	default:
		if low := strings.ToLower(strings.TrimSpace(a.Path)); low == "false" || low == "no" {
			// YAML 1.1 spellings of off (PyYAML, older tools): a file by
			// that name is almost certainly not what was meant.
			v.errf("access_log.path", "%q would be a file of that name: write off to disable the access log (or ./%s for such a file)", a.Path, a.Path)
			return
		}
		if low := strings.ToLower(strings.TrimSpace(a.Path)); low == "stdout" || low == "stderr" || low == "off" {
			v.errf("access_log.path", "%q would be a file of that name: the keyword is %s, in lower case (or ./%s for such a file)", a.Path, low, a.Path)
			return
		}
		// Checked here, as run would open it, so that validate refuses a
		// file run cannot start with.
		name := a.Path
		a.Path = v.resolve(a.Path)
		if err := checkAppendable(a.Path, name); err != nil {
			v.errf("access_log.path", "%v", err)
		}
	}
}

// names checks that name is non-empty, well formed and unique in its
// section.
func (v *validator) name(path, name string, seen map[string]string) {
	p := join(path, "name")
	switch {
	case name == "":
		if !v.d.bad[p] {
			v.d.add(v.d.lookup(path), p, "required")
		}
		return
	case !validName(name):
		v.errf(p, "invalid name %q: use 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", name)
		return
	}
	if first, dup := seen[name]; dup {
		v.errf(p, "duplicate name %q (first at %s)", name, first)
		return
	}
	seen[name] = p
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 128 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' && c != ':' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ---------------------------------------------------------------- listeners

type bind struct {
	path, host, port string
}

func (v *validator) listeners() []bind {
	seen := make(map[string]string)
	var binds []bind
	for i := range v.c.Listeners {
		l := &v.c.Listeners[i]
		path := index("listeners", i)
		v.name(path, l.Name, seen)
		ap := join(path, "address")
		if l.Address == "" {
			if !v.d.bad[ap] {
				v.d.add(v.d.lookup(path), ap, "required")
			}
		} else if v.hostPort(ap, l.Address, true, false) && v.bindable(ap, l.Address) {
			binds = v.bindConflict(binds, ap, l.Address)
		}
		v.protocols(path, l)
		if l.TLS != nil {
			v.listenerTLS(join(path, "tls"), l.TLS)
		}
		v.limits(join(path, "limits"), &l.Limits)
	}
	return binds
}

// bindConflict reports two listeners (or the admin) on one port where the
// hosts overlap: with SO_REUSEPORT both binds would succeed and split the
// traffic silently.
func (v *validator) bindConflict(binds []bind, path, addr string) []bind {
	host, port, _ := net.SplitHostPort(addr)
	if port == "0" {
		return binds
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	for _, b := range binds {
		if b.port == port && (b.host == host || wild(b.host) || wild(host)) {
			v.errf(path, "%s overlaps %s, which binds the same port", addr, b.path)
			return binds
		}
	}
	return append(binds, bind{path, host, port})
}

func (v *validator) protocols(path string, l *Listener) {
	p := join(path, "protocols")
	if l.Protocols == nil {
		if v.d.bad[p] {
			return
		}
		if l.TLS != nil {
			l.Protocols = slices.Clone(DefaultTLSProtocols)
		} else {
			l.Protocols = slices.Clone(DefaultPlaintextProtocols)
		}
		return
	}
	if len(l.Protocols) == 0 {
		v.errf(p, "must not be empty")
	}
	for i, proto := range l.Protocols {
		pp := index(p, i)
		switch {
		case proto != "http1" && proto != "h2" && proto != "h2c":
			v.errf(pp, "unknown protocol %q (want http1, h2 or h2c)", proto)
		case slices.Index(l.Protocols, proto) < i:
			v.errf(pp, "%s is listed twice", proto)
		case proto == "h2" && l.TLS == nil:
			v.errf(pp, "h2 needs tls; plaintext listeners speak h2c (HTTP/2 with prior knowledge)")
		case proto == "h2c" && l.TLS != nil:
			v.errf(pp, "h2c is for plaintext listeners; TLS listeners offer h2 by ALPN")
		}
	}
}

func (v *validator) listenerTLS(path string, t *ListenerTLS) {
	cp := join(path, "certificates")
	if len(t.Certificates) == 0 {
		v.errf(cp, "at least one certificate is required")
	}
	for i := range t.Certificates {
		c := &t.Certificates[i]
		p := index(cp, i)
		v.certPair(p, c)
	}
	if t.MinVersion != "1.2" && t.MinVersion != "1.3" {
		v.errf(join(path, "min_version"), `must be "1.2" or "1.3", got %q`, t.MinVersion)
	}
	if t.ClientAuth == nil {
		t.ClientAuth = &ClientAuth{Mode: DefaultClientAuthMode}
		return
	}
	ca := t.ClientAuth
	p := join(path, "client_auth")
	switch ca.Mode {
	case "none":
		if ca.CAFile != "" {
			v.errf(join(p, "ca_file"), "is not used with mode none; set mode to request or require, or remove it")
		}
	case "request", "require":
		if ca.CAFile == "" {
			if !v.d.bad[join(p, "ca_file")] {
				v.d.add(v.d.lookup(p), join(p, "ca_file"), "required with mode %s", ca.Mode)
			}
		}
	default:
		v.errf(join(p, "mode"), "unknown mode %q (want none, request or require)", ca.Mode)
	}
	if ca.CAFile != "" {
		ca.CAFile = v.caFile(join(p, "ca_file"), ca.CAFile)
	}
}

func (v *validator) certPair(path string, c *CertPair) {
	cf, kf := join(path, "cert_file"), join(path, "key_file")
	ok := true
	for _, f := range []struct{ p, val string }{{cf, c.CertFile}, {kf, c.KeyFile}} {
		if f.val == "" {
			ok = false
			if !v.d.bad[f.p] {
				v.d.add(v.d.lookup(path), f.p, "required")
			}
		}
	}
	if !ok {
		return
	}
	certName, keyName := c.CertFile, c.KeyFile
	c.CertFile, c.KeyFile = v.resolve(c.CertFile), v.resolve(c.KeyFile)
	certErr, keyErr := checkCertPair(c.CertFile, certName, c.KeyFile, keyName)
	if certErr != nil {
		v.errf(cf, "%v", certErr)
	}
	if keyErr != nil {
		v.errf(kf, "%v", keyErr)
	}
}

// caFile checks a CA bundle and returns its resolved path.
func (v *validator) caFile(path, file string) string {
	abs := v.resolve(file)
	if err := checkCAFile(abs, file); err != nil {
		v.errf(path, "%v", err)
	}
	return abs
}

func (v *validator) limits(path string, l *Limits) {
	if l.MaxConnections < 1 || l.MaxConnections > 10_000_000 {
		v.errf(join(path, "max_connections"), "must be between 1 and 10000000, got %d", l.MaxConnections)
	}
	if l.MaxHeaderBytes < KiB || l.MaxHeaderBytes > MiB {
		v.errf(join(path, "max_header_bytes"), "must be between 1KiB and 1MiB, got %s", l.MaxHeaderBytes)
	}
	v.positive(join(path, "header_timeout"), l.HeaderTimeout)
	v.positive(join(path, "idle_timeout"), l.IdleTimeout)
	if l.MaxBodyBytes < 1 {
		v.errf(join(path, "max_body_bytes"), "must be greater than 0")
	}
	if l.H2MaxConcurrentStreams < 1 || l.H2MaxConcurrentStreams > 1<<31-1 {
		v.errf(join(path, "h2_max_concurrent_streams"), "must be between 1 and 2147483647, got %d", l.H2MaxConcurrentStreams)
	}
}

// minCheckInterval is the shortest health_check.interval.
const minCheckInterval = 100 * time.Millisecond

func (v *validator) positive(path string, d Duration) {
	if d <= 0 {
		v.errf(path, "must be greater than 0")
	}
}

// hostPort checks "host:port". An empty host (all interfaces) is allowed
// when emptyHost is set, port 0 (any free port) when zeroPort is set.
// bindable checks, as run's bind would, that a listening address can be
// bound on this host: validate promises "would load", and an address of
// another host (or a link-local one, which needs a zone an address here
// cannot carry) fails only at run's bind otherwise.
func (v *validator) bindable(path, addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if !v.bindCheck || host == "" || strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, err := net.LookupIP(host)
		if err != nil || len(ips) == 0 {
			v.errf(path, "cannot resolve %q: %v", addr, err)
			return false
		}
		ip, _ = netip.AddrFromSlice(ips[0])
	}
	if msg := bindProblem(ip.Unmap()); msg != "" {
		v.errf(path, "cannot bind %q: %s", addr, msg)
		return false
	}
	return true
}

// bindProblem says why addr cannot be bound here, or "": a wildcard or
// loopback address, one of the host's interface addresses, or any address
// when the kernel allows nonlocal binds (a VRRP backup binds its virtual
// IP before it holds it) can be.
func bindProblem(addr netip.Addr) string {
	if addr.IsUnspecified() || addr.IsLoopback() {
		return ""
	}
	if addr.Is6() && addr.IsLinkLocalUnicast() { // IPv4's 169.254/16 has no zones
		return "a link-local address needs an interface zone, which a listener address cannot carry"
	}
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return "" // cannot tell: leave it to the bind
	}
	for _, a := range ifaddrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr {
			return ""
		}
	}
	sysctl := "/proc/sys/net/ipv4/ip_nonlocal_bind"
	if addr.Is6() {
		sysctl = "/proc/sys/net/ipv6/ip_nonlocal_bind"
	}
	if b, err := os.ReadFile(sysctl); err != nil || strings.TrimSpace(string(b)) != "0" {
		return ""
	}
	return addr.String() + " is not an address of this host (and nonlocal binds are off)"
}

func (v *validator) hostPort(path, addr string, emptyHost, zeroPort bool) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errf(path, "invalid address %q: want host:port", addr)
		return false
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		v.errf(path, "invalid port %q in %q", port, addr)
		return false
	}
	if n == 0 && !zeroPort {
		if path == "admin.address" {
			v.errf(path, "port 0 in %q would bind a random port nobody knows; give a fixed port", addr)
		} else if emptyHost { // a listening address
			v.errf(path, "port 0 in %q: each event loop would bind its own random port; give a fixed port", addr)
		} else {
			v.errf(path, "invalid port %q in %q", port, addr)
		}
		return false
	}
	switch {
	case host == "" && emptyHost:
	case host == "":
		v.errf(path, "invalid address %q: the host is missing", addr)
		return false
	case !validHostOrIP(host):
		v.errf(path, "invalid host %q in %q", host, addr)
		return false
	}
	return true
}

func validHostOrIP(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	return validHostname(h)
}

// validHostname checks DNS syntax: dot-separated labels of letters, digits,
// '-' and '_', 1 to 63 bytes each, 253 in all.
func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return true
}

// ---------------------------------------------------------------- upstreams

func (v *validator) upstreams() map[string]bool {
	seen := make(map[string]string)
	names := make(map[string]bool)
	for i := range v.c.Upstreams {
		u := &v.c.Upstreams[i]
		path := index("upstreams", i)
		v.name(path, u.Name, seen)
		names[u.Name] = true
		tp := join(path, "targets")
		if len(u.Targets) == 0 && !v.d.bad[tp] {
			v.d.add(v.d.lookup(tp), tp, "at least one target is required")
		}
		if len(u.Targets) > maxTargets {
			v.errf(tp, "%d targets, more than the limit of %d", len(u.Targets), maxTargets)
		}
		addrs := make(map[string]int)
		for j, t := range u.Targets {
			p := index(tp, j)
			ap := join(p, "address")
			switch {
			case t.Address == "":
				if !v.d.bad[ap] {
					v.d.add(v.d.lookup(p), ap, "required")
				}
			case v.hostPort(ap, t.Address, false, false):
				if k, dup := addrs[t.Address]; dup {
					v.errf(ap, "%s is listed twice (first at %s)", t.Address, index(tp, k))
				} else {
					addrs[t.Address] = j
				}
			}
			if t.Weight < 1 || t.Weight > 10_000 {
				v.errf(join(p, "weight"), "must be between 1 and 10000, got %d (remove a target to send it nothing)", t.Weight)
			}
		}
		v.balancer(path, u)
		v.positive(join(path, "connect_timeout"), u.ConnectTimeout)
		if u.MaxIdleConns < 0 {
			v.errf(join(path, "max_idle_conns"), "must not be negative")
		}
		if u.MaxConns < 0 {
			v.errf(join(path, "max_conns"), "must not be negative (0 means no limit)")
		}
		if h := u.HealthCheck; h != nil {
			p := join(path, "health_check")
			switch {
			case h.Path == "":
				if !v.d.bad[join(p, "path")] {
					v.d.add(v.d.lookup(p), join(p, "path"), "required")
				}
			case h.Path[0] != '/' || !validOriginForm(h.Path):
				v.errf(join(p, "path"), "must be an origin-form path (with an optional query) starting with '/', URI characters and %%XX escapes only, got %q", h.Path)
			}
			// Floors: a check every few nanoseconds (its timeout, by
			// default the interval, expiring at once) spun the checker
			// and took every target out.
			if h.Interval < Duration(minCheckInterval) {
				v.errf(join(p, "interval"), "must be at least %s, got %s", minCheckInterval, h.Interval)
			}
			if h.Timeout < Duration(time.Millisecond) && v.set(join(p, "timeout")) {
				v.errf(join(p, "timeout"), "must be at least 1ms, got %s", h.Timeout)
			}
			if h.Timeout > h.Interval && h.Interval > 0 {
				v.errf(join(p, "timeout"), "must not exceed interval (%s)", h.Interval)
			}
			if h.HealthyThreshold < 1 {
				v.errf(join(p, "healthy_threshold"), "must be at least 1")
			}
			if h.UnhealthyThreshold < 1 {
				v.errf(join(p, "unhealthy_threshold"), "must be at least 1")
			}
		}
		if o := u.Outlier; o != nil {
			p := join(path, "outlier")
			if o.ConsecutiveFailures < 1 {
				v.errf(join(p, "consecutive_failures"), "must be at least 1")
			}
			v.positive(join(p, "base_ejection"), o.BaseEjection)
		}
		if t := u.TLS; t != nil {
			p := join(path, "tls")
			if t.ServerName != "" && !validHostname(t.ServerName) {
				v.errf(join(p, "server_name"), "invalid server name %q", t.ServerName)
			}
			if t.CAFile != "" {
				t.CAFile = v.caFile(join(p, "ca_file"), t.CAFile)
			}
		}
	}
	return names
}

func (v *validator) balancer(path string, u *Upstream) {
	bp, hp := join(path, "balancer"), join(path, "hash_on")
	switch u.Balancer {
	case "round_robin", "least_request", "random":
		// Read only by consistent_hash, and ignored by the others (SPEC's
		// own example pairs it with round_robin, so switching a pool's
		// balancer is a one-line change); its spelling is still checked.
		if u.HashOn != "" && u.HashOn != "ip" && u.HashOn != "consumer" && !namedSource(u.HashOn, "header", "cookie") {
			v.errf(hp, "invalid %q (want ip, consumer, header:NAME or cookie:NAME)", u.HashOn)
		}
	case "consistent_hash":
		if u.HashOn == "" {
			if !v.d.bad[hp] {
				v.d.add(v.d.lookup(bp), hp, "required with balancer consistent_hash (ip, consumer, header:NAME or cookie:NAME)")
			}
		} else if u.HashOn != "ip" && u.HashOn != "consumer" && !namedSource(u.HashOn, "header", "cookie") {
			v.errf(hp, "invalid %q (want ip, consumer, header:NAME or cookie:NAME)", u.HashOn)
		}
	default:
		v.errf(bp, "unknown balancer %q (want round_robin, least_request, consistent_hash or random)", u.Balancer)
	}
	if name, ok := strings.CutPrefix(u.HashOn, "header:"); ok && isToken(name) && gatewayHeader(name) {
		v.errf(hp, "%s is the client's own (forged) value: X-Portico-* headers are removed from client requests (SPEC §3); hash_on consumer hashes on the authenticated identity", name)
	}
}

// namedSource reports whether s is "KIND:NAME" with KIND one of kinds and
// NAME valid for it.
// credentialHeader refuses a credential read from an X-Portico-* header:
// those are removed from every client request (SPEC §3), so the method
// could never find one.
func (v *validator) credentialHeader(path, src string) {
	if name, ok := strings.CutPrefix(src, "header:"); ok && gatewayHeader(name) {
		v.errf(path, "%s can never carry a credential: X-Portico-* headers are removed from client requests (SPEC §3)", name)
	}
}

func namedSource(s string, kinds ...string) bool {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || !slices.Contains(kinds, kind) {
		return false
	}
	if kind == "query" {
		return validQueryName(name)
	}
	return isToken(name)
}

func validQueryName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '&' || c == '=' || c == '#' || c == '%' || c == '+' {
			return false
		}
	}
	return true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- auth

// allAlgs are the names algorithms may list: the defaults, the HS*
// family, and Ed25519, RFC 9864's fully-specified name for EdDSA over
// Ed25519 (the one EdDSA curve Portico verifies), an alias of EdDSA.
// maxTargets is the balancer's bound on one pool (balancer.MaxTargets;
// this package imports nothing from the project).
const maxTargets = 4096

var allAlgs = append(append(slices.Clone(asymmetricAlgs), hmacAlgs...), "Ed25519")

// defaultHMACAlgs are the HS* algorithms a secret file allows by default:
// those whose hash the secret is at least as long as (RFC 7518 §3.2), so
// a 32-byte HS256 secret needs no algorithms list. HS256 is always in, so
// a secret too short even for it is reported rather than silently unused.
func defaultHMACAlgs(path string) []string {
	secret, err := ReadHMACSecret(path)
	if err != nil {
		return hmacAlgs // checkSecretFile reports it
	}
	n := len(secret)
	algs := []string{"HS256"}
	if n >= 48 {
		algs = append(algs, "HS384")
	}
	if n >= 64 {
		algs = append(algs, "HS512")
	}
	return algs
}

func (v *validator) auths() map[string]bool {
	seen := make(map[string]string)
	names := make(map[string]bool)
	for i := range v.c.Auth {
		a := &v.c.Auth[i]
		path := index("auth", i)
		v.name(path, a.Name, seen)
		names[a.Name] = true
		tp := join(path, "type")
		var wrong []string
		switch a.Type {
		case "jwt":
			v.jwt(path, a)
			wrong = apiKeyOnly
		case "api_key":
			v.apiKey(path, a)
			wrong = jwtOnly
		case "":
			if !v.d.bad[tp] {
				v.d.add(v.d.lookup(path), tp, "required (jwt or api_key)")
			}
		default:
			v.errf(tp, "unknown type %q (want jwt or api_key)", a.Type)
		}
		for _, k := range wrong {
			if v.set(join(path, k)) {
				v.errf(join(path, k), "is not used by type %s", a.Type)
			}
		}
	}
	return names
}

func (v *validator) jwt(path string, a *Auth) {
	p := func(k string) string { return join(path, k) }
	// Defaults for absent fields.
	if !v.set(p("leeway")) {
		a.Leeway = DefaultJWTLeeway
	}
	if !v.set(p("jwks_refresh")) {
		a.JWKSRefresh = DefaultJWKSRefresh
	}
	if !v.set(p("token_from")) {
		a.TokenFrom = slices.Clone(DefaultTokenFrom)
	}
	if !v.set(p("consumer_claim")) {
		a.ConsumerClaim = DefaultConsumerClaim
	}
	if !v.set(p("scope_claim")) {
		a.ScopeClaim = DefaultScopeClaim
	}
	hasJWKS := a.JWKSURL != "" || a.JWKSFile != ""
	if a.Algorithms == nil && !v.d.bad[p("algorithms")] {
		// The key source decides the family: JWKS keys verify asymmetric
		// algorithms only, the HMAC secret verifies HS* only.
		if hasJWKS {
			a.Algorithms = slices.Clone(asymmetricAlgs)
		}
		if a.HMACSecretFile != "" {
			a.Algorithms = append(a.Algorithms, defaultHMACAlgs(v.resolve(a.HMACSecretFile))...)
		}
	}

	// Key sources.
	onlyHMAC := len(a.Algorithms) > 0
	for _, alg := range a.Algorithms {
		onlyHMAC = onlyHMAC && slices.Contains(hmacAlgs, alg)
	}
	switch {
	case a.JWKSURL != "" && a.JWKSFile != "":
		v.errf(p("jwks_file"), "set only one of jwks_url or jwks_file")
	case !hasJWKS && !(onlyHMAC && a.HMACSecretFile != ""):
		if !v.d.bad[p("jwks_url")] && !v.d.bad[p("jwks_file")] {
			v.d.add(v.d.lookup(path), p("jwks_url"), "one of jwks_url or jwks_file is required (or hmac_secret_file with only HS256/HS384/HS512 algorithms)")
		}
	}
	if a.JWKSURL != "" {
		if err := checkJWKSURL(a.JWKSURL); err != nil {
			v.errf(p("jwks_url"), "%v", err)
		}
	}
	if a.JWKSFile != "" {
		name := a.JWKSFile
		a.JWKSFile = v.resolve(a.JWKSFile)
		if err := checkJWKSFile(a.JWKSFile, name); err != nil {
			v.errf(p("jwks_file"), "%v", err)
		}
	}
	if a.JWKSCAFile != "" {
		if a.JWKSURL == "" {
			v.errf(p("jwks_ca_file"), "is only used with jwks_url")
		}
		a.JWKSCAFile = v.caFile(p("jwks_ca_file"), a.JWKSCAFile)
	}
	if a.HMACSecretFile != "" {
		name := a.HMACSecretFile
		a.HMACSecretFile = v.resolve(a.HMACSecretFile)
		if err := checkSecretFile(a.HMACSecretFile, name); err != nil {
			v.errf(p("hmac_secret_file"), "%v", err)
		}
	}

	// Algorithms.
	if a.Algorithms != nil && len(a.Algorithms) == 0 {
		v.errf(p("algorithms"), "must not be empty")
	}
	for i, alg := range a.Algorithms {
		ap := index(p("algorithms"), i)
		switch {
		case strings.EqualFold(alg, "none"):
			v.errf(ap, `"none" can never be allowed: unsigned tokens would be accepted`)
		case !slices.Contains(allAlgs, alg):
			v.errf(ap, "unknown algorithm %q (want one of %s)", alg, strings.Join(allAlgs, ", "))
		case slices.Index(a.Algorithms, alg) < i:
			v.errf(ap, "%s is listed twice", alg)
		case slices.Contains(hmacAlgs, alg) && a.HMACSecretFile == "":
			v.errf(ap, "%s needs hmac_secret_file (HMAC tokens are never verified with JWKS keys)", alg)
		case !slices.Contains(hmacAlgs, alg) && !hasJWKS:
			v.errf(ap, "%s needs jwks_url or jwks_file", alg)
		}
	}

	// issuer is optional, as in Envoy: without it `iss` is not checked,
	// which is safe when only one issuer's keys are in the key set (set it
	// when a JWKS is shared by several issuers, as multi-tenant identity
	// providers do).
	if a.Audiences != nil && len(a.Audiences) == 0 {
		// An empty list would turn the audience check off, as leaving
		// it out does: that must be written as leaving it out.
		v.errf(p("audiences"), "must not be empty (leave it out not to check the audience)")
	}
	for i, aud := range a.Audiences {
		if aud == "" {
			v.errf(index(p("audiences"), i), "must not be empty")
		}
	}
	if a.Leeway < 0 || a.Leeway > Duration(5*time.Minute) {
		v.errf(p("leeway"), "must be between 0s and 5m, got %s", a.Leeway)
	}
	if a.JWKSRefresh < Duration(time.Second) {
		v.errf(p("jwks_refresh"), "must be at least 1s, got %s", a.JWKSRefresh)
	}
	if a.TokenFrom != nil && len(a.TokenFrom) == 0 {
		v.errf(p("token_from"), "must not be empty")
	}
	for i, src := range a.TokenFrom {
		if !namedSource(src, "header", "query", "cookie") {
			v.errf(index(p("token_from"), i), "invalid %q (want header:NAME, query:NAME or cookie:NAME)", src)
		} else {
			v.credentialHeader(index(p("token_from"), i), src)
		}
	}
	for _, k := range []struct{ key, val string }{{"consumer_claim", a.ConsumerClaim}, {"scope_claim", a.ScopeClaim}} {
		if k.val == "" {
			v.errf(p(k.key), "must not be empty")
		}
	}
}

func (v *validator) apiKey(path string, a *Auth) {
	p := func(k string) string { return join(path, k) }
	switch {
	case a.From == "":
		if !v.d.bad[p("from")] {
			v.d.add(v.d.lookup(path), p("from"), "required for type api_key (header:NAME or query:NAME)")
		}
	case !namedSource(a.From, "header", "query"):
		v.errf(p("from"), "invalid %q (want header:NAME or query:NAME)", a.From)
	default:
		v.credentialHeader(p("from"), a.From)
	}
	if len(a.Keys) == 0 && !v.d.bad[p("keys")] {
		v.d.add(v.d.lookup(p("keys")), p("keys"), "at least one key is required")
	}
	hashes := make(map[string]int)
	for i, k := range a.Keys {
		kp := index(p("keys"), i)
		if k.Consumer == "" && !v.d.bad[join(kp, "consumer")] {
			v.d.add(v.d.lookup(kp), join(kp, "consumer"), "required")
		}
		hp := join(kp, "sha256")
		switch {
		case k.SHA256 == "":
			if !v.d.bad[hp] {
				v.d.add(v.d.lookup(kp), hp, "required: the hex sha256 of the key")
			}
		case !isHex64(k.SHA256):
			v.errf(hp, "must be 64 hex digits (sha256 of the key)")
		default:
			if j, dup := hashes[k.SHA256]; dup {
				v.errf(hp, "the same key is listed twice (first at %s)", index(p("keys"), j))
			}
			hashes[k.SHA256] = i
		}
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func checkJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid URL %q", redactURL(s))
	}
	if u.User != nil {
		// Echoing the URL would print the password into logs and CI output.
		return fmt.Errorf("credentials in the URL (%s) are not allowed", redactURL(s))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		// Plain HTTP would let anyone on the path swap the keys; it is
		// accepted only for loopback (the demo issuer, tests).
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); (err == nil && a.IsLoopback()) || h == "localhost" {
			return nil
		}
		return fmt.Errorf("must use https (plain http is allowed only to loopback)")
	}
	return fmt.Errorf("invalid URL %q: want https://", redactURL(s))
}

// ---------------------------------------------------------------- rate limits

func (v *validator) rateLimits() map[string]bool {
	seen := make(map[string]string)
	names := make(map[string]bool)
	for i := range v.c.RateLimits {
		r := &v.c.RateLimits[i]
		path := index("rate_limits", i)
		v.name(path, r.Name, seen)
		names[r.Name] = true
		kp := join(path, "key")
		switch r.Key {
		case "ip", "consumer", "tenant", "route", "global":
		case "":
			if !v.d.bad[kp] {
				v.d.add(v.d.lookup(path), kp, "required (ip, consumer, tenant, route, global or header:NAME)")
			}
		default:
			if !namedSource(r.Key, "header") {
				v.errf(kp, "invalid key %q (want ip, consumer, tenant, route, global or header:NAME)", r.Key)
			} else if name := strings.TrimPrefix(r.Key, "header:"); gatewayHeader(name) {
				v.errf(kp, "%s is the client's own (forged) value: X-Portico-* headers are removed from client requests (SPEC §3); key consumer or tenant limits by the authenticated identity", name)
			}
		}
		rp := join(path, "rate")
		if r.Rate.Count == 0 {
			if !v.d.bad[rp] {
				v.d.add(v.d.lookup(path), rp, "required (such as 100/s)")
			}
			continue
		}
		bp := join(path, "burst")
		if !v.set(bp) {
			r.Burst = int(min(r.Rate.Count, 1<<31-1))
		} else if r.Burst < 1 {
			v.errf(bp, "must be at least 1")
		}
	}
	return names
}
