package policy

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// MaxTokenBytes bounds a compact JWS. Larger tokens are rejected as
// malformed before any decoding; real access tokens stay well below
// (a few hundred bytes to 2 KiB), and the bound keeps cache entries and
// per-request work small.
const MaxTokenBytes = 8 << 10

// Defaults applied by NewJWT to zero JWTConfig fields.
const (
	DefaultJWKSRefresh        = 10 * time.Minute
	DefaultMinRefetchInterval = 5 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultConsumerClaim      = "sub"
	DefaultScopeClaim         = "scope"
)

// JWTConfig configures one `type: jwt` auth method. The integrator maps
// the route file onto it (paths already resolved, secret file read).
type JWTConfig struct {
	Name               string        // auth method name (X-Portico-Auth, metric label)
	JWKSURL            string        // http(s) URL of the JWK Set; or
	JWKSFile           string        // path of a JWK Set file (re-read every Refresh)
	Issuer             string        // required iss when non-empty
	Audiences          []string      // when non-empty, some aud must be one of these
	Algorithms         []string      // allow-list, required; "none" is refused
	HMACSecret         []byte        // HS* secret (hmac_secret_file contents); required iff an HS* alg is allowed
	Leeway             time.Duration // clock skew allowance for exp and nbf
	Refresh            time.Duration // background JWKS refresh (default 10m)
	MinRefetchInterval time.Duration // min gap between refetches triggered by unknown kids (default 5s)
	FetchTimeout       time.Duration // whole JWKS HTTP exchange (default 5s)
	JWKSCAFile         string        // PEM roots for jwks_url; empty = system roots
	TokenFrom          []TokenSource // where tokens are looked for, in order (default header:Authorization)
	ConsumerClaim      string        // string claim naming the consumer, required in tokens (default "sub")
	TenantClaim        string        // optional string claim naming the tenant
	ScopeClaim         string        // space-separated string or string array (default "scope")
	CacheEntries       int           // verified-token cache bound (default DefaultCacheEntries)
	CacheBytes         int           // verified-token cache bound (default DefaultCacheBytes)

	Now        func() time.Time // clock (default time.Now); for tests
	HTTPClient *http.Client     // replaces the built JWKS client (tests); JWKSCAFile and FetchTimeout then unused
	Logger     *slog.Logger     // JWKS refresh outcomes; nil = discard
}

// JWT verifies compact-JWS bearer tokens for one auth method. It is safe
// for concurrent use. Verify never blocks: key material is read through
// an atomic pointer, and fetching happens on a background goroutine
// started by Start.
type JWT struct {
	name       string
	issuer     string
	audiences  []string
	allowed    []*algorithm
	hmac       *hmacVerifier
	leeway     int64
	from       []TokenSource
	consumer   string
	tenant     string
	scope      string
	now        func() time.Time
	cache      *tokenCache
	keys       atomic.Pointer[KeySet]
	src        *jwksSource // nil when only HMAC is configured
	needsJWKS  bool
	started    atomic.Bool
	cancel     context.CancelFunc
	done       chan struct{}
	unknownKid atomic.Uint64
	sigChecks  atomic.Uint64
}

