package policy

// Identity is who a request was admitted as. Values returned by the
// verifiers are shared (they live in the token cache or in the API key
// table) and are read-only: never modify an Identity or its Scopes.
type Identity struct {
	Auth         string   // name of the auth method that admitted (X-Portico-Auth)
	Consumer     string   // consumer_claim of a JWT, or the API key's consumer (X-Portico-Consumer)
	Tenant       string   // tenant_claim or the API key's tenant; "" when unknown (X-Portico-Tenant omitted)
	Scopes       []string // granted scopes, in token order, no duplicates removed
	ScopesHeader string   // Scopes joined by single spaces, ready for X-Portico-Scopes
	Expiry       int64    // JWT exp in Unix seconds; 0 for API keys
}

// HasScopes reports whether id holds every scope in required (a route's
// `scopes`: all are needed). An empty required list always holds; a nil
// id holds none. When it returns false, answer ReasonInsufficientScope
// (403). It does not allocate.
func HasScopes(id *Identity, required []string) bool {
	if len(required) == 0 {
		return true
	}
	if id == nil {
		return false
	}
outer:
	for _, want := range required {
		for _, have := range id.Scopes {
			if have == want {
				continue outer
			}
		}
		return false
	}
	return true
}
