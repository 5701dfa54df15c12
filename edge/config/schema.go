package config

import (
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The decoders below mirror the route file section by section. Each starts
// from the defaults of its struct so that absent fields keep them and
// present ones (even 0) override them; defaults that depend on other fields
// are applied later by applyDefaults.

// config decodes the root; false when it is not a mapping (nothing to
// validate then).
func (d *decoder) config(n *yaml.Node, c *Config) bool {
	c.DrainTimeout = DefaultDrainTimeout
	c.AccessLog = AccessLog{Path: DefaultAccessLog}
	known := []string{"version", "listeners", "admin", "access_log", "drain_timeout", "upstreams", "auth", "rate_limits", "routes"}
	return d.fields(n, "", known, func(key string, v *yaml.Node, p string) {
		switch key {
		case "version":
			c.Version = d.integer(v, p)
		case "listeners":
			c.Listeners = list(d, v, p, d.listener)
		case "admin":
			c.Admin = d.admin(v, p)
		case "access_log":
			d.accessLog(v, p, &c.AccessLog)
		case "drain_timeout":
			c.DrainTimeout = d.duration(v, p)
		case "upstreams":
			c.Upstreams = list(d, v, p, d.upstream)
		case "auth":
			c.Auth = list(d, v, p, d.auth)
		case "rate_limits":
			c.RateLimits = list(d, v, p, d.rateLimit)
		case "routes":
			c.Routes = list(d, v, p, d.route)
		}
	})
}

func (d *decoder) listener(n *yaml.Node, path string) Listener {
	l := Listener{Limits: defaultLimits(), Pos: posOf(n)}
	d.fields(n, path, []string{"name", "address", "protocols", "tls", "trusted_proxies", "limits"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "name":
			l.Name = d.str(v, p)
		case "address":
			l.Address = d.str(v, p)
		case "protocols":
			l.Protocols = d.strs(v, p)
		case "tls":
			l.TLS = d.listenerTLS(v, p)
		case "trusted_proxies":
			l.TrustedProxies = list(d, v, p, d.prefix)
			if l.TrustedProxies == nil && !isNull(deref(v)) {
				l.TrustedProxies = []netip.Prefix{}
			}
		case "limits":
			d.limits(v, p, &l.Limits)
		}
	})
	return l
}

// prefix parses a CIDR or a bare IP (a /32 or /128). Prefixes are masked
// so that "10.1.2.3/8" means 10.0.0.0/8.
func (d *decoder) prefix(n *yaml.Node, path string) netip.Prefix {
	s := d.str(n, path)
	if s == "" {
		d.errAt(path, "expected an IP address or CIDR prefix")
		return netip.Prefix{}
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			d.errAt(path, "invalid CIDR prefix %q", s)
			return netip.Prefix{}
		}
		return p.Masked()
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		d.errAt(path, "invalid IP address %q", s)
		return netip.Prefix{}
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen())
}

func (d *decoder) listenerTLS(n *yaml.Node, path string) *ListenerTLS {
	t := &ListenerTLS{MinVersion: DefaultMinTLSVersion, Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"certificates", "min_version", "client_auth"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "certificates":
			t.Certificates = list(d, v, p, d.certPair)
		case "min_version":
			t.MinVersion = d.str(v, p)
		case "client_auth":
			t.ClientAuth = d.clientAuth(v, p)
		}
	}) {
		return nil
	}
	return t
}

func (d *decoder) certPair(n *yaml.Node, path string) CertPair {
	c := CertPair{Pos: posOf(n)}
	d.fields(n, path, []string{"cert_file", "key_file"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "cert_file":
			c.CertFile = d.str(v, p)
		case "key_file":
			c.KeyFile = d.str(v, p)
		}
	})
	return c
}

func (d *decoder) clientAuth(n *yaml.Node, path string) *ClientAuth {
	c := &ClientAuth{Mode: DefaultClientAuthMode, Pos: posOf(deref(n))}
	d.fields(n, path, []string{"mode", "ca_file"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "mode":
			c.Mode = d.str(v, p)
		case "ca_file":
			c.CAFile = d.str(v, p)
		}
	})
	return c
}