// NewJWT checks cfg and builds the verifier. A JWKSFile is read and parsed
// here (an error is returned if it is unusable); a JWKSURL is first
// fetched by Start. Until a key set is present, tokens needing one fail
// with ReasonJWKSUnavailable.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	j := &JWT{
		name:      cfg.Name,
		issuer:    cfg.Issuer,
		audiences: append([]string(nil), cfg.Audiences...),
		leeway:    int64(cfg.Leeway / time.Second),
		from:      append([]TokenSource(nil), cfg.TokenFrom...),
		consumer:  cmpOr(cfg.ConsumerClaim, DefaultConsumerClaim),
		tenant:    cfg.TenantClaim,
		scope:     cmpOr(cfg.ScopeClaim, DefaultScopeClaim),
		now:       cfg.Now,
	}
	if j.name == "" {
		return nil, fmt.Errorf("cannot configure jwt auth: empty name")
	}
	fail := func(format string, a ...any) (*JWT, error) {
		return nil, fmt.Errorf("cannot configure jwt auth %q: %s", cfg.Name, fmt.Sprintf(format, a...))
	}
	if j.now == nil {
		j.now = time.Now
	}
	if cfg.Leeway < 0 {
		return fail("negative leeway")
	}
	if len(cfg.Algorithms) == 0 {
		return fail("algorithms: at least one is required")
	}
	hsMax := 0
	for _, name := range cfg.Algorithms {
		if strings.EqualFold(name, "none") {
			return fail("algorithms: %q can never be allowed", name)
		}
		a := lookupAlg(name)
		if a == nil {
			return fail("algorithms: %q is not supported (supported: %s)", name, strings.Join(SupportedAlgorithms(), ", "))
		}
		dup := false
		for _, b := range j.allowed {
			dup = dup || a == b
		}
		if dup {
			continue
		}
		j.allowed = append(j.allowed, a)
		if a.kind == kindHMAC {
			hsMax = max(hsMax, a.sigLen)
		} else {
			j.needsJWKS = true
		}
	}
	if hsMax > 0 {
		// RFC 7518 §3.2: the key must be at least as long as the hash output.
		if len(cfg.HMACSecret) < hsMax {
			return fail("HS* algorithms need hmac_secret_file with at least %d bytes (have %d)", hsMax, len(cfg.HMACSecret))
		}
		j.hmac = newHMACVerifier(cfg.HMACSecret)
	}
	if cfg.JWKSURL != "" && cfg.JWKSFile != "" {
		return fail("jwks_url and jwks_file are exclusive")
	}
	if j.needsJWKS && cfg.JWKSURL == "" && cfg.JWKSFile == "" {
		return fail("asymmetric algorithms need jwks_url or jwks_file")
	}
	if len(j.from) == 0 {
		j.from = []TokenSource{{Kind: FromHeader, Name: "Authorization"}}
	}
	for _, s := range j.from {
		if s.Kind < FromHeader || s.Kind > FromCookie || s.Name == "" {
			return fail("token_from: invalid source %v", s)
		}
	}
	for _, a := range j.audiences {
		if a == "" {
			return fail("audiences: empty value")
		}
	}
	j.cache = newTokenCache(cmpOr(cfg.CacheEntries, DefaultCacheEntries), cmpOr(cfg.CacheBytes, DefaultCacheBytes))
	if cfg.JWKSURL != "" || cfg.JWKSFile != "" {
		src, err := newJWKSSource(&cfg, &j.keys)
		if err != nil {
			return fail("%v", err)
		}
		j.src = src
		if cfg.JWKSFile != "" {
			if err := src.fetch(context.Background()); err != nil {
				return fail("%v", err)
			}
		}
	}
	return j, nil
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Name is the auth method's name.
func (j *JWT) Name() string { return j.name }

// TokenFrom is the configured list of token sources, in lookup order.
func (j *JWT) TokenFrom() []TokenSource { return j.from }

// Start begins the background JWKS refresh (first fetch at once when no
// key set is present yet) until ctx ends or Close is called. Calling it
// again, or on a verifier without a JWKS, does nothing.
func (j *JWT) Start(ctx context.Context) {
	if j.src == nil || !j.started.CompareAndSwap(false, true) {
		return
	}
	ctx, j.cancel = context.WithCancel(ctx)
	j.done = make(chan struct{})
	go func() {
		defer close(j.done)
		j.src.run(ctx)
	}()
}

// Close stops the background refresh and waits for it to end. The
// verifier keeps working with the last key set.
func (j *JWT) Close() {
	if j.cancel != nil {
		j.cancel()
		<-j.done
	}
}

// WaitReady blocks until a key set is present (immediately for HMAC-only
// verifiers) or ctx ends. For startup and tests, not for the event loop.
func (j *JWT) WaitReady(ctx context.Context) error {
	for {
		if j.src == nil {
			return nil
		}
		// Take the round channel before checking, so a round completing
		// in between is not missed.
		ch := j.src.roundChan()
		if j.Ready() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot get JWKS for %q: %w (last error: %v)", j.name, ctx.Err(), j.src.lastError())
		case <-ch:
		}
	}
}

// Ready reports whether every allowed algorithm can be verified now
// (a key set is present when one is needed).
func (j *JWT) Ready() bool { return !j.needsJWKS || j.keys.Load() != nil }

// Find looks for a token in the configured sources, in order, and returns
// the first non-empty one with its source. It does not allocate.
func (j *JWT) Find(r *Request) ([]byte, TokenSource, bool) {
	for _, s := range j.from {
		if tok := s.Extract(r); len(tok) > 0 {
			return tok, s, true
		}
	}
	return nil, TokenSource{}, false
}

