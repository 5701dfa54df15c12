package edge

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/portico-gw/portico/balancer"
	"github.com/portico-gw/portico/edge/config"
	"github.com/portico-gw/portico/edge/router"
	edgetls "github.com/portico-gw/portico/tls"
)

// snapshot is one compiled, immutable route file. A request uses the snapshot
// that was current when its head was parsed; reload swaps in a new one with
// atomic.Pointer (DESIGN.md principle 4).
type snapshot struct {
	cfg       *config.Config
	listeners map[string]*listenerSnap // by listener name
	routes    []*route
	table     *router.Table
	upstreams map[string]*upstreamRT
	auth      map[string]*authRT
	limits    map[string]*limitRT
	sha256    string
	gen       uint64 // 1 for the first snapshot, one more per reload
}

// listenerSnap is the per-listener part of a snapshot (limits can change on
// reload; the bound address cannot).
type listenerSnap struct {
	name           string
	maxConnections int64
	maxHeaderBytes int
	headerTimeout  time.Duration
	idleTimeout    time.Duration
	maxBodyBytes   int64
	trusted        []netip.Prefix
	proto          []byte // X-Forwarded-Proto value
	http1          bool   // protocols include http1
	h2c            bool   // protocols include h2c (prior knowledge)
	h2             bool   // protocols include h2 (ALPN, TLS listeners)
	h2MaxStreams   int
	tls            *edgetls.Server // nil: plaintext
}

type headerOp struct {
	name  string
	value string
}

type headerOps struct {
	set    []headerOp
	add    []headerOp
	remove []string
	// The route sets or removes X-Forwarded-Proto / -Host: the gateway's
	// own line is left out (a set value then comes from set).
	ownProto, ownHost bool
	// Fields Portico writes itself that the route's response ops set,
	// add or remove: Portico's own line is then left out, so that set
	// replaces it and remove removes it (duplicate Date or Content-Type
	// fields are invalid): Date, a direct response's Content-Type, and
	// the RateLimit-* fields (ownRateLimit: rlLimit, rlRemaining, rlReset
	// bits; a 429's own are always sent).
	ownDate, ownContentType bool
	ownRateLimit            uint8
	// The route sets or adds Content-Encoding (response ops): the body
	// is not compressed again under it.
	ownEncoding bool
}

// requestNames and responseNames read a route's lists (route.reqNames),
// or none (nil route).
func (r *route) requestNames() []string {
	if r == nil {
		return nil
	}
	return r.reqNames
}

func (r *route) responseNames() []string {
	if r == nil {
		return nil
	}
	return r.respNames
}

// dashNames spells the names with '-' for '_', in place, as a trailer's
// or twin's name is compared (trailerForwarded, twinOf).
func dashNames(names []string) []string {
	for i, n := range names {
		names[i] = strings.ReplaceAll(n, "_", "-")
	}
	return names
}

// upstreams lists the upstreams a route may send to.
func (r *route) upstreams() []*upstreamRT {
	var out []*upstreamRT
	if r.upstream != nil {
		out = append(out, r.upstream)
	}
	for _, sp := range r.split {
		out = append(out, sp.upstream)
	}
	return out
}

// names appends the field names the ops set, add or remove.
func (o *headerOps) names(dst []string) []string {
	for _, op := range o.set {
		dst = append(dst, op.name)
	}
	for _, op := range o.add {
		dst = append(dst, op.name)
	}
	return append(dst, o.remove...)
}