func (d *decoder) limits(n *yaml.Node, path string, l *Limits) {
	l.Pos = posOf(deref(n))
	d.fields(n, path, []string{"max_connections", "max_header_bytes", "header_timeout", "idle_timeout", "max_body_bytes", "h2_max_concurrent_streams"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "max_connections":
			l.MaxConnections = d.integer(v, p)
		case "max_header_bytes":
			l.MaxHeaderBytes = d.size(v, p)
		case "header_timeout":
			l.HeaderTimeout = d.duration(v, p)
		case "idle_timeout":
			l.IdleTimeout = d.duration(v, p)
		case "max_body_bytes":
			l.MaxBodyBytes = d.size(v, p)
		case "h2_max_concurrent_streams":
			l.H2MaxConcurrentStreams = d.integer(v, p)
		}
	})
}

func (d *decoder) admin(n *yaml.Node, path string) *Admin {
	a := &Admin{Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"address"}, func(key string, v *yaml.Node, p string) {
		a.Address = d.str(v, p)
	}) {
		return nil
	}
	return a
}

func (d *decoder) accessLog(n *yaml.Node, path string, a *AccessLog) {
	a.Pos = posOf(deref(n))
	d.fields(n, path, []string{"path"}, func(key string, v *yaml.Node, p string) {
		a.Path = d.str(v, p)
	})
}

func (d *decoder) upstream(n *yaml.Node, path string) Upstream {
	u := Upstream{
		Balancer:       DefaultBalancer,
		ConnectTimeout: DefaultConnectTimeout,
		MaxIdleConns:   DefaultMaxIdleConns,
		Pos:            posOf(n),
	}
	d.fields(n, path, []string{"name", "targets", "balancer", "hash_on", "connect_timeout", "max_idle_conns", "max_conns", "health_check", "outlier", "tls"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "name":
			u.Name = d.str(v, p)
		case "targets":
			u.Targets = list(d, v, p, d.target)
		case "balancer":
			u.Balancer = d.str(v, p)
		case "hash_on":
			u.HashOn = d.str(v, p)
		case "connect_timeout":
			u.ConnectTimeout = d.duration(v, p)
		case "max_idle_conns":
			u.MaxIdleConns = d.integer(v, p)
		case "max_conns":
			u.MaxConns = d.integer(v, p)
		case "health_check":
			u.HealthCheck = d.healthCheck(v, p)
		case "outlier":
			u.Outlier = d.outlier(v, p)
		case "tls":
			u.TLS = d.upstreamTLS(v, p)
		}
	})
	return u
}

func (d *decoder) target(n *yaml.Node, path string) Target {
	t := Target{Weight: DefaultWeight, Pos: posOf(n)}
	d.fields(n, path, []string{"address", "weight"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "address":
			t.Address = d.str(v, p)
		case "weight":
			t.Weight = d.integer(v, p)
		}
	})
	return t
}

func (d *decoder) healthCheck(n *yaml.Node, path string) *HealthCheck {
	h := &HealthCheck{
		Interval:           DefaultHealthInterval,
		Timeout:            DefaultHealthTimeout,
		HealthyThreshold:   DefaultHealthyThreshold,
		UnhealthyThreshold: DefaultUnhealthyThreshold,
		Pos:                posOf(deref(n)),
	}
	timeoutSet := false
	if !d.fields(n, path, []string{"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "path":
			h.Path = d.str(v, p)
		case "interval":
			h.Interval = d.duration(v, p)
		case "timeout":
			h.Timeout = d.duration(v, p)
			timeoutSet = true
		case "healthy_threshold":
			h.HealthyThreshold = d.integer(v, p)
		case "unhealthy_threshold":
			h.UnhealthyThreshold = d.integer(v, p)
		}
	}) {
		return nil
	}
	if !timeoutSet && h.Interval > 0 && h.Timeout > h.Interval {
		h.Timeout = h.Interval // the default never outlasts the interval
	}
	return h
}

