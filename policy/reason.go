package policy

// Reason says why a credential was not accepted. The zero value, ReasonOK,
// means it was. String returns a stable token meant for the `reason` label
// of portico_auth_rejected_total; tokens never change once released.
type Reason uint8

// Reasons, in the order the verifier checks them.
const (
	ReasonOK                Reason = iota // admitted
	ReasonMissing                         // no credential in any configured place
	ReasonMalformed                       // not a well-formed compact JWS / API key (size, parts, base64, JSON, crit, kid)
	ReasonAlgNotAllowed                   // alg outside the allow-list, or "none", or HS* without a configured secret
	ReasonUnknownKey                      // no key for the kid (or ambiguous kid-less token); may trigger a JWKS refetch
	ReasonBadSignature                    // signature does not verify
	ReasonExpired                         // exp + leeway is in the past (or exp absent: exp is required)
	ReasonNotYetValid                     // nbf - leeway is in the future
	ReasonWrongIssuer                     // iss differs from the configured issuer
	ReasonWrongAudience                   // no aud value is one of the configured audiences
	ReasonInvalidClaim                    // consumer/tenant/scope claim absent where required, of the wrong type, or unsafe for a header
	ReasonJWKSUnavailable                 // no key set was ever obtained: fail closed with 503
	ReasonUnknownAPIKey                   // API key not configured
	ReasonInsufficientScope               // identity lacks a required scope (403)
	ReasonMissingTenant                   // valid JWT without the tenant claim its method names in tenant_claim (403)
	reasonCount
)

var reasonTokens = [reasonCount]string{
	ReasonOK:                "ok",
	ReasonMissing:           "missing",
	ReasonMalformed:         "malformed",
	ReasonAlgNotAllowed:     "alg_not_allowed",
	ReasonUnknownKey:        "unknown_key",
	ReasonBadSignature:      "bad_signature",
	ReasonExpired:           "expired",
	ReasonNotYetValid:       "not_yet_valid",
	ReasonWrongIssuer:       "wrong_issuer",
	ReasonWrongAudience:     "wrong_audience",
	ReasonInvalidClaim:      "invalid_claim",
	ReasonJWKSUnavailable:   "jwks_unavailable",
	ReasonUnknownAPIKey:     "unknown_api_key",
	ReasonInsufficientScope: "insufficient_scope",
	ReasonMissingTenant:     "missing_tenant",
}

// Reasons lists every rejection reason (ReasonOK excluded), so metric
// series can be pre-created at config load.
func Reasons() []Reason {
	out := make([]Reason, 0, reasonCount-1)
	for r := ReasonMissing; r < reasonCount; r++ {
		out = append(out, r)
	}
	return out
}

// String returns the stable metric token of r.
func (r Reason) String() string {
	if r < reasonCount {
		return reasonTokens[r]
	}
	return "unknown"
}

// Status is the HTTP status Portico answers with (SPEC §4): 200 for
// ReasonOK, 401 for missing or invalid credentials, 403 for a missing
// scope or tenant, 503 when the JWKS was never obtained (auth fails closed).
func (r Reason) Status() int {
	switch r {
	case ReasonOK:
		return 200
	case ReasonInsufficientScope, ReasonMissingTenant:
		return 403
	case ReasonJWKSUnavailable:
		return 503
	default:
		return 401
	}
}

// Code is the SPEC §4 error code for the response body.
func (r Reason) Code() string {
	switch r.Status() {
	case 200:
		return ""
	case 403:
		return "forbidden"
	case 503:
		return "unavailable"
	default:
		return "unauthorized"
	}
}

// WWWAuthenticate is the WWW-Authenticate header value to send with the
// rejection, or "" when none is due (200, 503, a missing tenant: no
// RFC 6750 error fits it, and a new token would not help). Per RFC 6750
// §3.1, a request without credentials gets a bare challenge and one with
// a bad credential gets error="invalid_token".
func (r Reason) WWWAuthenticate() string {
	switch r {
	case ReasonOK, ReasonJWKSUnavailable, ReasonMissingTenant:
		return ""
	case ReasonMissing:
		return `Bearer`
	case ReasonInsufficientScope:
		return `Bearer error="insufficient_scope"`
	default:
		return `Bearer error="invalid_token"`
	}
}