// route is a compiled route: everything a request needs, resolved at load.
type route struct {
	name       string
	upstream   *upstreamRT
	split      []splitEntry
	splitTotal int
	direct     *directResponse
	auth       *routeAuth // nil: public
	limits     []routeLimit

	stripPrefix string
	addPrefix   string
	hostRewrite string
	reqHeaders  headerOps
	respHeaders headerOps
	timeout     time.Duration
	maxBody     int64 // 0: the listener's default

	retryAttempts int
	retryOn       retryMask

	compress []uint8 // response codings in the route's preference order

	// The field names the route acts on: in a request, the headers its
	// auth reads credentials from, its match, rate-limit keys and
	// upstream hashing read, and its request_headers set, add or remove;
	// in a response, those its response_headers name. Spelled with '-'
	// for '_'. A trailer never carries them, nor the request head their
	// '_' twins: an application that merges trailers into headers, or
	// reads X_API_Key as X-API-Key (CGI), would read a client's copy
	// instead of what the gateway checked or set.
	reqNames, respNames []string

	metrics *routeMetrics
}

type retryMask uint8

const (
	retryConnectFailure retryMask = 1 << iota
	retryReset
	retry502
	retry503
	retry504
)

type splitEntry struct {
	upstream *upstreamRT
	cumul    int
}

type directResponse struct {
	status      int
	body        string
	contentType string
}

// upstreamRT is a compiled upstream: its balancer pool (shared by all loops,
// atomics inside) and what the per-loop connection pools need.
type upstreamRT struct {
	name           string
	pool           *balancer.Pool
	connectTimeout time.Duration
	maxIdle        int
	hashOn         int                    // consistent_hash key kind (hashIP, ...); hashNone otherwise
	hashName       string                 // header or cookie name for hashHeader / hashCookie
	tlsConfigs     map[string]*tls.Config // per target address; nil: plaintext
	tlsIDs         map[string]string      // per target address: what its config was built from (upstreamTLSIdentity)
	addrs          map[string]bool        // the targets' addresses (the loops' pool sweep)
	gen            uint64                 // the snapshot's generation
	duration       *metrics.PrometheusHistogram
	// defaultHost is the Host sent upstream for a client request that had
	// none (HTTP/1.0 may omit it): the TLS server_name, else the first
	// target's address. An empty Host is valid HTTP/1.1 but common
	// origins (nginx among them) refuse it with 400.
	defaultHost string
	// retried: some route retries requests to this upstream, so every
	// request to it earns the retry budget its share (one atomic add,
	// spared where nothing can spend it).
	retried bool
}

func upstreamDefaultHost(u *config.Upstream) string {
	if u.TLS != nil && u.TLS.ServerName != "" {
		return u.TLS.ServerName
	}
	if len(u.Targets) > 0 {
		return u.Targets[0].Address
	}
	return ""
}

// pickUpstream resolves a split route to one upstream by weight.
func (r *route) pickUpstream() *upstreamRT {
	if r.upstream != nil || len(r.split) == 0 {
		return r.upstream
	}
	n := rand.IntN(r.splitTotal)
	for i := range r.split {
		if n < r.split[i].cumul {
			return r.split[i].upstream
		}
	}
	return r.split[len(r.split)-1].upstream
}

