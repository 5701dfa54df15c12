package policy

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// MaxAPIKeyBytes bounds a presented API key (after percent-decoding).
const MaxAPIKeyBytes = 512

// APIKey is one configured key: only the SHA-256 of the secret is known.
type APIKey struct {
	Consumer  string
	Tenant    string
	SHA256Hex string // 64 hex digits of sha256(key); case-insensitive
}

// APIKeyConfig configures one `type: api_key` auth method.
type APIKeyConfig struct {
	Name string
	From TokenSource // header or query
	Keys []APIKey
}

type apiKeyEntry struct {
	sum [sha256.Size]byte
	id  Identity
}

// APIKeys checks static API keys for one auth method. It is immutable and
// safe for concurrent use.
//
// Lookup hashes the presented key with SHA-256 and looks the digest up in
// a map keyed by digest. The map's timing can only reveal something about
// the digest of the guess, which the guesser already knows, never about a
// configured secret (finding a key from its digest is a preimage attack).
// The final subtle.ConstantTimeCompare of the whole digest keeps the
// decision itself free of data-dependent timing as well.
type APIKeys struct {
	name string
	from TokenSource
	keys map[[sha256.Size]byte]*apiKeyEntry
}

// NewAPIKeys checks cfg: a header or query source, at least one key,
// 64-hex-digit digests without duplicates, a consumer per key, and
// consumer/tenant values that are safe as header values.
func NewAPIKeys(cfg APIKeyConfig) (*APIKeys, error) {
	fail := func(format string, a ...any) (*APIKeys, error) {
		return nil, fmt.Errorf("cannot configure api_key auth %q: %s", cfg.Name, fmt.Sprintf(format, a...))
	}
	if cfg.Name == "" {
		return fail("empty name")
	}
	if (cfg.From.Kind != FromHeader && cfg.From.Kind != FromQuery) || cfg.From.Name == "" {
		return fail("from must be header:NAME or query:NAME")
	}
	if len(cfg.Keys) == 0 {
		return fail("no keys")
	}
	a := &APIKeys{name: cfg.Name, from: cfg.From, keys: make(map[[sha256.Size]byte]*apiKeyEntry, len(cfg.Keys))}
	for i, k := range cfg.Keys {
		raw, err := hex.DecodeString(strings.TrimSpace(k.SHA256Hex))
		if err != nil || len(raw) != sha256.Size {
			return fail("keys[%d]: sha256 must be 64 hex digits", i)
		}
		if k.Consumer == "" {
			return fail("keys[%d]: consumer is required", i)
		}
		if !headerSafe([]byte(k.Consumer)) || !headerSafe([]byte(k.Tenant)) {
			return fail("keys[%d]: consumer and tenant must not contain control characters or Unicode whitespace, or begin or end with a space", i)
		}
		e := &apiKeyEntry{id: Identity{Auth: cfg.Name, Consumer: k.Consumer, Tenant: k.Tenant}}
		copy(e.sum[:], raw)
		if _, dup := a.keys[e.sum]; dup {
			return fail("keys[%d]: duplicate sha256", i)
		}
		a.keys[e.sum] = e
	}
	return a, nil
}

// Name is the auth method's name.
func (a *APIKeys) Name() string { return a.name }

// From is where the key is read.
func (a *APIKeys) From() TokenSource { return a.from }

// Verify checks a presented key (raw bytes, already decoded). The
// returned Identity is shared and read-only. It does not allocate.
func (a *APIKeys) Verify(key []byte) (*Identity, Reason) {
	if len(key) == 0 {
		return nil, ReasonMissing
	}
	if len(key) > MaxAPIKeyBytes {
		return nil, ReasonMalformed
	}
	sum := sha256.Sum256(key)
	e := a.keys[sum]
	if e == nil || subtle.ConstantTimeCompare(e.sum[:], sum[:]) != 1 {
		return nil, ReasonUnknownAPIKey
	}
	return &e.id, ReasonOK
}

// Authenticate extracts the key from r (percent-decoding a query value
// into a stack buffer) and verifies it. It does not allocate.
func (a *APIKeys) Authenticate(r *Request) (*Identity, Reason, TokenSource) {
	v := a.from.Extract(r)
	if len(v) == 0 {
		return nil, ReasonMissing, TokenSource{}
	}
	if a.from.Kind == FromQuery {
		if len(v) > 3*MaxAPIKeyBytes {
			return nil, ReasonMalformed, a.from
		}
		var buf [MaxAPIKeyBytes]byte
		dec, ok := DecodeQueryValue(buf[:0], v)
		if !ok || len(dec) > MaxAPIKeyBytes {
			return nil, ReasonMalformed, a.from
		}
		v = dec
	}
	id, r2 := a.Verify(v)
	return id, r2, a.from
}