// Authenticate finds a token in r and verifies it. A token found in a
// query parameter is percent-decoded first (allocating only when it holds
// escapes). The returned Identity is shared and read-only.
func (j *JWT) Authenticate(r *Request) (*Identity, Reason, TokenSource) {
	tok, src, ok := j.Find(r)
	if !ok {
		return nil, ReasonMissing, TokenSource{}
	}
	if src.Kind == FromQuery {
		if tok, ok = DecodeQueryValue(nil, tok); !ok {
			return nil, ReasonMalformed, src
		}
	}
	id, reason := j.Verify(tok)
	return id, reason, src
}

// Verify checks a compact JWS and returns the identity it carries. A
// token verified before and still valid is answered from the cache with
// no signature check and no allocation. The returned Identity is shared
// and read-only. tok is not retained (the cache keeps a copy).
//
// Verify never blocks on the network: an unknown kid (or, before the
// first key set, any token needing one) asks the background refresher for
// a refetch (single-flight, at most once per MinRefetchInterval) and is
// rejected now; the next request sees the new keys.
func (j *JWT) Verify(tok []byte) (*Identity, Reason) {
	id, r, _ := j.verify(tok)
	return id, r
}

// VerifyWait is Verify for callers off the event loop (the demo, admin
// tools, tests): when the token was refused because its key is unknown
// and that triggered a refetch, it waits (bounded by ctx) for that
// refetch and verifies once more. Refetches only happen after Start.
func (j *JWT) VerifyWait(ctx context.Context, tok []byte) (*Identity, Reason) {
	id, r, seq := j.verify(tok)
	if seq == 0 || (r != ReasonUnknownKey && r != ReasonJWKSUnavailable) {
		return id, r
	}
	if err := j.src.waitRound(ctx, seq); err != nil {
		return id, r
	}
	id, r, _ = j.verify(tok)
	return id, r
}

// verify returns, besides the outcome, the sequence number of the refetch
// it triggered (0 = none).
func (j *JWT) verify(tok []byte) (*Identity, Reason, uint64) {
	if len(tok) == 0 {
		return nil, ReasonMissing, 0
	}
	if len(tok) > MaxTokenBytes {
		return nil, ReasonMalformed, 0
	}
	now := j.now().Unix()
	h := xxhash.Sum64(tok)
	if e := j.cache.get(h, tok); e != nil {
		if now < e.deadline && j.keyStillThere(e) {
			return &e.id, ReasonOK, 0
		}
		j.cache.remove(h, e)
		// Fall through: fresh verification gives the exact reason.
	}
	return j.verifySlow(tok, h, now)
}

// keyStillThere reports whether the key that verified e is still in the
// current set. A rotation that dropped it invalidates the entry. While
// the set is unchanged this is one integer compare.
func (j *JWT) keyStillThere(e *cacheEntry) bool {
	if e.fp == 0 {
		return true
	}
	ks := j.keys.Load()
	if ks == nil {
		return false
	}
	if ks.gen == e.gen {
		return true
	}
	_, ok := ks.fps[e.fp]
	return ok
}

var (
	hdrAlg  = []byte("alg")
	hdrKid  = []byte("kid")
	hdrCrit = []byte("crit")
)

