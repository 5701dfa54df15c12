// Package policy owns authentication at the edge: verification of JWT
// bearer tokens (compact JWS) against a JWKS fetched and cached in the
// background or a shared HMAC secret, static API keys stored as SHA-256
// digests, route scopes, and the identity that edge turns into the
// X-Portico-Auth/Consumer/Tenant/Scopes headers (SPEC §2 `auth`, §3).
//
// It is a leaf: standard library and xxhash only. edge maps the route
// file onto JWTConfig and APIKeyConfig, builds one JWT or APIKeys per auth
// entry, wraps them in Methods, and per request calls Authenticate (or a
// method's Authenticate) with a Request view over its own buffers, then
// HasScopes. Results carry a Reason whose String is the metric token and
// whose Status/WWWAuthenticate give the answer (401, 403, 503).
//
// Hot path: a token seen before is answered from a sharded cache with no
// signature check and no allocation; the cache compares the whole token,
// never outlives exp (+leeway), and drops entries whose key left the JWKS.
// Verification never blocks: JWKS fetches run on one goroutine per JWT
// (Start/Close), triggered on a schedule and, rate-limited, by unknown
// kids. With no key set ever obtained, tokens fail closed with
// ReasonJWKSUnavailable (503). README.md is the operator documentation.
package policy