func (d *decoder) outlier(n *yaml.Node, path string) *Outlier {
	o := &Outlier{ConsecutiveFailures: DefaultOutlierConsecutiveFailures, BaseEjection: DefaultOutlierBaseEjection, Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"consecutive_failures", "base_ejection"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "consecutive_failures":
			o.ConsecutiveFailures = d.integer(v, p)
		case "base_ejection":
			o.BaseEjection = d.duration(v, p)
		}
	}) {
		return nil
	}
	return o
}

func (d *decoder) upstreamTLS(n *yaml.Node, path string) *UpstreamTLS {
	t := &UpstreamTLS{Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"server_name", "ca_file"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "server_name":
			t.ServerName = d.str(v, p)
		case "ca_file":
			t.CAFile = d.str(v, p)
		}
	}) {
		return nil
	}
	return t
}

var authKeys = []string{"name", "type", "jwks_url", "jwks_file", "issuer", "audiences", "algorithms", "hmac_secret_file", "leeway", "jwks_refresh", "jwks_ca_file", "token_from", "consumer_claim", "tenant_claim", "scope_claim", "from", "keys"}

// jwtOnly and apiKeyOnly are the fields that make sense for one type only;
// setting them on the other type is reported rather than ignored.
var (
	jwtOnly    = authKeys[2:15]
	apiKeyOnly = authKeys[15:]
)

func (d *decoder) auth(n *yaml.Node, path string) Auth {
	a := Auth{Pos: posOf(n)}
	d.fields(n, path, authKeys, func(key string, v *yaml.Node, p string) {
		switch key {
		case "name":
			a.Name = d.str(v, p)
		case "type":
			a.Type = d.str(v, p)
		case "jwks_url":
			a.JWKSURL = d.str(v, p)
		case "jwks_file":
			a.JWKSFile = d.str(v, p)
		case "issuer":
			a.Issuer = d.str(v, p)
		case "audiences":
			a.Audiences = d.strs(v, p)
		case "algorithms":
			a.Algorithms = d.strs(v, p)
		case "hmac_secret_file":
			a.HMACSecretFile = d.str(v, p)
		case "leeway":
			a.Leeway = d.duration(v, p)
		case "jwks_refresh":
			a.JWKSRefresh = d.duration(v, p)
		case "jwks_ca_file":
			a.JWKSCAFile = d.str(v, p)
		case "token_from":
			a.TokenFrom = d.strs(v, p)
		case "consumer_claim":
			a.ConsumerClaim = d.str(v, p)
		case "tenant_claim":
			a.TenantClaim = d.str(v, p)
		case "scope_claim":
			a.ScopeClaim = d.str(v, p)
		case "from":
			a.From = d.str(v, p)
		case "keys":
			a.Keys = list(d, v, p, d.apiKey)
		}
	})
	return a
}

func (d *decoder) apiKey(n *yaml.Node, path string) APIKey {
	k := APIKey{Pos: posOf(n)}
	d.fields(n, path, []string{"consumer", "tenant", "sha256"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "consumer":
			k.Consumer = d.str(v, p)
		case "tenant":
			k.Tenant = d.str(v, p)
		case "sha256":
			k.SHA256 = strings.ToLower(d.str(v, p))
		}
	})
	return k
}

func (d *decoder) rateLimit(n *yaml.Node, path string) RateLimit {
	r := RateLimit{Pos: posOf(n)}
	d.fields(n, path, []string{"name", "key", "rate", "burst"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "name":
			r.Name = d.str(v, p)
		case "key":
			r.Key = d.str(v, p)
		case "rate":
			r.Rate = d.rate(v, p)
		case "burst":
			r.Burst = d.integer(v, p)
		}
	})
	return r
}

