package config

import "net/netip"

// Config is one loaded route file. After Load or Parse returns it without
// error it is complete (defaults applied, relative paths made absolute) and
// must be treated as immutable: the gateway compiles it into a snapshot.
type Config struct {
	Version      int         `json:"version"`
	Listeners    []Listener  `json:"listeners"`
	Admin        *Admin      `json:"admin"` // nil: no admin listener
	AccessLog    AccessLog   `json:"access_log"`
	DrainTimeout Duration    `json:"drain_timeout"`
	Upstreams    []Upstream  `json:"upstreams"`
	Auth         []Auth      `json:"auth"`
	RateLimits   []RateLimit `json:"rate_limits"`
	Routes       []Route     `json:"routes"`

	File   string `json:"file"`   // absolute path of the route file
	Dir    string `json:"-"`      // folder relative paths were resolved against
	SHA256 string `json:"sha256"` // lowercase hex sha256 of the file's bytes

	src string         // file name as given, for Problem.File
	pos map[string]Pos // field path -> position of its value
}

// Listener is one address Portico accepts client connections on.
type Listener struct {
	Name      string       `json:"name"`
	Address   string       `json:"address"`   // host:port; empty host = all interfaces
	Protocols []string     `json:"protocols"` // subset of http1, h2 (TLS only), h2c (plaintext only)
	TLS       *ListenerTLS `json:"tls"`       // nil: plaintext
	// TrustedProxies are the peers whose X-Forwarded-For is believed. A bare
	// IP in the file becomes a /32 or /128; prefixes are stored masked.
	TrustedProxies []netip.Prefix `json:"trusted_proxies"`
	Limits         Limits         `json:"limits"`
	Pos            Pos            `json:"-"`
}

// ListenerTLS makes a listener terminate TLS.
type ListenerTLS struct {
	// Certificates: the first is the default; others are chosen by SNI from
	// their SANs. File paths are absolute.
	Certificates []CertPair  `json:"certificates"`
	MinVersion   string      `json:"min_version"` // "1.2" or "1.3"
	ClientAuth   *ClientAuth `json:"client_auth"` // never nil after loading
	Pos          Pos         `json:"-"`
}

// CertPair is a PEM certificate chain and its private key.
type CertPair struct {
	CertFile string `json:"cert_file"`
	KeyFile  string `json:"key_file"`
	Pos      Pos    `json:"-"`
}

// ClientAuth configures mTLS.
type ClientAuth struct {
	Mode   string `json:"mode"`    // none | request | require
	CAFile string `json:"ca_file"` // required for request and require
	Pos    Pos    `json:"-"`
}

// Limits bound what one client may make the gateway hold.
type Limits struct {
	MaxConnections         int      `json:"max_connections"`
	MaxHeaderBytes         Size     `json:"max_header_bytes"`
	HeaderTimeout          Duration `json:"header_timeout"`
	IdleTimeout            Duration `json:"idle_timeout"`
	MaxBodyBytes           Size     `json:"max_body_bytes"` // default for the listener's routes
	H2MaxConcurrentStreams int      `json:"h2_max_concurrent_streams"`
	Pos                    Pos      `json:"-"`
}

// Admin is the admin listener (plain HTTP).
type Admin struct {
	Address string `json:"address"`
	Pos     Pos    `json:"-"`
}

// AccessLog says where access log lines go.
type AccessLog struct {
	// Path is "stdout", "stderr", "off" or an absolute file path.
	Path string `json:"path"`
	Pos  Pos    `json:"-"`
}

// Upstream is a pool of targets.
type Upstream struct {
	Name           string       `json:"name"`
	Targets        []Target     `json:"targets"`
	Balancer       string       `json:"balancer"` // round_robin | least_request | consistent_hash | random
	HashOn         string       `json:"hash_on"`  // consistent_hash only: ip | consumer | header:NAME | cookie:NAME
	ConnectTimeout Duration     `json:"connect_timeout"`
	MaxIdleConns   int          `json:"max_idle_conns"` // per target; 0 disables keep-alive reuse
	MaxConns       int          `json:"max_conns"`      // per target; 0 = no limit
	HealthCheck    *HealthCheck `json:"health_check"`   // nil: no active checks
	Outlier        *Outlier     `json:"outlier"`        // nil: no passive ejection
	TLS            *UpstreamTLS `json:"tls"`            // nil: plaintext
	Pos            Pos          `json:"-"`
}

// Target is one upstream server.
type Target struct {
	Address string `json:"address"` // host:port
	Weight  int    `json:"weight"`  // >= 1
	Pos     Pos    `json:"-"`
}

// HealthCheck is an active HTTP health check; 2xx counts as healthy.
type HealthCheck struct {
	Path               string   `json:"path"`
	Interval           Duration `json:"interval"`
	Timeout            Duration `json:"timeout"`
	HealthyThreshold   int      `json:"healthy_threshold"`
	UnhealthyThreshold int      `json:"unhealthy_threshold"`
	Pos                Pos      `json:"-"`
}

// Outlier is passive ejection after consecutive failures.
type Outlier struct {
	ConsecutiveFailures int      `json:"consecutive_failures"`
	BaseEjection        Duration `json:"base_ejection"`
	Pos                 Pos      `json:"-"`
}

// UpstreamTLS makes connections to an upstream use TLS.
type UpstreamTLS struct {
	ServerName string `json:"server_name"` // SNI and name to verify; "" = the target host
	CAFile     string `json:"ca_file"`     // "" = system roots
	Pos        Pos    `json:"-"`
}