// compile turns a validated config into a snapshot. prev, when non-nil, lends
// each upstream's new balancer pool the per-target state of the old one
// (balancer.NewPool), so health, ejection and in-flight counts of targets
// that stay survive a reload; the pool itself (its health checkers and
// retry budget) is new.
func compile(cfg *config.Config, prev *snapshot, m *metricsRegistry, log *slog.Logger) (*snapshot, error) {
	var problems []config.Problem
	bad := func(path, format string, args ...any) {
		problems = append(problems, cfg.Problem(path, format, args...))
	}

	s := &snapshot{
		cfg:       cfg,
		listeners: make(map[string]*listenerSnap, len(cfg.Listeners)),
		upstreams: make(map[string]*upstreamRT, len(cfg.Upstreams)),
		sha256:    cfg.SHA256,
		gen:       1,
	}
	if prev != nil {
		s.gen = prev.gen + 1
	}
	if s.sha256 == "" {
		sum := sha256.Sum256([]byte(fmt.Sprintf("%p", cfg)))
		s.sha256 = hex.EncodeToString(sum[:])
	}

	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		ls := &listenerSnap{
			name: l.Name,

			maxConnections: int64(l.Limits.MaxConnections),
			maxHeaderBytes: int(l.Limits.MaxHeaderBytes),
			headerTimeout:  time.Duration(l.Limits.HeaderTimeout),
			idleTimeout:    time.Duration(l.Limits.IdleTimeout),
			maxBodyBytes:   int64(l.Limits.MaxBodyBytes),
			trusted:        l.TrustedProxies,
			proto:          []byte("http"),
		}
		if l.TLS != nil {
			ls.proto = []byte("https")
		}
		ls.h2MaxStreams = l.Limits.H2MaxConcurrentStreams
		if l.TLS != nil {
			srv, err := compileListenerTLS(l, prev)
			if err != nil {
				bad(fmt.Sprintf("listeners[%d].tls", i), "%v", err)
			}
			ls.tls = srv
		}
		for _, p := range l.Protocols {
			switch p {
			case "http1":
				ls.http1 = true
			case "h2c":
				ls.h2c = true
			case "h2":
				ls.h2 = true
			}
		}
		s.listeners[l.Name] = ls
	}

	for i := range cfg.Upstreams {
		u := &cfg.Upstreams[i]
		var tlsConfigs map[string]*tls.Config
		var tlsIDs map[string]string
		if u.TLS != nil {
			tlsConfigs = make(map[string]*tls.Config, len(u.Targets))
			tlsIDs = make(map[string]string, len(u.Targets))
			for _, t := range u.Targets {
				name := u.TLS.ServerName
				if name == "" {
					name, _, _ = net.SplitHostPort(t.Address)
				}
				id := upstreamTLSIdentity(name, u.TLS.CAFile)
				tlsIDs[t.Address] = id
				if prev != nil {
					// Unchanged settings keep their config, and with it the
					// pooled connections and the session cache.
					if pu := prev.upstreams[u.Name]; pu != nil && pu.tlsIDs[t.Address] == id && pu.tlsConfigs[t.Address] != nil {
						tlsConfigs[t.Address] = pu.tlsConfigs[t.Address]
						continue
					}
				}
				cfg, err := edgetls.NewClientConfig(name, u.TLS.CAFile)
				if err != nil {
					bad(fmt.Sprintf("upstreams[%d].tls", i), "%v", err)
					break
				}
				tlsConfigs[t.Address] = cfg
			}
		}
		var prevPool *balancer.Pool
		if prev != nil {
			if pu := prev.upstreams[u.Name]; pu != nil {
				prevPool = pu.pool
			}
		}
		upstreamName := u.Name
		pc := balancer.PoolConfig{
			Name:      u.Name,
			Algorithm: u.Balancer,
			MaxConns:  u.MaxConns,
			// Health flips are logged (from the checker goroutine, never a
			// loop): an operator sees a target leave and rejoin without
			// scraping /metrics.
			OnChange: func(t *balancer.Target, healthy bool) {
				if healthy {
					log.Info("upstream target healthy again", "upstream", upstreamName, "target", t.Address())
				} else {
					log.Warn("upstream target unhealthy", "upstream", upstreamName, "target", t.Address(), "error", t.LastCheckError())
				}
			},
			// Ejections too: at most one per target per ejection time, and
			// the log writer never blocks the loop that reports it.
			OnEject: func(t *balancer.Target, d time.Duration) {
				log.Warn("upstream target ejected after consecutive failures", "upstream", upstreamName, "target", t.Address(), "for", d.String())
			},
		}
		for _, t := range u.Targets {
			pc.Targets = append(pc.Targets, balancer.TargetConfig{Address: t.Address, Weight: t.Weight})
		}
		if hc := u.HealthCheck; hc != nil {
			var hcTLS *tls.Config
			for _, c := range tlsConfigs {
				hcTLS = c.Clone()
				if u.TLS.ServerName == "" {
					hcTLS.ServerName = "" // each check verifies its own target's host
				}
				break
			}
			pc.HealthCheck = &balancer.HealthCheckConfig{
				TLS:                hcTLS,
				Path:               hc.Path,
				Interval:           time.Duration(hc.Interval),
				Timeout:            time.Duration(hc.Timeout),
				HealthyThreshold:   hc.HealthyThreshold,
				UnhealthyThreshold: hc.UnhealthyThreshold,
			}
		}
		if o := u.Outlier; o != nil {
			pc.Outlier = &balancer.OutlierConfig{
				ConsecutiveFailures: o.ConsecutiveFailures,
				BaseEjection:        time.Duration(o.BaseEjection),
			}
		}
		pool, err := balancer.NewPool(pc, prevPool)
		if err != nil {
			bad(fmt.Sprintf("upstreams[%d]", i), "%v", err)
			continue
		}
		urt := &upstreamRT{
			gen:            s.gen,
			name:           u.Name,
			pool:           pool,
			connectTimeout: time.Duration(u.ConnectTimeout),
			maxIdle:        u.MaxIdleConns,
			duration:       m.upstreamDuration(u.Name),
			tlsConfigs:     tlsConfigs,
			tlsIDs:         tlsIDs,
			defaultHost:    upstreamDefaultHost(u),
			addrs:          make(map[string]bool, len(u.Targets)),
		}
		for _, t := range u.Targets {
			urt.addrs[t.Address] = true
		}
		if u.Balancer == "consistent_hash" {
			urt.hashOn, urt.hashName = parseHashOn(u.HashOn)
		}
		s.upstreams[u.Name] = urt
	}

	s.auth = compileAuth(cfg, prev, log, bad)
	s.limits = compileLimits(cfg, prev, bad)
	// What the file defines: a name it defines but the snapshot lacks
	// failed to build, which is reported at its definition, not again at
	// every route that uses it.
	defined := make(map[string]bool, len(cfg.Upstreams)+len(cfg.Auth)+len(cfg.RateLimits))
	for _, u := range cfg.Upstreams {
		defined["upstream:"+u.Name] = true
	}
	for _, a := range cfg.Auth {
		defined["auth:"+a.Name] = true
	}
	for _, l := range cfg.RateLimits {
		defined["limit:"+l.Name] = true
	}

	matches := make([]router.Match, 0, len(cfg.Routes))
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		r := &route{
			name:     rc.Name,
			timeout:  time.Duration(rc.Timeout),
			maxBody:  int64(rc.MaxBodyBytes),
			upstream: s.upstreams[rc.Upstream],
		}
		if len(rc.Auth) > 0 {
			var methods []*authRT
			for j, name := range rc.Auth {
				a := s.auth[name]
				if a == nil {
					if !defined["auth:"+name] {
						bad(fmt.Sprintf("routes[%d].auth[%d]", i, j), "auth %q is not defined", name)
					}
					continue
				}
				methods = append(methods, a)
			}
			r.auth = newRouteAuth(rc.Name, methods, rc.Scopes, m)
		} else if len(rc.Scopes) > 0 {
			bad(fmt.Sprintf("routes[%d].scopes", i), "scopes need auth on the route")
		}
		r.limits = newRouteLimits(rc.Name, rc.RateLimits, s.limits, defined, m, bad, i)
		upstreamFailed := false // the route names an upstream that failed to build
		if rc.Upstream != "" && r.upstream == nil {
			if upstreamFailed = defined["upstream:"+rc.Upstream]; !upstreamFailed {
				bad(fmt.Sprintf("routes[%d].upstream", i), "upstream %q is not defined", rc.Upstream)
			}
		}
		for _, sp := range rc.Split {
			u := s.upstreams[sp.Upstream]
			if u == nil {
				if defined["upstream:"+sp.Upstream] {
					upstreamFailed = true
				} else {
					bad(fmt.Sprintf("routes[%d].split", i), "upstream %q is not defined", sp.Upstream)
				}
				continue
			}
			r.splitTotal += sp.Weight
			r.split = append(r.split, splitEntry{upstream: u, cumul: r.splitTotal})
		}
		if d := rc.DirectResponse; d != nil {
			ct := d.ContentType
			if ct == "" {
				ct = "text/plain; charset=utf-8"
			}
			r.direct = &directResponse{status: d.Status, body: d.Body, contentType: ct}
		}
		if r.upstream == nil && len(r.split) == 0 && r.direct == nil && !upstreamFailed {
			bad(fmt.Sprintf("routes[%d]", i), "no upstream, split or direct_response to serve it")
		}
		if rw := rc.Rewrite; rw != nil {
			r.stripPrefix, r.addPrefix, r.hostRewrite = rw.StripPrefix, rw.AddPrefix, rw.Host
		}
		for _, c := range rc.Compress {
			if enc := encodingID(c); enc != encIdentity {
				r.compress = append(r.compress, enc)
			}
		}
		r.reqHeaders = compileHeaderOps(rc.RequestHeaders)
		r.respHeaders = compileHeaderOps(rc.ResponseHeaders)
		if r.respHeaders.ownEncoding {
			// The route states the body's coding itself: encoding it
			// again would make that statement false (or doubly encode).
			r.compress = nil
		}
		if rt := rc.Retries; rt != nil {
			if rt.Attempts > 0 {
				if r.upstream != nil {
					r.upstream.retried = true
				}
				for _, sp := range r.split {
					sp.upstream.retried = true
				}
			}
			r.retryAttempts = rt.Attempts
			for _, on := range rt.On {
				switch on {
				case "connect_failure":
					r.retryOn |= retryConnectFailure
				case "reset":
					r.retryOn |= retryReset
				case "502":
					r.retryOn |= retry502
				case "503":
					r.retryOn |= retry503
				case "504":
					r.retryOn |= retry504
				}
			}
		}
		r.reqNames = r.reqHeaders.names(nil)
		if r.auth != nil {
			for _, h := range r.auth.credHeaders {
				r.reqNames = append(r.reqNames, h.name)
			}
		}
		for _, h := range rc.Match.HeaderList {
			r.reqNames = append(r.reqNames, h.Name)
		}
		for _, l := range r.limits {
			if l.lim != nil && l.lim.kind == keyHeader {
				r.reqNames = append(r.reqNames, l.lim.header)
			}
		}
		for _, u := range r.upstreams() {
			if u.hashOn == hashHeader {
				r.reqNames = append(r.reqNames, u.hashName)
			}
		}
		dashNames(r.reqNames)
		r.respNames = dashNames(r.respHeaders.names(nil))
		r.metrics = m.route(rc.Name)
		s.routes = append(s.routes, r)
		mt := router.Match{
			Hosts:      rc.Match.Hosts,
			Path:       rc.Match.Path,
			PathPrefix: rc.Match.PathPrefix,
			Methods:    rc.Match.Methods,
		}
		for _, h := range rc.Match.HeaderList {
			mt.Headers = append(mt.Headers, router.HeaderMatch{Name: h.Name, Value: h.Value})
		}
		matches = append(matches, mt)
	}
	if len(problems) > 0 {
		errs := &config.Errors{Problems: problems}
		errs.Sort()
		return nil, errs
	}
	table, err := router.Compile(matches)
	if err != nil {
		return nil, fmt.Errorf("cannot compile routes: %w", err)
	}
	s.table = table
	return s, nil
}