func (j *JWT) verifySlow(tok []byte, h uint64, now int64) (*Identity, Reason, uint64) {
	d1 := bytes.IndexByte(tok, '.')
	if d1 <= 0 {
		return nil, ReasonMalformed, 0
	}
	// An empty signature part passes here so that "alg":"none" tokens
	// (which end in '.') are reported as alg_not_allowed.
	d2 := bytes.IndexByte(tok[d1+1:], '.')
	if d2 <= 0 {
		return nil, ReasonMalformed, 0
	}
	d2 += d1 + 1
	hdrB64, payB64, sigB64 := tok[:d1], tok[d1+1:d2], tok[d2+1:]
	if bytes.IndexByte(sigB64, '.') >= 0 {
		return nil, ReasonMalformed, 0 // JWE (5 parts) and anything else with extra dots
	}
	if !b64Valid(hdrB64) || !b64Valid(payB64) || !b64Valid(sigB64) {
		return nil, ReasonMalformed, 0
	}
	buf := make([]byte, 0, len(tok))
	hdr, ok := b64Decode(buf, hdrB64)
	if !ok {
		return nil, ReasonMalformed, 0
	}
	buf = hdr[len(hdr):]

	// Header: alg (required), kid (optional), crit (never: this verifier
	// implements no extension, so every critical header is unknown, RFC
	// 7515 §4.1.11). Other members (typ, cty, jku, x5u, jwk, x5c...) are
	// ignored: keys come only from the configured JWKS or secret.
	var algB, kidB []byte
	var seen uint8
	bad := false
	if !eachMember(hdr, func(k, v []byte) bool {
		switch {
		case bytes.Equal(k, hdrAlg):
			if seen&1 != 0 {
				return false
			}
			seen |= 1
			algB, bad = jsonString(v)
			bad = !bad
		case bytes.Equal(k, hdrKid):
			if seen&2 != 0 {
				return false
			}
			seen |= 2
			kidB, bad = jsonString(v)
			bad = !bad || !ValidKID(kidB)
		case bytes.Equal(k, hdrCrit):
			bad = true
		}
		return !bad
	}) || algB == nil {
		return nil, ReasonMalformed, 0
	}
	if isNone(algB) {
		return nil, ReasonAlgNotAllowed, 0
	}
	var a *algorithm
	for _, c := range j.allowed {
		if string(algB) == c.name {
			a = c
			break
		}
	}
	if a == nil {
		return nil, ReasonAlgNotAllowed, 0
	}

	var key *jwk
	var gen uint64
	if a.kind != kindHMAC {
		ks := j.keys.Load()
		if ks == nil {
			return nil, ReasonJWKSUnavailable, j.triggerRefetch()
		}
		var refetch bool
		key, refetch = ks.pick(a, kidB)
		if key == nil {
			j.unknownKid.Add(1)
			var seq uint64
			if refetch {
				seq = j.triggerRefetch()
			}
			return nil, ReasonUnknownKey, seq
		}
		gen = ks.gen
	} else if j.hmac == nil {
		return nil, ReasonAlgNotAllowed, 0
	}

	sig, ok := b64Decode(buf, sigB64)
	if !ok {
		return nil, ReasonMalformed, 0
	}
	buf = sig[len(sig):]
	in := tok[:d2]
	j.sigChecks.Add(1)
	if key != nil {
		ok = verifyAsym(a, key, in, sig)
	} else {
		ok = j.hmac.verify(a, in, sig)
	}
	if !ok {
		return nil, ReasonBadSignature, 0
	}

	pay, ok := b64Decode(buf, payB64)
	if !ok {
		return nil, ReasonMalformed, 0
	}
	e := &cacheEntry{gen: gen}
	if key != nil {
		e.fp = key.fp
	}
	if r := j.claims(pay, now, e); r != ReasonOK {
		return nil, r, 0
	}
	e.token = string(tok)
	e.id.Auth = j.name
	j.cache.put(h, e, now)
	return &e.id, ReasonOK, 0
}

func (j *JWT) triggerRefetch() uint64 {
	if j.src == nil {
		return 0
	}
	return j.src.trigger()
}

// Claim bits for duplicate detection.
const (
	cExp = 1 << iota
	cNbf
	cIss
	cAud
	cConsumer
	cTenant
	cScope
)

// claims checks the claim set and fills e.id and e.deadline.
func (j *JWT) claims(pay []byte, now int64, e *cacheEntry) Reason {
	var (
		seen      uint8
		exp, nbf  int64
		issOK     bool
		audOK     bool
		consumer  []byte
		tenant    []byte
		scopeVal  []byte
		reason    = ReasonOK
		setReason = func(r Reason) bool {
			if reason == ReasonOK {
				reason = r
			}
			return false
		}
		once = func(bit uint8) bool {
			if seen&bit != 0 {
				return false
			}
			seen |= bit
			return true
		}
	)
	ok := eachMember(pay, func(k, v []byte) bool {
		// One member may play several roles (e.g. consumer_claim: iss).
		switch string(k) {
		case "exp":
			if !once(cExp) {
				return false
			}
			n, ok := jsonNumericDate(v)
			if !ok {
				return setReason(ReasonInvalidClaim)
			}
			exp = n
		case "nbf":
			if !once(cNbf) {
				return false
			}
			n, ok := jsonNumericDate(v)
			if !ok {
				return setReason(ReasonInvalidClaim)
			}
			nbf = n
		case "iss":
			if !once(cIss) {
				return false
			}
			if s, ok := jsonString(v); ok {
				issOK = string(s) == j.issuer
			}
		case "aud":
			if !once(cAud) {
				return false
			}
			if s, ok := jsonString(v); ok {
				audOK = j.audienceOK(s)
			} else if !eachArrayString(v, func(s []byte) bool {
				audOK = audOK || j.audienceOK(s)
				return true
			}) {
				return setReason(ReasonInvalidClaim)
			}
		}
		if string(k) == j.consumer {
			if !once(cConsumer) {
				return false
			}
			s, ok := jsonString(v)
			if !ok || !headerSafe(s) {
				return setReason(ReasonInvalidClaim)
			}
			consumer = s
		}
		if j.tenant != "" && string(k) == j.tenant {
			if !once(cTenant) {
				return false
			}
			s, ok := jsonString(v)
			if !ok || !headerSafe(s) {
				return setReason(ReasonInvalidClaim)
			}
			tenant = s
		}
		if string(k) == j.scope {
			if !once(cScope) {
				return false
			}
			scopeVal = v
		}
		return true
	})
	if reason != ReasonOK {
		return reason
	}
	if !ok {
		return ReasonMalformed
	}
	// exp is required: an entry must never outlive it, and a token without
	// one would be valid forever.
	if seen&cExp == 0 {
		return ReasonInvalidClaim
	}
	if now >= exp+j.leeway {
		return ReasonExpired
	}
	if seen&cNbf != 0 && now < nbf-j.leeway {
		return ReasonNotYetValid
	}
	if j.issuer != "" && !issOK {
		return ReasonWrongIssuer
	}
	if len(j.audiences) > 0 && !audOK {
		return ReasonWrongAudience
	}
	if len(consumer) == 0 {
		return ReasonInvalidClaim
	}
	e.deadline = exp + j.leeway
	e.id.Expiry = exp
	e.id.Consumer = string(consumer)
	e.id.Tenant = string(tenant)
	if scopeVal != nil {
		if !buildScopes(&e.id, scopeVal) {
			return ReasonInvalidClaim
		}
	}
	return ReasonOK
}