// Auth is one named authenticator. Which fields apply depends on Type.
type Auth struct {
	Name string `json:"name"`
	Type string `json:"type"` // jwt | api_key

	// type jwt
	JWKSURL        string   `json:"jwks_url,omitempty"`
	JWKSFile       string   `json:"jwks_file,omitempty"`
	Issuer         string   `json:"issuer,omitempty"`
	Audiences      []string `json:"audiences,omitempty"`
	Algorithms     []string `json:"algorithms,omitempty"`
	HMACSecretFile string   `json:"hmac_secret_file,omitempty"`
	Leeway         Duration `json:"leeway,omitempty"`
	JWKSRefresh    Duration `json:"jwks_refresh,omitempty"`
	JWKSCAFile     string   `json:"jwks_ca_file,omitempty"`
	TokenFrom      []string `json:"token_from,omitempty"` // header:NAME | query:NAME | cookie:NAME
	ConsumerClaim  string   `json:"consumer_claim,omitempty"`
	TenantClaim    string   `json:"tenant_claim,omitempty"`
	ScopeClaim     string   `json:"scope_claim,omitempty"`

	// type api_key
	From string   `json:"from,omitempty"` // header:NAME | query:NAME
	Keys []APIKey `json:"keys,omitempty"`

	Pos Pos `json:"-"`
}

// APIKey is one accepted API key, stored as the sha256 of the key.
type APIKey struct {
	Consumer string `json:"consumer"`
	Tenant   string `json:"tenant,omitempty"`
	SHA256   string `json:"sha256"` // 64 lowercase hex digits
	Pos      Pos    `json:"-"`
}

// RateLimit is a named token bucket definition.
type RateLimit struct {
	Name  string `json:"name"`
	Key   string `json:"key"` // ip | consumer | tenant | route | global | header:NAME
	Rate  Rate   `json:"rate"`
	Burst int    `json:"burst"`
	Pos   Pos    `json:"-"`
}

// Route maps matching requests to an action. Routes are tried in file order.
type Route struct {
	Name       string   `json:"name"`
	Match      Match    `json:"match"`
	Auth       []string `json:"auth"`        // names in Config.Auth; any one passing admits; nil = public
	Scopes     []string `json:"scopes"`      // all required
	RateLimits []string `json:"rate_limits"` // names in Config.RateLimits; all apply

	// Exactly one of Upstream, Split, DirectResponse is set after loading
	// (aggregate is in the schema but refused as not supported yet).
	Upstream       string          `json:"upstream,omitempty"`
	Split          []SplitTarget   `json:"split,omitempty"`
	DirectResponse *DirectResponse `json:"direct_response,omitempty"`

	Rewrite         *Rewrite   `json:"rewrite"`
	RequestHeaders  *HeaderOps `json:"request_headers"`
	ResponseHeaders *HeaderOps `json:"response_headers"`
	Timeout         Duration   `json:"timeout"`
	Retries         *Retries   `json:"retries"`
	// MaxBodyBytes 0 means inherit the listener's limits.max_body_bytes.
	MaxBodyBytes Size     `json:"max_body_bytes"`
	Compress     []string `json:"compress"` // zstd | gzip, in preference order
	Pos          Pos      `json:"-"`
}

// Match is a route's condition; every present part must hold.
type Match struct {
	// Hosts are lowercased; "*.example.com" matches any name ending in
	// ".example.com" (not example.com itself). nil = any host.
	Hosts      []string `json:"hosts"`
	Path       string   `json:"path,omitempty"`        // exact
	PathPrefix string   `json:"path_prefix,omitempty"` // plain byte prefix
	Methods    []string `json:"methods"`               // nil = any
	// Headers are exact value matches; names are case-insensitive.
	// HeaderList has the same pairs in file order.
	Headers    map[string]string `json:"headers"`
	HeaderList []Header          `json:"-"`
	Pos        Pos               `json:"-"`
}

// Header is a name/value pair in file order.
type Header struct {
	Name  string
	Value string
	Pos   Pos
}

// SplitTarget is one weighted branch of a canary split.
type SplitTarget struct {
	Upstream string `json:"upstream"`
	Weight   int    `json:"weight"`
	Pos      Pos    `json:"-"`
}

// DirectResponse answers from the gateway without an upstream.
type DirectResponse struct {
	Status      int    `json:"status"`
	Body        string `json:"body"`
	ContentType string `json:"content_type"` // default "text/plain; charset=utf-8" when Body is set
	Pos         Pos    `json:"-"`
}

// Rewrite changes the request sent upstream: StripPrefix is removed first,
// then AddPrefix is prepended.
type Rewrite struct {
	StripPrefix string `json:"strip_prefix,omitempty"`
	AddPrefix   string `json:"add_prefix,omitempty"`
	Host        string `json:"host,omitempty"` // "" keeps the client's Host
	Pos         Pos    `json:"-"`
}

// HeaderOps edits headers. Names are case-insensitive. SetList and AddList
// carry the same pairs as Set and Add, in file order.
type HeaderOps struct {
	Set     map[string]string `json:"set"`
	Add     map[string]string `json:"add"`
	Remove  []string          `json:"remove"`
	SetList []Header          `json:"-"`
	AddList []Header          `json:"-"`
	Pos     Pos               `json:"-"`
}

// Retries re-sends an idempotent request to another target.
type Retries struct {
	Attempts int      `json:"attempts"` // retries after the first try; 0 = none
	On       []string `json:"on"`       // connect_failure | reset | 502 | 503 | 504
	Pos      Pos      `json:"-"`
}
