package edge

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/portico-gw/portico/edge/config"
	"github.com/portico-gw/portico/parser"
	"github.com/portico-gw/portico/policy"
)

// authRT is one compiled auth method of the route file. JWT verifiers own a
// JWKS refresher and a verified-token cache, so a reload keeps the instance
// when the method's definition (and the files it reads) did not change.
type authRT struct {
	name   string
	method policy.Method
	jwt    *policy.JWT // nil for api_key
	def    string
	trust  string // what jwks_url's TLS trusts (authDefinition)
}

// compileAuth builds (or keeps from prev) every auth method.
func compileAuth(cfg *config.Config, prev *snapshot, log *slog.Logger, bad func(path, format string, args ...any)) map[string]*authRT {
	out := make(map[string]*authRT, len(cfg.Auth))
	for i := range cfg.Auth {
		a := &cfg.Auth[i]
		path := fmt.Sprintf("auth[%d]", i)
		def, trust, secret, err := authDefinition(a)
		if err != nil {
			bad(path+".hmac_secret_file", "%v", err)
			continue
		}
		if prev != nil {
			if old := prev.auth[a.Name]; old != nil && old.def == def {
				out[a.Name] = old
				continue
			}
		}
		rt := &authRT{name: a.Name, def: def, trust: trust}
		switch a.Type {
		case "jwt":
			jc := policy.JWTConfig{
				Name:          a.Name,
				JWKSURL:       a.JWKSURL,
				JWKSFile:      a.JWKSFile,
				Issuer:        a.Issuer,
				Audiences:     a.Audiences,
				Algorithms:    a.Algorithms,
				HMACSecret:    secret,
				Leeway:        time.Duration(a.Leeway),
				Refresh:       time.Duration(a.JWKSRefresh),
				JWKSCAFile:    a.JWKSCAFile,
				ConsumerClaim: a.ConsumerClaim,
				TenantClaim:   a.TenantClaim,
				ScopeClaim:    a.ScopeClaim,
				Logger:        log,
			}
			for _, s := range a.TokenFrom {
				ts, err := policy.ParseTokenSource(s)
				if err != nil {
					bad(path+".token_from", "%v", err)
					continue
				}
				jc.TokenFrom = append(jc.TokenFrom, ts)
			}
			j, err := policy.NewJWT(jc)
			if err != nil {
				var ce *policy.ConfigError
				if errors.As(err, &ce) && ce.Field != "" {
					bad(path+"."+ce.Field, "%v", err)
				} else {
					bad(path, "%v", err)
				}
				continue
			}
			if prev != nil {
				// Keys fetched under other trust are not carried over: a
				// CA dropped from the bundle may have vouched for them.
				if old := prev.auth[a.Name]; old != nil && old.trust == rt.trust {
					j.AdoptKeys(old.jwt)
				}
			}
			rt.jwt = j
			rt.method = policy.JWTMethod(j)
		case "api_key":
			from, err := policy.ParseTokenSource(a.From)
			if err != nil {
				bad(path+".from", "%v", err)
				continue
			}
			kc := policy.APIKeyConfig{Name: a.Name, From: from}
			for _, k := range a.Keys {
				kc.Keys = append(kc.Keys, policy.APIKey{Consumer: k.Consumer, Tenant: k.Tenant, SHA256Hex: k.SHA256})
			}
			ak, err := policy.NewAPIKeys(kc)
			if err != nil {
				bad(path, "%v", err)
				continue
			}
			rt.method = policy.APIKeyMethod(ak)
		default:
			bad(path+".type", "unknown auth type %q", a.Type)
			continue
		}
		out[a.Name] = rt
	}
	return out
}

// authDefinition is what decides whether a reload may keep a verifier: the
// method's settings plus the bytes of the files it reads (the secret, the
// key set, the CAs trusted for jwks_url: a CA bundle edited in place is a
// change, as for upstream TLS). It also returns what jwks_url is fetched
// under (trust: the CA file's path and bytes, "" for the system roots),
// and the HMAC secret (config.ReadHMACSecret).
func authDefinition(a *config.Auth) (def, trust string, secret []byte, err error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", "", nil, fmt.Errorf("cannot encode auth %q: %w", a.Name, err)
	}
	h := sha256.New()
	h.Write(b)
	if a.HMACSecretFile != "" {
		if secret, err = config.ReadHMACSecret(a.HMACSecretFile); err != nil {
			return "", "", nil, err
		}
		h.Write(secret)
	}
	// Each file's bytes are framed by their length, so that no two
	// different pairs of contents hash alike; an unreadable file hashes as
	// none (building the verifier then reports it).
	for _, f := range []string{a.JWKSFile, a.JWKSCAFile} {
		if f == "" {
			continue
		}
		b, _ := os.ReadFile(f)
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
		if f == a.JWKSCAFile {
			sum := sha256.Sum256(b)
			trust = f + "\x00" + hex.EncodeToString(sum[:])
		}
	}
	return hex.EncodeToString(h.Sum(nil)), trust, secret, nil
}