func (j *JWT) audienceOK(s []byte) bool {
	for _, a := range j.audiences {
		if string(s) == a {
			return true
		}
	}
	return false
}

// headerSafe reports whether s may become a header value: no control
// bytes (a claim "a\r\nX-Evil: 1" must never reach the upstream).
func headerSafe(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// buildScopes fills Scopes and ScopesHeader from a space-separated string
// or an array of strings (each free of spaces, so the joined header stays
// unambiguous). Scopes are substrings of ScopesHeader: one allocation.
func buildScopes(id *Identity, v []byte) bool {
	var joined []byte
	n := 0
	add := func(s []byte) bool {
		if !headerSafe(s) {
			return false
		}
		for len(s) > 0 {
			i := bytes.IndexByte(s, ' ')
			item := s
			if i >= 0 {
				item, s = s[:i], s[i+1:]
			} else {
				s = nil
			}
			if len(item) == 0 {
				continue
			}
			if n > 0 {
				joined = append(joined, ' ')
			}
			joined = append(joined, item...)
			n++
		}
		return true
	}
	if s, ok := jsonString(v); ok {
		if !add(s) {
			return false
		}
	} else if !eachArrayString(v, func(s []byte) bool {
		return bytes.IndexByte(s, ' ') < 0 && add(s)
	}) {
		return false
	}
	if n == 0 {
		return true
	}
	id.ScopesHeader = string(joined)
	id.Scopes = make([]string, 0, n)
	rest := id.ScopesHeader
	for rest != "" {
		item, tail, _ := strings.Cut(rest, " ")
		id.Scopes = append(id.Scopes, item)
		rest = tail
	}
	return true
}

// JWKSStats describes the key source, for /metrics or logs.
type JWKSStats struct {
	Fetches     uint64 // completed fetch attempts (success or failure)
	Failures    uint64 // failed attempts
	Generation  uint64 // current key-set generation (0 = none yet)
	Keys        int    // usable keys in the current set
	UnknownKid  uint64 // tokens refused with ReasonUnknownKey
	SigChecks   uint64 // signature verifications done (cache misses that got that far)
	CacheSize   int    // entries in the verified-token cache
	LastError   string // last fetch error, "" after a success
	LastSuccess time.Time
}

// Stats returns a snapshot of the JWKS source and cache.
func (j *JWT) Stats() JWKSStats {
	st := JWKSStats{UnknownKid: j.unknownKid.Load(), SigChecks: j.sigChecks.Load(), CacheSize: j.cache.len()}
	if ks := j.keys.Load(); ks != nil {
		st.Generation, st.Keys = ks.gen, len(ks.keys)
	}
	if j.src != nil {
		st.Fetches = j.src.fetches.Load()
		st.Failures = j.src.failures.Load()
		if err := j.src.lastError(); err != nil {
			st.LastError = err.Error()
		}
		if t := j.src.lastOK.Load(); t != 0 {
			st.LastSuccess = time.Unix(0, t)
		}
	}
	return st
}

func validJWKSURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("jwks_url: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("jwks_url: %q is not an http(s) URL", s)
	}
	return nil
}
