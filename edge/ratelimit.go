package edge

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/VictoriaMetrics/metrics"

	"github.com/portico-gw/portico/edge/config"
	"github.com/portico-gw/portico/limiter"
)

// Rate-limit key kinds (SPEC §2 rate_limits[].key).
const (
	keyIP = iota
	keyConsumer
	keyTenant
	keyRoute
	keyGlobal
	keyHeader
)

// limitRT is one compiled rate limit. Its buckets live in the limiter, which
// a reload keeps when the definition did not change.
type limitRT struct {
	name   string
	lim    *limiter.Limiter
	kind   int
	header string // for keyHeader
}

var globalKey = limiter.HashString("global")

func compileLimits(cfg *config.Config, prev *snapshot, bad func(path, format string, args ...any)) map[string]*limitRT {
	out := make(map[string]*limitRT, len(cfg.RateLimits))
	for i := range cfg.RateLimits {
		rl := &cfg.RateLimits[i]
		lc := limiter.Config{
			Name:   rl.Name,
			Key:    rl.Key,
			Rate:   rl.Rate.Count,
			Period: rl.Rate.Per,
			Burst:  int64(rl.Burst),
		}
		rt := &limitRT{name: rl.Name}
		switch {
		case rl.Key == "ip":
			rt.kind = keyIP
		case rl.Key == "consumer":
			rt.kind = keyConsumer
		case rl.Key == "tenant":
			rt.kind = keyTenant
		case rl.Key == "route":
			rt.kind = keyRoute
		case rl.Key == "global":
			rt.kind = keyGlobal
		case strings.HasPrefix(rl.Key, "header:"):
			rt.kind, rt.header = keyHeader, strings.TrimPrefix(rl.Key, "header:")
		default:
			bad(fmt.Sprintf("rate_limits[%d].key", i), "unknown key %q", rl.Key)
			continue
		}
		if prev != nil {
			if old := prev.limits[rl.Name]; old != nil && old.lim.SameDefinition(lc) {
				rt.lim = old.lim // buckets survive the reload
				out[rl.Name] = rt
				continue
			}
		}
		lim, err := limiter.New(lc)
		if err != nil {
			path := fmt.Sprintf("rate_limits[%d]", i)
			var ce *limiter.ConfigError
			if errors.As(err, &ce) && ce.Field != "" {
				path += "." + ce.Field
			}
			bad(path, "%v", err)
			continue
		}
		rt.lim = lim
		out[rl.Name] = rt
	}
	return out
}

// routeLimit is a limit as one route applies it, with its rejection counter.
type routeLimit struct {
	lim      *limitRT
	routeKey uint64
	rejected *metrics.Counter
}

// newRouteLimits resolves route i's limits. A name missing from limits is
// reported unless the file defines it ("limit:"+name in defined): then it
// failed to compile, and that failure is already reported at the limit.
func newRouteLimits(route string, names []string, limits map[string]*limitRT, defined map[string]bool, reg *metricsRegistry, bad func(string, string, ...any), i int) []routeLimit {
	var out []routeLimit
	for j, n := range names {
		l := limits[n]
		if l == nil {
			if !defined["limit:"+n] {
				bad(fmt.Sprintf("routes[%d].rate_limits[%d]", i, j), "rate limit %q is not defined", n)
			}
			continue
		}
		out = append(out, routeLimit{
			lim:      l,
			routeKey: limiter.HashString(route),
			rejected: reg.set.GetOrCreateCounter(`portico_ratelimit_rejected_total{route="` + escapeLabel(route) + `",limit="` + escapeLabel(n) + `"}`),
		})
	}
	return out
}

// limitKey is the bucket key of rl for this request, hashed.
func (cc *clientConn) limitKey(rl *routeLimit) uint64 {
	switch rl.lim.kind {
	case keyIP:
		return cc.clientAddrHash()
	case keyConsumer:
		if cc.id != nil && cc.id.Consumer != "" {
			return limiter.HashString(cc.id.Consumer)
		}
	case keyTenant:
		if cc.id != nil && cc.id.Tenant != "" {
			return limiter.HashString(cc.id.Tenant)
		}
	case keyRoute:
		return rl.routeKey
	case keyGlobal:
		return globalKey
	case keyHeader:
		if v, ok := cc.hdrs.Get(rl.lim.header); ok && len(v) > 0 {
			return limiter.Hash(v)
		}
	}
	return limiter.NoKeyHash
}

// checkLimits applies every limit of the route; the first exhausted answers
// 429, and the tokens the limits before it took are given back: only
// admitted requests count against a limit. Admitted requests remember the
// tightest decision for the RateLimit-* response headers. It reports
// whether the request may go on.
func (cc *clientConn) checkLimits(limits []routeLimit) bool {
	now := cc.lp.nanos()
	cc.hasLimit = false
	taken := cc.limitsTaken[:0]
	for i := range limits {
		rl := &limits[i]
		key := cc.limitKey(rl)
		d := rl.lim.lim.AllowHash(key, now)
		if !d.Allowed {
			for j, t := range taken {
				limits[j].lim.lim.RefundHash(t.key, t.d)
			}
			cc.limitsTaken = taken[:0]
			rl.rejected.Inc()
			cc.limit, cc.hasLimit = d, true
			cc.respondAndSkipBody(errRateLimited)
			return false
		}
		taken = append(taken, takenToken{key: key, d: d})
		if !cc.hasLimit || d.TighterThan(cc.limit) {
			cc.limit, cc.hasLimit = d, true
		}
	}
	cc.limitsTaken = taken[:0]
	return true
}

// takenToken is a token one limit of the route gave, kept until the
// route's last limit has decided.
type takenToken struct {
	key uint64
	d   limiter.Decision
}

// appendRateLimitHeaders adds RateLimit-Limit/-Remaining/-Reset (and
// Retry-After on a 429) for the decision the request carries. Each line
// ends with CRLF.
func (cc *clientConn) appendRateLimitHeaders(b []byte, routeOwns uint8) []byte {
	if !cc.hasLimit {
		return b
	}
	d := &cc.limit
	if !d.Allowed {
		b = append(b, "Retry-After: "...)
		b = strconv.AppendInt(b, max(d.RetryAfterSeconds, 1), 10)
		b = append(b, "\r\n"...)
	}
	if routeOwns&rlLimit == 0 {
		b = append(b, "RateLimit-Limit: "...)
		b = strconv.AppendInt(b, d.Limit, 10)
		b = append(b, "\r\n"...)
	}
	if routeOwns&rlRemaining == 0 {
		b = append(b, "RateLimit-Remaining: "...)
		b = strconv.AppendInt(b, d.Remaining, 10)
		b = append(b, "\r\n"...)
	}
	if routeOwns&rlReset == 0 {
		b = append(b, "RateLimit-Reset: "...)
		b = strconv.AppendInt(b, d.ResetSeconds, 10)
		b = append(b, "\r\n"...)
	}
	return b
}

// clientAddrHash is the limiter key of the client address. Without trusted
// proxies it is the peer's, hashed once per connection.
func (cc *clientConn) clientAddrHash() uint64 {
	if cc.ls == nil || len(cc.ls.trusted) == 0 || !trusted(cc.ls.trusted, cc.peer) {
		if cc.peerHash == 0 {
			cc.peerHash = limiter.HashString(cc.peerStr)
		}
		return cc.peerHash
	}
	return limiter.HashString(cc.clientAddr())
}
