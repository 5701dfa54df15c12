package config

import "time"

// Defaults for fields the route file leaves out. A field that is present in
// the file keeps its value, even 0 (which validation may then refuse); only
// absent fields take these values.
const (
	// DefaultMaxConnections bounds memory by default: each connection holds
	// read and write buffers, so an unbounded listener lets a connection
	// flood exhaust memory. 10000 fits a default 1 GiB container with room;
	// operators serving more say so (the SPEC example uses 100000).
	DefaultMaxConnections         = 10000
	DefaultMaxHeaderBytes         = 64 * KiB
	DefaultHeaderTimeout          = Duration(10 * time.Second)
	DefaultIdleTimeout            = Duration(60 * time.Second)
	DefaultMaxBodyBytes           = 10 * MiB
	DefaultH2MaxConcurrentStreams = 256

	DefaultDrainTimeout = Duration(30 * time.Second)
	DefaultAccessLog    = "stdout"

	DefaultBalancer = "round_robin"
	DefaultWeight   = 1
	// DefaultConnectTimeout is short because a connect to a healthy upstream
	// on a LAN takes well under a millisecond, and failing fast lets a
	// connect_failure retry reach another target within the route timeout.
	DefaultConnectTimeout = Duration(time.Second)
	DefaultMaxIdleConns   = 64

	DefaultHealthInterval             = Duration(5 * time.Second)
	DefaultHealthTimeout              = Duration(time.Second)
	DefaultHealthyThreshold           = 2
	DefaultUnhealthyThreshold         = 3
	DefaultOutlierConsecutiveFailures = 5
	DefaultOutlierBaseEjection        = Duration(30 * time.Second)

	DefaultMinTLSVersion  = "1.2"
	DefaultClientAuthMode = "none"

	// DefaultRouteTimeout is Envoy's default route timeout: long enough for
	// ordinary API calls, short enough that a hung upstream frees the
	// client within a reasonable time.
	DefaultRouteTimeout = Duration(15 * time.Second)
	// DefaultDirectContentType is used when a direct_response has a body and
	// no content_type.
	DefaultDirectContentType = "text/plain; charset=utf-8"

	DefaultJWTLeeway     = Duration(30 * time.Second)
	DefaultJWKSRefresh   = Duration(10 * time.Minute)
	DefaultConsumerClaim = "sub"
	DefaultScopeClaim    = "scope"
)

// DefaultTokenFrom is where a JWT is looked for when token_from is absent
// (a "Bearer " prefix is expected in the Authorization header).
var DefaultTokenFrom = []string{"header:Authorization"}

// DefaultRetryOn is what retries.on means when absent: failures where the
// upstream cannot have acted on the request, or an idempotent one was cut.
var DefaultRetryOn = []string{"connect_failure", "reset"}

// Protocol defaults per listener kind.
var (
	DefaultPlaintextProtocols = []string{"http1", "h2c"}
	DefaultTLSProtocols       = []string{"http1", "h2"}
)

// asymmetricAlgs are the JWT algorithms verified with JWKS keys; they are
// the default allow-list when a JWKS source is given.
var asymmetricAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}

// hmacAlgs are verified with hmac_secret_file only; they are added to the
// default allow-list when a secret is given.
var hmacAlgs = []string{"HS256", "HS384", "HS512"}

func defaultLimits() Limits {
	return Limits{
		MaxConnections:         DefaultMaxConnections,
		MaxHeaderBytes:         DefaultMaxHeaderBytes,
		HeaderTimeout:          DefaultHeaderTimeout,
		IdleTimeout:            DefaultIdleTimeout,
		MaxBodyBytes:           DefaultMaxBodyBytes,
		H2MaxConcurrentStreams: DefaultH2MaxConcurrentStreams,
	}
}
