package policy

// Method is one auth method of a route: a JWT verifier or an API key
// table. It is a small concrete value (no interface) so calls through it
// inline and nothing in the request escapes.
type Method struct {
	jwt *JWT
	key *APIKeys
}

// JWTMethod wraps j as a route auth method.
func JWTMethod(j *JWT) Method { return Method{jwt: j} }

// APIKeyMethod wraps a as a route auth method.
func APIKeyMethod(a *APIKeys) Method { return Method{key: a} }

// Name is the auth method's name (metric label `auth`).
func (m Method) Name() string {
	if m.jwt != nil {
		return m.jwt.name
	}
	if m.key != nil {
		return m.key.name
	}
	return ""
}

// Authenticate runs this one method against r.
func (m Method) Authenticate(r *Request) (*Identity, Reason, TokenSource) {
	switch {
	case m.jwt != nil:
		return m.jwt.Authenticate(r)
	case m.key != nil:
		return m.key.Authenticate(r)
	}
	return nil, ReasonMissing, TokenSource{}
}

// Result is the outcome of a route's auth.
type Result struct {
	ID     *Identity   // non-nil when admitted; shared, read-only
	Reason Reason      // ReasonOK when admitted
	Method int         // index in the route's methods of the method that admitted, or whose rejection is reported; -1 when all were missing
	Source TokenSource // where the admitting credential was read; if Source.Removable(), strip it from what goes upstream
}

// Authenticate tries a route's methods in order; the first that admits
// wins. When none admits, the reported reason is jwks_unavailable if any
// method failed for want of keys (fail closed with 503: the client may
// retry), else the first rejection of a credential that was present
// (401 invalid_token), else missing (401). Scopes are checked separately
// with HasScopes. It does not allocate on cache hits.
func Authenticate(methods []Method, r *Request) Result {
	res := Result{Reason: ReasonMissing, Method: -1}
	for i := range methods {
		id, reason, src := methods[i].Authenticate(r)
		if reason == ReasonOK {
			return Result{ID: id, Method: i, Source: src}
		}
		switch {
		case reason == ReasonMissing:
		case reason == ReasonJWKSUnavailable && res.Reason != ReasonJWKSUnavailable,
			res.Reason == ReasonMissing:
			res.Reason, res.Method, res.Source = reason, i, src
		}
	}
	return res
}