// routeAuth is a route's compiled auth: its methods in file order, the
// scopes it requires and lazily created rejection counters.
type routeAuth struct {
	methods []policy.Method
	names   []string
	scopes  []string
	// Every query parameter and cookie any method reads a credential from
	// is removed from what goes upstream, whichever method admitted the
	// request: an application must never see a credential the gateway did
	// not check as if it had been.
	stripQuery, stripCookies []string
	// credHeaders are the headers methods read credentials from, with the
	// index of the first method reading each: a request carrying one of
	// them twice is refused, since the upstream might read the other copy.
	credHeaders []credHeader
	route       string
	reg         *metricsRegistry
	rejected    [][]atomic.Pointer[metrics.Counter] // [method][reason]
}

type credHeader struct {
	name   string
	method int
}

func newRouteAuth(route string, methods []*authRT, scopes []string, reg *metricsRegistry) *routeAuth {
	ra := &routeAuth{route: route, scopes: scopes, reg: reg}
	for i, m := range methods {
		ra.methods = append(ra.methods, m.method)
		ra.names = append(ra.names, m.name)
		for _, src := range m.method.Sources() {
			switch src.Kind {
			case policy.FromQuery:
				if !slices.Contains(ra.stripQuery, src.Name) {
					ra.stripQuery = append(ra.stripQuery, src.Name)
				}
			case policy.FromCookie:
				if !slices.Contains(ra.stripCookies, src.Name) {
					ra.stripCookies = append(ra.stripCookies, src.Name)
				}
			case policy.FromHeader:
				if !slices.ContainsFunc(ra.credHeaders, func(h credHeader) bool { return strings.EqualFold(h.name, src.Name) }) {
					ra.credHeaders = append(ra.credHeaders, credHeader{src.Name, i})
				}
			}
		}
	}
	nReasons := len(policy.Reasons()) + 1
	ra.rejected = make([][]atomic.Pointer[metrics.Counter], len(methods))
	for i := range ra.rejected {
		ra.rejected[i] = make([]atomic.Pointer[metrics.Counter], nReasons)
	}
	return ra
}

// countRejected increments portico_auth_rejected_total{route,auth,reason}.
// A request with no credential at all is counted against the route's first
// method.
func (ra *routeAuth) countRejected(method int, reason policy.Reason) {
	if method < 0 {
		method = 0
	}
	if method >= len(ra.rejected) || int(reason) >= len(ra.rejected[method]) {
		return
	}
	slot := &ra.rejected[method][reason]
	c := slot.Load()
	if c == nil {
		c = ra.reg.set.GetOrCreateCounter(`portico_auth_rejected_total{route="` + escapeLabel(ra.route) +
			`",auth="` + escapeLabel(ra.names[method]) + `",reason="` + reason.String() + `"}`)
		slot.Store(c)
	}
	c.Inc()
}

// startAuth starts background JWKS refreshes of new verifiers and closes the
// ones the new snapshot dropped.
func startAuth(snap, prev *snapshot) {
	for _, a := range snap.auth {
		if a.jwt != nil && (prev == nil || prev.auth[a.name] != a) {
			a.jwt.Start(context.Background())
		}
	}
	if prev == nil {
		return
	}
	for name, a := range prev.auth {
		if a.jwt != nil && snap.auth[name] != a {
			a.jwt.Close()
		}
	}
}

// cookies returns the request's cookies as one Cookie value: the field, or
// several fields joined with "; " (RFC 9113 §8.2.3 splits them on HTTP/2;
// some HTTP/1.1 clients send several too), so a credential or hash key in
// any of them is found.
func (cc *clientConn) cookies() []byte {
	var first []byte
	n := 0
	for i := range cc.req.Fields {
		f := &cc.req.Fields[i]
		if len(f.Name) != len("Cookie") || !parser.EqualFoldString(f.Name, "Cookie") {
			continue
		}
		if n++; n == 1 {
			first = f.Value
			continue
		}
		if n == 2 {
			cc.cookieBuf = append(cc.cookieBuf[:0], first...)
		}
		cc.cookieBuf = append(cc.cookieBuf, "; "...)
		cc.cookieBuf = append(cc.cookieBuf, f.Value...)
	}
	if n > 1 {
		return cc.cookieBuf
	}
	return first
}