func compileHeaderOps(h *config.HeaderOps) headerOps {
	var ops headerOps
	if h == nil {
		return ops
	}
	for _, kv := range h.SetList {
		ops.set = append(ops.set, headerOp{name: kv.Name, value: kv.Value})
	}
	for _, kv := range h.AddList {
		ops.add = append(ops.add, headerOp{name: kv.Name, value: kv.Value})
	}
	ops.remove = append(ops.remove, h.Remove...)
	for _, name := range h.Remove {
		ops.ownProto = ops.ownProto || strings.EqualFold(name, "X-Forwarded-Proto")
		ops.ownHost = ops.ownHost || strings.EqualFold(name, "X-Forwarded-Host")
	}
	for _, kv := range h.SetList {
		ops.ownProto = ops.ownProto || strings.EqualFold(kv.Name, "X-Forwarded-Proto")
		ops.ownHost = ops.ownHost || strings.EqualFold(kv.Name, "X-Forwarded-Host")
	}
	touched := slices.Clone(h.Remove)
	for _, kv := range append(slices.Clip(h.SetList), h.AddList...) {
		ops.ownEncoding = ops.ownEncoding || strings.EqualFold(kv.Name, "Content-Encoding")
		touched = append(touched, kv.Name)
	}
	for _, name := range touched {
		ops.ownDate = ops.ownDate || strings.EqualFold(name, "Date")
		ops.ownContentType = ops.ownContentType || strings.EqualFold(name, "Content-Type")
		for bit, f := range rateLimitFields {
			if strings.EqualFold(name, f) {
				ops.ownRateLimit |= 1 << bit
			}
		}
	}
	return ops
}