func (d *decoder) route(n *yaml.Node, path string) Route {
	r := Route{Timeout: DefaultRouteTimeout, Pos: posOf(n)}
	d.fields(n, path, []string{"name", "match", "auth", "scopes", "rate_limits", "upstream", "split", "direct_response", "aggregate", "rewrite", "request_headers", "response_headers", "timeout", "retries", "max_body_bytes", "compress"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "name":
			r.Name = d.str(v, p)
		case "match":
			d.match(v, p, &r.Match)
		case "auth":
			r.Auth = d.strs(v, p)
		case "scopes":
			r.Scopes = d.strs(v, p)
		case "rate_limits":
			r.RateLimits = d.strs(v, p)
		case "upstream":
			r.Upstream = d.str(v, p)
		case "split":
			r.Split = list(d, v, p, d.splitTarget)
		case "direct_response":
			r.DirectResponse = d.directResponse(v, p)
		case "aggregate":
			// In the schema so that files written for a later version get
			// a clear refusal instead of "unknown field"; see validate.
		case "rewrite":
			r.Rewrite = d.rewrite(v, p)
		case "request_headers":
			r.RequestHeaders = d.headerOps(v, p)
		case "response_headers":
			r.ResponseHeaders = d.headerOps(v, p)
		case "timeout":
			r.Timeout = d.duration(v, p)
		case "retries":
			r.Retries = d.retries(v, p)
		case "max_body_bytes":
			r.MaxBodyBytes = d.size(v, p)
		case "compress":
			r.Compress = d.strs(v, p)
		}
	})
	return r
}

func (d *decoder) match(n *yaml.Node, path string, m *Match) {
	m.Pos = posOf(deref(n))
	d.fields(n, path, []string{"hosts", "path", "path_prefix", "methods", "headers"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "hosts":
			m.Hosts = d.strs(v, p)
			for i, h := range m.Hosts {
				m.Hosts[i] = strings.ToLower(h)
			}
		case "path":
			m.Path = d.str(v, p)
		case "path_prefix":
			m.PathPrefix = d.str(v, p)
		case "methods":
			m.Methods = d.strs(v, p)
		case "headers":
			m.Headers, m.HeaderList = d.headerMap(v, p)
		}
	})
}

func (d *decoder) splitTarget(n *yaml.Node, path string) SplitTarget {
	s := SplitTarget{Pos: posOf(n)}
	d.fields(n, path, []string{"upstream", "weight"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "upstream":
			s.Upstream = d.str(v, p)
		case "weight":
			s.Weight = d.integer(v, p)
		}
	})
	return s
}

func (d *decoder) directResponse(n *yaml.Node, path string) *DirectResponse {
	r := &DirectResponse{Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"status", "body", "content_type"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "status":
			r.Status = d.integer(v, p)
		case "body":
			r.Body = d.str(v, p)
		case "content_type":
			r.ContentType = d.str(v, p)
		}
	}) {
		return nil
	}
	return r
}

func (d *decoder) rewrite(n *yaml.Node, path string) *Rewrite {
	r := &Rewrite{Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"strip_prefix", "add_prefix", "host"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "strip_prefix":
			r.StripPrefix = d.str(v, p)
		case "add_prefix":
			r.AddPrefix = d.str(v, p)
		case "host":
			r.Host = d.str(v, p)
		}
	}) {
		return nil
	}
	return r
}

func (d *decoder) headerOps(n *yaml.Node, path string) *HeaderOps {
	h := &HeaderOps{Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"set", "add", "remove"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "set":
			h.Set, h.SetList = d.headerMap(v, p)
		case "add":
			h.Add, h.AddList = d.headerMap(v, p)
		case "remove":
			h.Remove = d.strs(v, p)
		}
	}) {
		return nil
	}
	return h
}

func (d *decoder) retries(n *yaml.Node, path string) *Retries {
	r := &Retries{Pos: posOf(deref(n))}
	if !d.fields(n, path, []string{"attempts", "on"}, func(key string, v *yaml.Node, p string) {
		switch key {
		case "attempts":
			r.Attempts = d.integer(v, p)
		case "on":
			r.On = d.strs(v, p)
		}
	}) {
		return nil
	}
	return r
}