// authenticate runs the route's auth and scope checks. It reports whether
// the request may go on; if not, the response has been written.
func (cc *clientConn) authenticate(ra *routeAuth) bool {
	var q, cookie []byte
	if cc.req.Query != nil {
		q = cc.req.Query
	}
	cookie = cc.cookies()
	for _, h := range ra.credHeaders {
		if cc.fieldCount(h.name) > 1 {
			ra.countRejected(h.method, policy.ReasonMalformed)
			cc.respondAuthError(policy.ReasonMalformed)
			return false
		}
	}
	req := policy.Request{Header: cc.hdrFunc, RawQuery: q, Cookie: cookie}
	res := policy.Authenticate(ra.methods, &req)
	if res.ID == nil {
		if res.Wait != nil && !cc.keyWaited && cc.waitForKeys(&res) {
			return false
		}
		ra.countRejected(res.Method, res.Reason)
		if res.Refused != nil && res.Reason == policy.ReasonMissingTenant {
			cc.id = res.Refused // logged as the consumer; nothing goes upstream
		}
		cc.respondAuthError(res.Reason)
		return false
	}
	if len(ra.scopes) > 0 && !policy.HasScopes(res.ID, ra.scopes) {
		ra.countRejected(res.Method, policy.ReasonInsufficientScope)
		cc.id = res.ID
		cc.respondAuthError(policy.ReasonInsufficientScope)
		return false
	}
	cc.id = res.ID
	return true
}

// fieldCount counts the request's fields called name.
func (cc *clientConn) fieldCount(name string) int {
	n := 0
	for i := range cc.req.Fields {
		if f := &cc.req.Fields[i]; len(f.Name) == len(name) && parser.EqualFoldString(f.Name, name) {
			n++
		}
	}
	return n
}

// keyWaitMax bounds how long a request waits for a JWKS refetch: the
// fetch's own timeout, or the route's timeout when shorter.
const keyWaitMax = policy.DefaultFetchTimeout

// waitForKeys parks a request refused only because its verifier lacks
// the key (an unknown kid after a rotation, or no key set yet) while a
// refetch that may bring it is under way: the IdP's first tokens signed
// with a new key are admitted, not answered 401 (which clients take as
// final). The loop never blocks: the head stays in the input buffer and
// the request is read and authenticated again, once, when the refetch
// completes or after keyWaitMax. It reports false when the request
// cannot wait (too many already do) and must be answered now.
func (cc *clientConn) waitForKeys(res *policy.Result) bool {
	cc.keyWaited = true
	cc.keyWaitGen++
	gen, lp, prev := cc.keyWaitGen, cc.lp, cc.state
	cc.state = stateKeyWait
	if !res.Wait.AwaitRefetch(res.WaitSeq, func() { lp.runTask(func() { cc.resumeAfterKeys(gen) }) }) {
		cc.state = prev // not parked: the refusal is answered now
		return false
	}
	// The route's timeout bounds the wait too: a route that answers
	// within a second must not hold a request for the fetch's 5 s.
	wait := keyWaitMax
	if cc.rt != nil && cc.rt.timeout > 0 {
		wait = min(wait, cc.rt.timeout)
	}
	cc.lp.schedule(&cc.timer, wait)
	return true
}

// resumeAfterKeys runs the parked request again from its buffered head.
// A wake-up for a wait that already ended (timer and refetch both fire;
// an HTTP/2 stream's exchange reused) is ignored.
func (cc *clientConn) resumeAfterKeys(gen uint32) {
	if cc.closed || cc.state != stateKeyWait || cc.keyWaitGen != gen {
		return
	}
	cc.lp.wheel.Stop(&cc.timer)
	cc.state = stateHead
	cc.process()
}

func (cc *clientConn) respondAuthError(r policy.Reason) {
	var e *errorKind
	switch r.Status() {
	case 403:
		e = errForbidden
	case 503:
		e = errAuthUnavailable
	default:
		e = errUnauthorized
		if r != policy.ReasonMissing {
			e = errInvalidToken
		}
	}
	cc.authChallenge = r.WWWAuthenticate()
	if cc.bodyKind == bodyNone {
		cc.respondError(e, false)
		return
	}
	cc.respondAndSkipBody(e)
}