// rateLimitFields are the fields appendRateLimitHeaders writes, in the
// order of headerOps.ownRateLimit's bits.
var rateLimitFields = [...]string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}

const (
	rlLimit uint8 = 1 << iota
	rlRemaining
	rlReset
)

// Check compiles cfg without serving it: what `portico validate` runs after
// the route file itself validated, so features that are parsed but not served
// yet are reported instead of silently ignored.
func Check(cfg *config.Config) error {
	_, bindErr := resolveBinds(cfg) // run resolves them before binding
	snap, err := compile(cfg, nil, newMetricsRegistry(), slog.New(slog.DiscardHandler))
	if snap != nil {
		for _, a := range snap.auth {
			if a.jwt != nil {
				a.jwt.Close()
			}
		}
	}
	// Every problem, those of both steps (validate prints them all).
	var be, ce *config.Errors
	switch {
	case bindErr == nil:
		return err
	case err == nil:
		return bindErr
	case errors.As(bindErr, &be) && errors.As(err, &ce):
		all := &config.Errors{Problems: append(slices.Clone(be.Problems), ce.Problems...)}
		all.Sort()
		return all
	}
	return bindErr
}

// compileListenerTLS loads a TLS listener's certificates. The previous
// snapshot's server lends its session ticket keys, so resumption survives a
// reload; new handshakes use the new certificates, established connections
// keep theirs.
func compileListenerTLS(l *config.Listener, prev *snapshot) (*edgetls.Server, error) {
	cfg := edgetls.ServerConfig{
		MinVersion:     l.TLS.MinVersion,
		ClientAuthMode: "none",
	}
	for _, c := range l.TLS.Certificates {
		cfg.Certificates = append(cfg.Certificates, edgetls.CertFiles{CertFile: c.CertFile, KeyFile: c.KeyFile})
	}
	if ca := l.TLS.ClientAuth; ca != nil {
		cfg.ClientAuthMode, cfg.ClientCAFile = ca.Mode, ca.CAFile
	}
	for _, p := range []string{"h2", "http1"} { // h2 preferred when offered
		for _, lp := range l.Protocols {
			if lp == p {
				if p == "http1" {
					p = "http/1.1"
				}
				cfg.ALPN = append(cfg.ALPN, p)
			}
		}
	}
	var prevSrv *edgetls.Server
	if prev != nil {
		if pl := prev.listeners[l.Name]; pl != nil {
			prevSrv = pl.tls
		}
	}
	return edgetls.NewServer(cfg, prevSrv)
}

// upstreamTLSIdentity names what an upstream TLS config is built from: the
// name verified and the trusted CAs, by content (a CA file replaced in
// place is a change). A reload keeps the config, and the connections made
// with it, only while this stays the same.
func upstreamTLSIdentity(serverName, caFile string) string {
	if caFile == "" {
		return serverName + "\x00system roots"
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return serverName + "\x00" + caFile + "\x00unreadable"
	}
	sum := sha256.Sum256(b)
	return serverName + "\x00" + caFile + "\x00" + hex.EncodeToString(sum[:])
}
