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

// Sources lists where this method reads credentials, in lookup order;
// the caller must not modify it.
func (m Method) Sources() []TokenSource {
	switch {
	case m.jwt != nil:
		return m.jwt.from
	case m.key != nil:
		return []TokenSource{m.key.from}
	}
	return nil
}

// Authenticate runs this one method against r.
func (m Method) Authenticate(r *Request) (*Identity, Reason, TokenSource) {
	id, reason, src, _ := m.authenticate(r)
	return id, reason, src
}

func (m Method) authenticate(r *Request) (*Identity, Reason, TokenSource, uint64) {
	switch {
	case m.jwt != nil:
		return m.jwt.authenticate(r)
	case m.key != nil:
		id, reason, src := m.key.Authenticate(r)
		return id, reason, src, 0
	}
	return nil, ReasonMissing, TokenSource{}, 0
}

// Result is the outcome of a route's auth.
type Result struct {
	ID     *Identity   // non-nil when admitted; shared, read-only
	Reason Reason      // ReasonOK when admitted
	Method int         // index in the route's methods of the method that admitted, or whose rejection is reported; -1 when all were missing
	Source TokenSource // where the admitting credential was read; if Source.Removable(), strip it from what goes upstream
	// On a refusal, Wait is a verifier whose key-set refetch is under way
	// and could turn it into an admission (a token with an unknown kid,
	// or no key set yet), WaitSeq that refetch. A caller that can wait
	// without blocking parks the request with Wait.AwaitRefetch and
	// authenticates once more after it (once: a second refusal stands).
	Wait    *JWT
	WaitSeq uint64
	// Refused is the valid identity of a refusal that is about the
	// identity, not the credential (a missing tenant: 403): for the access
	// log's consumer. It never admits anything.
	Refused *Identity
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
		id, reason, src, seq := methods[i].authenticate(r)
		if reason == ReasonOK {
			return Result{ID: id, Method: i, Source: src}
		}
		if reason == ReasonMissingTenant && res.Refused == nil {
			res.Refused = id
		}
		if seq != 0 && res.Wait == nil {
			res.Wait, res.WaitSeq = methods[i].jwt, seq
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
