package policy

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

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
	roles      claimRoles
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
	hdrs       [hdrMemoSlots]atomic.Pointer[hdrMemo]
	hdrNext    atomic.Uint32
	scopeSets  [scopeMemoSlots]atomic.Pointer[scopeSet] // see sharedScopes
	scopeNext  atomic.Uint32
}

// hdrMemoSlots is how many distinct header segments are remembered. An
// issuer's tokens share one header per signing key ({"alg","typ","kid"}),
// so a few slots serve nearly every cache miss.
const hdrMemoSlots = 4

// hdrMemo is a header segment that was part of a verified token, with
// what parseHeader and the allow-list made of it. Both are pure functions
// of the segment's bytes and of the verifier's fixed configuration, so a
// byte-equal segment needs neither decoding nor parsing again. Only
// verified tokens add segments: junk cannot churn the slots.
type hdrMemo struct {
	raw string     // base64url header segment
	alg *algorithm // allowed algorithm it names
	kid []byte     // its kid, nil when absent; read-only
}

// ConfigError is a problem with one setting of an auth method; Field names
// it as the route file does (algorithms, hmac_secret_file, ...), or is ""
// when the problem belongs to the method as a whole.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// NewJWT checks cfg and builds the verifier. A JWKSFile is read and parsed
// here (an error is returned if it is unusable); a JWKSURL is first
// fetched by Start. Until a key set is present, tokens needing one fail
// with ReasonJWKSUnavailable.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	j := &JWT{
		name:      cfg.Name,
		issuer:    cfg.Issuer,
		audiences: append([]string(nil), cfg.Audiences...),
		leeway:    int64((cfg.Leeway + time.Second - 1) / time.Second), // JWT times are whole seconds: a partial one rounds up
		from:      append([]TokenSource(nil), cfg.TokenFrom...),
		consumer:  cmpOr(cfg.ConsumerClaim, DefaultConsumerClaim),
		tenant:    cfg.TenantClaim,
		scope:     cmpOr(cfg.ScopeClaim, DefaultScopeClaim),
		now:       cfg.Now,
	}
	if j.name == "" {
		return nil, fmt.Errorf("cannot configure jwt auth: empty name")
	}
	fail := func(field, format string, a ...any) (*JWT, error) {
		return nil, &ConfigError{Field: field, Err: fmt.Errorf("cannot configure jwt auth %q: %s", cfg.Name, fmt.Sprintf(format, a...))}
	}
	if j.now == nil {
		j.now = time.Now
	}
	if cfg.Leeway < 0 {
		return fail("leeway", "negative leeway")
	}
	if len(cfg.Algorithms) == 0 {
		return fail("algorithms", "algorithms: at least one is required")
	}
	hsMax := 0
	for _, name := range cfg.Algorithms {
		if strings.EqualFold(name, "none") {
			return fail("algorithms", "algorithms: %q can never be allowed", name)
		}
		a := lookupAlg(name)
		if a == nil {
			return fail("algorithms", "algorithms: %q is not supported (supported: %s)", name, strings.Join(SupportedAlgorithms(), ", "))
		}
		dup := false
		for _, b := range j.allowed {
			dup = dup || a == b
		}
		if dup {
			continue
		}
		j.allowed = append(j.allowed, a)
		if a.kind == kindEd25519 {
			// EdDSA names the family, Ed25519 (RFC 9864) the one curve
			// verified here: allowing either allows tokens using either.
			for _, alias := range []string{"EdDSA", "Ed25519"} {
				if b := lookupAlg(alias); b != a && !slices.Contains(j.allowed, b) {
					j.allowed = append(j.allowed, b)
				}
			}
		}
		if a.kind == kindHMAC {
			hsMax = max(hsMax, a.sigLen)
		} else {
			j.needsJWKS = true
		}
	}
	if hsMax > 0 {
		// RFC 7518 §3.2: the key must be at least as long as the hash output.
		if len(cfg.HMACSecret) < hsMax {
			return fail("hmac_secret_file", "HS* algorithms need hmac_secret_file with at least %d bytes (have %d)", hsMax, len(cfg.HMACSecret))
		}
		j.hmac = newHMACVerifier(cfg.HMACSecret)
	}
	if cfg.JWKSURL != "" && cfg.JWKSFile != "" {
		return fail("jwks_file", "jwks_url and jwks_file are exclusive")
	}
	if j.needsJWKS && cfg.JWKSURL == "" && cfg.JWKSFile == "" {
		return fail("jwks_url", "asymmetric algorithms need jwks_url or jwks_file")
	}
	if len(j.from) == 0 {
		j.from = []TokenSource{{Kind: FromHeader, Name: "Authorization"}}
	}
	for _, s := range j.from {
		if s.Kind < FromHeader || s.Kind > FromCookie || s.Name == "" {
			return fail("token_from", "token_from: invalid source %v", s)
		}
	}
	for _, a := range j.audiences {
		if a == "" {
			return fail("audiences", "audiences: empty value")
		}
	}
	j.roles.add("exp", cExp)
	j.roles.add("nbf", cNbf)
	j.roles.add("iss", cIss)
	j.roles.add("aud", cAud)
	j.roles.add(j.consumer, cConsumer)
	if j.tenant != "" {
		j.roles.add(j.tenant, cTenant)
	}
	j.roles.add(j.scope, cScope)
	j.cache = newTokenCache(cmpOr(cfg.CacheEntries, DefaultCacheEntries), cmpOr(cfg.CacheBytes, DefaultCacheBytes), j.leeway)
	if cfg.JWKSURL != "" || cfg.JWKSFile != "" {
		src, err := newJWKSSource(&cfg, &j.keys)
		if err != nil {
			return fail("", "%v", err)
		}
		j.src = src
		if cfg.JWKSFile != "" {
			if err := src.fetch(context.Background()); err != nil {
				return fail("jwks_file", "%v", err)
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
// verifier keeps working with the last key set. Its keep-alive connection
// to the JWKS server is closed rather than left to time out: a reload
// that replaces verifiers must not leave one per reload behind.
func (j *JWT) Close() {
	if j.cancel != nil {
		j.cancel()
		<-j.done
	}
	if j.src != nil && j.src.ownClient {
		j.src.client.CloseIdleConnections()
	}
}

// AdoptKeys gives j the key set of old, the verifier j replaces, when both
// fetch the same JWKS URL and j has none yet. A reload that changes
// another setting of the method (leeway, audiences, claims) then goes on
// verifying with the last good keys, as a failed refresh would, instead
// of refusing every token with 503 until its first fetch succeeds; that
// fetch still runs at Start. Call it before Start; it reports whether
// keys were adopted.
func (j *JWT) AdoptKeys(old *JWT) bool {
	if old == nil || j.src == nil || old.src == nil || j.src.url == "" || j.src.url != old.src.url || j.started.Load() {
		return false
	}
	ks := old.keys.Load()
	if ks == nil || !j.keys.CompareAndSwap(nil, ks) {
		return false
	}
	j.src.adopted = true
	return true
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
	id, reason, src, _ := j.authenticate(r)
	return id, reason, src
}

// authenticate is Authenticate that also returns the refetch a refusal
// could be waiting for (see verify).
func (j *JWT) authenticate(r *Request) (*Identity, Reason, TokenSource, uint64) {
	tok, src, ok := j.Find(r)
	if !ok {
		return nil, ReasonMissing, TokenSource{}, 0
	}
	if src.Kind == FromQuery {
		if tok, ok = DecodeQueryValue(nil, tok); !ok {
			return nil, ReasonMalformed, src, 0
		}
	}
	id, reason, seq := j.verify(tok)
	return id, reason, src, seq
}

// Verify checks a compact JWS and returns the identity it carries. A
// token verified before and still valid is answered from the cache with
// no signature check and no allocation. The returned Identity is shared
// and read-only. tok is not retained (the cache keeps a copy).
//
// Verify never blocks on the network: an unknown kid (or, before the
// first key set, any token needing one) asks the background refresher for
// a refetch (single-flight, at most once per MinRefetchInterval) and is
// rejected now; the next request sees the new keys. With
// ReasonMissingTenant the (valid) identity comes back with the refusal.
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
	id, r, seq := j.verifyToken(tok)
	if r == ReasonOK && j.tenant != "" && id.Tenant == "" {
		// SPEC §4: a valid identity without the tenant this method is
		// configured to read is forbidden, not admitted tenant-less. The
		// identity comes back with the refusal, for the access log.
		return id, ReasonMissingTenant, 0
	}
	return id, r, seq
}

func (j *JWT) verifyToken(tok []byte) (*Identity, Reason, uint64) {
	if len(tok) == 0 {
		return nil, ReasonMissing, 0
	}
	if len(tok) > MaxTokenBytes {
		return nil, ReasonMalformed, 0
	}
	now := j.now().Unix()
	h := xxhash.Sum64(tok)
	if e := j.cache.get(h, tok); e != nil {
		if now < e.id.Expiry+j.leeway && j.keyStillThere(e) {
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
	// e.gen holds the low 32 bits: past 2^32 generations (never, at one
	// per refresh) no set compares equal and the fingerprint decides.
	if ks.gen == uint64(e.gen) {
		return true
	}
	_, ok := ks.fps[e.fp]
	return ok
}

// missScratch sizes the stack buffer a cache miss decodes header,
// payload and signature into: tokens up to about 1.3 KiB (nearly all
// real ones) need no heap buffer.
const missScratch = 1024

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
	// All three parts are decoded (and so validated) before anything is
	// acted on: a token with a broken part is malformed, whatever else. A
	// remembered header segment is known to decode and parse.
	a, kidB, memo := j.headerMemo(hdrB64)
	var scratch [missScratch]byte
	buf := scratch[:0]
	if n := b64DecodedLen(len(hdrB64)) + b64DecodedLen(len(payB64)) + b64DecodedLen(len(sigB64)); n > len(scratch) {
		buf = make([]byte, 0, n)
	}
	var hdr []byte
	var ok bool
	if !memo {
		if hdr, ok = b64Decode(buf, hdrB64); !ok {
			return nil, ReasonMalformed, 0
		}
		buf = hdr[len(hdr):]
	}
	pay, ok := b64Decode(buf, payB64)
	if !ok {
		return nil, ReasonMalformed, 0
	}
	sig, ok := b64Decode(pay[len(pay):], sigB64)
	if !ok {
		return nil, ReasonMalformed, 0
	}

	if !memo {
		algB, kid, ok := parseHeader(hdr)
		if !ok {
			return nil, ReasonMalformed, 0
		}
		if isNone(algB) {
			return nil, ReasonAlgNotAllowed, 0
		}
		for _, c := range j.allowed {
			if string(algB) == c.name {
				a = c
				break
			}
		}
		if a == nil {
			return nil, ReasonAlgNotAllowed, 0
		}
		kidB = kid
	}

	var key *jwk
	var gen uint64
	if a.kind != kindHMAC {
		ks := j.keys.Load()
		if ks == nil {
			return nil, ReasonJWKSUnavailable, j.firstSetRound()
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

	c, r := j.claims(pay, now)
	if r != ReasonOK {
		return nil, r, 0
	}
	e := j.newEntry(tok, &c)
	if e == nil {
		return nil, ReasonInvalidClaim, 0
	}
	e.gen = uint32(gen)
	if key != nil {
		e.fp = key.fp
	}
	j.cache.put(h, e, now)
	if !memo {
		j.rememberHeader(hdrB64, a, kidB)
	}
	return &e.id, ReasonOK, 0
}

// headerMemo returns the remembered outcome for a header segment, with
// memo true, or a nil algorithm.
func (j *JWT) headerMemo(seg []byte) (a *algorithm, kid []byte, memo bool) {
	for i := range j.hdrs {
		if m := j.hdrs[i].Load(); m != nil && m.raw == string(seg) {
			return m.alg, m.kid, true
		}
	}
	return nil, nil, false
}

// rememberHeader stores the segment of a verified token, replacing the
// slots in turn.
func (j *JWT) rememberHeader(seg []byte, a *algorithm, kid []byte) {
	m := &hdrMemo{raw: string(seg), alg: a}
	if kid != nil {
		m.kid = append(make([]byte, 0, len(kid)), kid...)
	}
	j.hdrs[(j.hdrNext.Add(1)-1)%hdrMemoSlots].Store(m)
}

// parseHeader reads a JOSE header: alg (required), kid (optional), crit
// (never: this verifier implements no extension, so every critical header
// is unknown, RFC 7515 §4.1.11). Other members (typ, cty, jku, x5u, jwk,
// x5c...) are ignored: keys come only from the configured JWKS or secret.
// A repeated alg or kid, a kid that is not a plain identifier, or invalid
// JSON make the header malformed.
func parseHeader(hdr []byte) (alg, kid []byte, ok bool) {
	var haveAlg, haveKid bool
	it := newObjIter(hdr)
	for k, v, more := it.next(); more; k, v, more = it.next() {
		switch string(k) {
		case "alg":
			if haveAlg {
				return nil, nil, false
			}
			haveAlg = true
			if alg, ok = jsonString(v); !ok {
				return nil, nil, false
			}
		case "kid":
			if haveKid {
				return nil, nil, false
			}
			haveKid = true
			if kid, ok = jsonString(v); !ok || !ValidKID(kid) {
				return nil, nil, false
			}
		case "crit":
			return nil, nil, false
		default:
			// "ALG" or "Kid" is alg or kid to encoding/json (and so to
			// golang-jwt and jose libraries in Go): another reader of the
			// token could act on a value this one never saw.
			if n := bytesString(k); strings.EqualFold(n, "alg") || strings.EqualFold(n, "kid") || strings.EqualFold(n, "crit") {
				return nil, nil, false
			}
		}
	}
	return alg, kid, it.ok() && haveAlg
}

// triggerRefetch asks for a refetch and returns the sequence number of
// the round that will serve this token: the one it triggered, or the one
// already pending when the trigger was dropped within MinRefetchInterval
// (0 when there is neither).
func (j *JWT) triggerRefetch() uint64 {
	if j.src == nil {
		return 0
	}
	if seq := j.src.trigger(); seq != 0 {
		return seq
	}
	return j.src.pending()
}

// firstSetRound returns the round a token waits for while no key set has
// loaded: the one under way (the first fetch, a retry after a failure),
// whose set it may be, else one it triggers. Waiting for a new round when
// one was under way held requests for a second fetch.
func (j *JWT) firstSetRound() uint64 {
	if j.src != nil {
		if seq := j.src.inFlight(); seq != 0 {
			return seq
		}
	}
	return j.triggerRefetch()
}

// AwaitRefetch arranges for fn to run once the key-set refetch seq (from
// Result.WaitSeq) has completed, successfully or not: on the refresher's
// goroutine, or at once when it already has. fn must be safe to call from
// any goroutine (an event loop hands it to its task queue). It reports
// false, and never calls fn, when seq is 0 or too many requests are
// waiting already; the caller then answers the refusal it has.
func (j *JWT) AwaitRefetch(seq uint64, fn func()) bool {
	if seq == 0 || j.src == nil {
		return false
	}
	return j.src.await(seq, fn)
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

// claimRoles maps the claim names the verifier acts on to their role
// bits (cExp...). Names of up to 8 bytes, nearly all, are matched as one
// integer and a length instead of a string compare per name, and placed
// in slot by a multiplicative hash chosen so that no two share a slot: a
// lookup is then one multiply, one load and one compare, whichever and
// however many claims a token carries.
type claimRoles struct {
	names   []string // every name, for folded
	short   []packedRole
	long    []namedRole
	slot    [16]packedRole // short names at roleSlot(w, n, mul); n == slotFree elsewhere
	mul     uint64
	perfect bool // slot holds every short name; else short is scanned
}

type packedRole struct {
	w     uint64 // the name's bytes, little-endian, zero-padded
	n     uint8  // the name's length
	roles uint8
}

type namedRole struct {
	name  string
	roles uint8
}

// slotFree marks an empty slot: no key is 255 bytes long and short.
const slotFree = 0xff

func roleSlot(w uint64, n int, mul uint64) uint64 { return ((w ^ uint64(n)) * mul) >> 60 }

func (r *claimRoles) add(name string, role uint8) {
	if !slices.Contains(r.names, name) {
		r.names = append(r.names, name)
	}
	if len(name) <= 8 {
		defer r.place()
		w := pack8([]byte(name))
		for i := range r.short {
			if r.short[i].w == w && int(r.short[i].n) == len(name) {
				r.short[i].roles |= role
				return
			}
		}
		r.short = append(r.short, packedRole{w, uint8(len(name)), role})
		return
	}
	for i := range r.long {
		if r.long[i].name == name {
			r.long[i].roles |= role
			return
		}
	}
	r.long = append(r.long, namedRole{name, role})
}

// place looks for a multiplier that gives every short name its own slot.
// With at most 7 names in 16 slots about one candidate in six works; if
// none of the bounded tries does (or two names hash alike whatever the
// multiplier), lookups scan short instead.
func (r *claimRoles) place() {
	r.perfect = false
	mul := uint64(0x9e3779b97f4a7c15)
	for try := 0; try < 1000; try++ {
		var tab [16]packedRole
		for i := range tab {
			tab[i].n = slotFree
		}
		ok := true
		for _, p := range r.short {
			s := &tab[roleSlot(p.w, int(p.n), mul)]
			if s.n != slotFree {
				ok = false
				break
			}
			*s = p
		}
		if ok {
			r.slot, r.mul, r.perfect = tab, mul, true
			return
		}
		mul = (mul*6364136223846793005 + 1442695040888963407) | 1
	}
}

// of returns the roles of claim name k (0 for a claim not acted on).
func (r *claimRoles) of(k []byte) uint8 {
	if r.probes(k) {
		return r.probe(k)
	}
	return r.scan(k)
}

// folded reports whether k, a name without a role, equals one with a role
// under Unicode simple case folding, as encoding/json matches object keys
// to struct fields.
func (r *claimRoles) folded(k []byte) bool {
	for _, n := range r.names {
		if strings.EqualFold(bytesString(k), n) {
			return true
		}
	}
	return false
}

// probes says whether k is looked up in the slot table: every short name
// has a slot, and k's backing array allows one 8-byte load.
func (r *claimRoles) probes(k []byte) bool { return r.perfect && len(k) <= 8 && cap(k) >= 8 }

// probe is the slot-table lookup (small enough to inline where claims
// are scanned, the hot loop of a cache miss).
func (r *claimRoles) probe(k []byte) uint8 {
	w := binary.LittleEndian.Uint64(k[:8]) & (^uint64(0) >> (64 - 8*len(k)))
	if s := &r.slot[roleSlot(w, len(k), r.mul)]; s.w == w && int(s.n) == len(k) {
		return s.roles
	}
	return 0
}

func (r *claimRoles) scan(k []byte) uint8 {
	if len(k) <= 8 {
		w := pack8(k)
		for i := range r.short {
			if r.short[i].w == w && int(r.short[i].n) == len(k) {
				return r.short[i].roles
			}
		}
		return 0
	}
	for i := range r.long {
		if string(k) == r.long[i].name {
			return r.long[i].roles
		}
	}
	return 0
}

// pack8 returns the bytes of k (at most 8) as a little-endian integer,
// zero-padded. When k's capacity allows, one 8-byte load does it (the
// bytes past len(k) are masked off).
func pack8(k []byte) uint64 {
	if cap(k) >= 8 {
		return binary.LittleEndian.Uint64(k[:8]) & (^uint64(0) >> (64 - 8*len(k)))
	}
	var w uint64
	for i := len(k) - 1; i >= 0; i-- {
		w = w<<8 | uint64(k[i])
	}
	return w
}

// claimSet is what a verified claim set contributes to the cache entry.
// The slices point into the decoded payload (or an unescaped copy).
type claimSet struct {
	exp      int64
	consumer []byte
	tenant   []byte
	scope    []byte // raw JSON value of scope_claim; nil when absent
}

// claims checks the claim set pay and returns what the entry needs. The first member that
// breaks a rule decides the reason; a repeated member the verifier acts
// on, or invalid JSON, is malformed.
func (j *JWT) claims(pay []byte, now int64) (c claimSet, r Reason) {
	// c is returned, not filled through a pointer, so that escape analysis
	// keeps pay (and the stack buffer it is in) off the heap.
	var (
		seen     uint8
		nbf      int64
		issOK    bool
		audOK    bool
		consumer []byte
	)
	it := newObjIter(pay)
	for k, v, more := it.next(); more; k, v, more = it.next() {
		// One member may play several roles (e.g. consumer_claim: iss);
		// each role has one name, so a repeated role is a repeated member.
		// j.roles.of(k), spelled out so that its usual case inlines.
		var roles uint8
		if j.roles.probes(k) {
			roles = j.roles.probe(k)
		} else {
			roles = j.roles.scan(k)
		}
		if roles == 0 {
			// A member that is an acted-on claim to encoding/json (which
			// matches names case-insensitively, 'ſ' for s and 'K' for k
			// included), such as "SUB" beside "sub", is a duplicate:
			// golang-jwt in the application would read its value.
			if j.roles.folded(k) {
				return claimSet{}, ReasonMalformed
			}
			continue
		}
		if seen&roles != 0 {
			return claimSet{}, ReasonMalformed
		}
		seen |= roles
		if roles&^(cScope|cTenant) == 0 && string(v) == "null" {
			// null is no value to JSON's readers (encoding/json leaves the
			// field unset, golang-jwt reads no scopes): the claim is absent.
			continue
		}
		if roles&cExp != 0 {
			n, ok := jsonNumericDate(v)
			if !ok {
				return claimSet{}, ReasonInvalidClaim
			}
			c.exp = n
		}
		if roles&cNbf != 0 {
			n, ok := jsonNumericDate(v)
			if !ok {
				return claimSet{}, ReasonInvalidClaim
			}
			nbf = n
		}
		// The string value, read once for every role that wants one (a
		// string the reader's fast path passed has no escape to undo).
		var s []byte
		var sOK bool
		if roles&(cIss|cAud|cConsumer|cTenant) != 0 {
			if it.plain {
				s, sOK = v[1:len(v)-1], true
			} else {
				s, sOK = jsonString(v)
			}
		}
		if roles&cIss != 0 && sOK {
			issOK = string(s) == j.issuer
		}
		if roles&cAud != 0 {
			if sOK {
				audOK = j.audienceOK(s)
			} else {
				ai := newStrArrIter(v)
				for s, more := ai.next(); more; s, more = ai.next() {
					audOK = audOK || j.audienceOK(s)
				}
				if !ai.ok() {
					return claimSet{}, ReasonInvalidClaim
				}
			}
		}
		if roles&cConsumer != 0 {
			if !sOK || !headerSafe(s) {
				return claimSet{}, ReasonInvalidClaim
			}
			consumer = s
		}
		if roles&cTenant != 0 {
			if !sOK || !headerSafe(s) {
				return claimSet{}, ReasonInvalidClaim
			}
			c.tenant = s
		}
		if roles&cScope != 0 {
			c.scope = v
		}
	}
	if !it.ok() {
		return claimSet{}, ReasonMalformed
	}
	// exp is required: an entry must never outlive it, and a token without
	// one would be valid forever.
	if seen&cExp == 0 {
		return claimSet{}, ReasonInvalidClaim
	}
	if now >= c.exp+j.leeway {
		return claimSet{}, ReasonExpired
	}
	if seen&cNbf != 0 && now < nbf-j.leeway {
		return claimSet{}, ReasonNotYetValid
	}
	if j.issuer != "" && !issOK {
		return claimSet{}, ReasonWrongIssuer
	}
	if len(j.audiences) > 0 && !audOK {
		return claimSet{}, ReasonWrongAudience
	}
	if len(consumer) == 0 {
		return claimSet{}, ReasonInvalidClaim
	}
	c.consumer = consumer
	return c, ReasonOK
}

func (j *JWT) audienceOK(s []byte) bool {
	for _, a := range j.audiences {
		if string(s) == a {
			return true
		}
	}
	return false
}

// headerSafe reports whether s may become a header value as it is: no
// control bytes (a claim "a\r\nX-Evil: 1" must never reach the
// upstream), and no space at either end, which the upstream's parser
// would trim (" admin " would reach it as "admin" while rate limits and
// the access log saw another consumer). Past ASCII, no Unicode
// whitespace or control character anywhere (see identityRune).
func headerSafe(s []byte) bool {
	if len(s) > 0 && (s[0] == ' ' || s[len(s)-1] == ' ') {
		return false
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if !identityRune(r, n) {
			return false
		}
		i += n
	}
	return true
}

// identityRune reports whether a non-ASCII rune r, n bytes of UTF-8, may
// be in a consumer, tenant or scope. Unicode whitespace (U+0085, U+00A0,
// U+2028, U+3000...) and controls (C1) may not: Python's str.split() and
// strip(), .NET's Trim() and Java's strip() treat them as spaces, so
// "read\u00a0admin" would be two scopes, or "admin\u00a0" admin, to
// the application. Nor may invalid UTF-8: a latin-1 reader (WSGI) sees
// its bytes as C1 characters. Letters and other marks are fine.
func identityRune(r rune, n int) bool {
	return !(r == utf8.RuneError && n == 1) && !unicode.IsSpace(r) && !unicode.IsControl(r)
}

// newEntry builds the cache entry of a verified token, in one allocation
// for nearly all tokens (see allocEntry): the entry and the bytes of the
// token copy, the consumer and the tenant, which the Identity fields are
// strings over. The scopes come from the scope memo when an earlier
// verified token carried the same set (the usual case: a client's tokens
// share one); otherwise their bytes join the block and their list is a
// second allocation, and the set is remembered. It returns nil when the
// scope claim is invalid.
func (j *JWT) newEntry(tok []byte, c *claimSet) *cacheEntry {
	var sc scopeJoin
	var same []byte
	var shared *scopeSet
	if c.scope != nil {
		// A claim byte-equal to a remembered one was checked and joined
		// when it was remembered.
		if shared = j.scopesByRaw(c.scope); shared == nil {
			var ok bool
			if same, ok = sc.walk(c.scope); !ok {
				return nil
			}
		}
	}
	if sc.n > 0 {
		joined := same
		var tmp [scopeScratch]byte
		if joined == nil && sc.size <= len(tmp) {
			joined = appendScopes(tmp[:0], c.scope)
		}
		if joined != nil {
			shared = j.sharedScopes(joined)
		}
	}
	nt, nc, nn, ns := len(tok), len(c.consumer), len(c.tenant), sc.size
	if shared != nil {
		ns = 0
	}
	e, buf := allocEntry(nt + nc + nn + ns)
	copy(buf, tok)
	copy(buf[nt:], c.consumer)
	copy(buf[nt+nc:], c.tenant)
	off := nt + nc + nn
	switch {
	case ns == 0:
	case same != nil:
		copy(buf[off:], same)
	default:
		appendScopes(buf[off:off:off+ns], c.scope)
	}
	// The bytes are final from here on: the strings below may view them.
	// (Fields are set one by one: a composite literal is built on the
	// stack and copied.)
	e.token = bytesString(buf[:nt])
	id := &e.id
	id.Auth = j.name
	id.Consumer = bytesString(buf[nt : nt+nc])
	id.Tenant = bytesString(buf[nt+nc : off])
	id.Expiry = c.exp
	switch {
	case shared != nil:
		id.Scopes, id.ScopesHeader = shared.list, shared.header
	case sc.n > 0:
		// The header is the items joined by single spaces.
		header := bytesString(buf[off : off+ns])
		list := make([]string, 0, sc.n)
		e.alloc += uint32(sc.n) * uint32(unsafe.Sizeof(""))
		start := 0
		for i := 0; i < len(header); i++ {
			if header[i] == ' ' {
				list = append(list, header[start:i])
				start = i + 1
			}
		}
		id.Scopes, id.ScopesHeader = append(list, header[start:]), header
		j.rememberScopes(c.scope, id.Scopes, header)
	}
	return e
}

// scopeMemoSlots is how many scope sets the entries of a JWT share. The
// tokens of one client carry one set, so a few slots serve nearly every
// cache miss, which then neither checks the claim again, nor copies the
// joined scopes into its block, nor allocates a list (each byte of an
// entry costs allocation and GC work on every miss). More sets than
// slots in turn only cost that again.
const scopeMemoSlots = 4

// scopeScratch bounds the stack buffer a scope array is joined into to
// look it up in the memo; longer arrays are not shared.
const scopeScratch = 256

// scopeSet is a remembered scope set: the raw claim value (JSON) of the
// verified token it was first read from, its items and their joined
// form. list and header view the block of that token's entry, which the
// set keeps alive (at most scopeMemoSlots of them).
type scopeSet struct {
	raw    string
	list   []string
	header string
}

// scopesByRaw returns the remembered set read from a claim value
// byte-equal to raw, or nil.
func (j *JWT) scopesByRaw(raw []byte) *scopeSet {
	for i := range j.scopeSets {
		if m := j.scopeSets[i].Load(); m != nil && m.raw == string(raw) {
			return m
		}
	}
	return nil
}

// sharedScopes returns the remembered set whose joined form is joined
// (the same set, written differently), or nil.
func (j *JWT) sharedScopes(joined []byte) *scopeSet {
	for i := range j.scopeSets {
		if m := j.scopeSets[i].Load(); m != nil && m.header == string(joined) {
			return m
		}
	}
	return nil
}

// rememberScopes offers the scope set of a verified token to later
// entries, replacing the slots in turn. Only verified tokens get here, so
// junk cannot churn the slots.
func (j *JWT) rememberScopes(raw []byte, list []string, header string) {
	m := &scopeSet{raw: string(raw), list: list, header: header}
	j.scopeSets[(j.scopeNext.Add(1)-1)%scopeMemoSlots].Store(m)
}

// scopeJoin reads a scope claim, a space-separated string or an array of
// strings (each free of spaces, so the joined header stays unambiguous),
// checking it and counting the non-empty items and their joined size.
//
// walk also returns a string claim that already is the joined form (the
// usual case), so that it can be copied as is. (Returned, not stored: a
// store through sj would move the payload buffer to the heap.)
type scopeJoin struct {
	n, size int
}

func (sj *scopeJoin) walk(v []byte) (same []byte, ok bool) {
	if s, ok := jsonString(v); ok {
		if !sj.add(s) {
			return nil, false
		}
		if sj.size == len(s) {
			return s, true // no empty items: nothing to normalise
		}
		return nil, true
	}
	it := newStrArrIter(v)
	for s, more := it.next(); more; s, more = it.next() {
		if bytes.IndexByte(s, ' ') >= 0 || !sj.add(s) {
			return nil, false
		}
	}
	return nil, it.ok()
}

func (sj *scopeJoin) add(s []byte) bool {
	// One pass: check each character may go in a header (see headerSafe)
	// and cut at spaces.
	start := -1 // of the current item
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != ' ' {
			if start < 0 {
				start = i
			}
			if c := s[i]; c < 0x20 || c == 0x7f {
				return false
			} else if c >= utf8.RuneSelf {
				r, n := utf8.DecodeRune(s[i:])
				if !identityRune(r, n) {
					return false
				}
				i += n - 1
			}
			continue
		}
		if start < 0 {
			continue // empty item
		}
		if sj.n > 0 {
			sj.size++
		}
		sj.size += i - start
		start = -1
		sj.n++
	}
	return true
}

// appendScopes appends the items of a scope claim that walk accepted to
// dst, joined by single spaces.
func appendScopes(dst, v []byte) []byte {
	base := len(dst)
	if s, ok := jsonString(v); ok {
		for i := 0; i < len(s); {
			for i < len(s) && s[i] == ' ' {
				i++
			}
			start := i
			for i < len(s) && s[i] != ' ' {
				i++
			}
			if i > start {
				if len(dst) > base {
					dst = append(dst, ' ')
				}
				dst = append(dst, s[start:i]...)
			}
		}
		return dst
	}
	it := newStrArrIter(v)
	for s, more := it.next(); more; s, more = it.next() {
		if len(s) > 0 {
			if len(dst) > base {
				dst = append(dst, ' ')
			}
			dst = append(dst, s...)
		}
	}
	return dst
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
