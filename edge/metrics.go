package edge

import (
	"bytes"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	edgetls "github.com/portico-gw/portico/tls"
)

// metricsRegistry owns Portico's metric set. Handles are resolved when a
// snapshot compiles (per route, per upstream) so the request path only does
// atomic adds (DESIGN.md principle 10). One Set per server, not the package
// global, so tests can run several servers in one process.
type metricsRegistry struct {
	set *metrics.Set

	mu        sync.Mutex // guards the maps below; only taken at compile time
	routes    map[string]*routeMetrics
	upstreams map[string]*metrics.PrometheusHistogram
	healthy   map[string]bool // target_healthy series of the current snapshot
	// The names of the snapshot serving, by the label that carries them
	// (route, upstream, auth, limit), and when a reload removed the others
	// whose series are still exported (settle).
	live  map[string]map[string]bool
	stale map[string]map[string]time.Time
	// reloading is held by a reload from compile to settle: a scrape's
	// sweep, which would drop a stale name the compile is taking back
	// (and leave its new handles counting unseen), waits for none and
	// skips its turn instead.
	reloading sync.Mutex

	noRouteMetrics  atomic.Pointer[routeMetrics] // route "", resolved on first use
	reloadSuccess   *metrics.Counter
	reloadFailure   *metrics.Counter
	logDropped      func() uint64
	handshakeTotals func() edgetls.HandshakeStats // summed over loops (handshakeGauges)
}

func newMetricsRegistry() *metricsRegistry {
	// TYPE lines let Prometheus read the histograms as histograms; the
	// library keeps this switch process-wide, and Portico always wants it.
	metrics.ExposeMetadata(true)
	m := &metricsRegistry{
		set:       metrics.NewSet(),
		routes:    make(map[string]*routeMetrics),
		upstreams: make(map[string]*metrics.PrometheusHistogram),
		healthy:   make(map[string]bool),

		stale: make(map[string]map[string]time.Time),
	}
	for _, l := range sweptLabels {
		m.stale[l] = make(map[string]time.Time)
	}
	m.reloadSuccess = m.set.NewCounter(`portico_config_reloads_total{result="success"}`)
	m.reloadFailure = m.set.NewCounter(`portico_config_reloads_total{result="failure"}`)
	return m
}

// codeSlots bounds the distinct (listener, status) pairs cached per route;
// past it, lookups fall back to the Set's own map (still correct, slower).
const codeSlots = 64

// routeMetrics holds one route's handles. requests is a tiny lock-free
// open-addressed cache from (listener, status) to its counter.
type routeMetrics struct {
	reg      *metricsRegistry
	name     string
	duration *metrics.PrometheusHistogram
	requests [codeSlots]atomic.Pointer[codeCounter]
}

type codeCounter struct {
	listener string
	code     int
	c        *metrics.Counter
}

func (m *metricsRegistry) route(name string) *routeMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rm := m.routes[name]; rm != nil {
		return rm
	}
	rm := &routeMetrics{
		reg:      m,
		name:     name,
		duration: m.set.GetOrCreatePrometheusHistogram(`portico_http_request_duration_seconds{route="` + escapeLabel(name) + `"}`),
	}
	m.routes[name] = rm
	return rm
}

func (m *metricsRegistry) upstreamDuration(name string) *metrics.PrometheusHistogram {
	m.mu.Lock()
	defer m.mu.Unlock()
	if h := m.upstreams[name]; h != nil {
		return h
	}
	h := m.set.GetOrCreatePrometheusHistogram(`portico_upstream_request_duration_seconds{upstream="` + escapeLabel(name) + `"}`)
	m.upstreams[name] = h
	return h
}

// noRoute counts and times a request that matched no route (or failed
// before routing), under route "": every request counted in
// portico_http_requests_total is in the duration histogram too.
func (m *metricsRegistry) noRoute(listener string, code int, seconds float64) {
	rm := m.noRouteMetrics.Load()
	if rm == nil {
		rm = m.route("")
		m.noRouteMetrics.Store(rm)
	}
	rm.countRequest(listener, code)
	rm.duration.Update(seconds)
}

// countRequest increments portico_http_requests_total{listener,route,code}.
func (rm *routeMetrics) countRequest(listener string, code int) {
	h := (uint(code)*31 + uint(len(listener))*7 + uint(firstByte(listener))) % codeSlots
	for i := uint(0); i < codeSlots; i++ {
		slot := &rm.requests[(h+i)%codeSlots]
		cc := slot.Load()
		if cc == nil {
			cc = &codeCounter{listener: listener, code: code, c: rm.reg.requestCounter(listener, rm.name, code)}
			if slot.CompareAndSwap(nil, cc) {
				cc.c.Inc()
				return
			}
			cc = slot.Load()
		}
		if cc.code == code && cc.listener == listener {
			cc.c.Inc()
			return
		}
	}
	rm.reg.requestCounter(listener, rm.name, code).Inc()
}

func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

func (m *metricsRegistry) requestCounter(listener, route string, code int) *metrics.Counter {
	return m.set.GetOrCreateCounter(`portico_http_requests_total{listener="` + escapeLabel(listener) +
		`",route="` + escapeLabel(route) + `",code="` + strconv.Itoa(code) + `"}`)
}

// refusedCounter returns portico_connections_refused_total{listener}:
// connections closed at accept (over max_connections, or while draining).
func (m *metricsRegistry) refusedCounter(listener string) *metrics.Counter {
	return m.set.GetOrCreateCounter(`portico_connections_refused_total{listener="` + escapeLabel(listener) + `"}`)
}

// h2ErrorCounter returns portico_h2_connection_errors_total{listener,reason}:
// HTTP/2 connections ended with a GOAWAY carrying an error, by the
// defence or rule that ended them (rapid_reset, settings_flood, ...).
func (m *metricsRegistry) h2ErrorCounter(listener, reason string) *metrics.Counter {
	return m.set.GetOrCreateCounter(`portico_h2_connection_errors_total{listener="` + escapeLabel(listener) +
		`",reason="` + escapeLabel(reason) + `"}`)
}

// connectionsGauge registers portico_connections_active{listener} reading n.
func (m *metricsRegistry) connectionsGauge(listener string, n *atomic.Int64) {
	m.set.GetOrCreateGauge(`portico_connections_active{listener="`+escapeLabel(listener)+`"}`, func() float64 {
		return float64(n.Load())
	})
}

// handshakeGauges registers the TLS handshake cap's state summed over
// loops: the two gauges, and the counters writePrometheus writes with
// their counter type (the metrics library types a callback as a gauge).
func (m *metricsRegistry) handshakeGauges(s *Server) {
	m.handshakeTotals = func() edgetls.HandshakeStats {
		s.loopsMu.Lock()
		defer s.loopsMu.Unlock()
		var t edgetls.HandshakeStats
		for _, lp := range s.loopSeq {
			st := lp.handshakes.Stats()
			t.InFlight += st.InFlight
			t.Queued += st.Queued
			t.AwaitingPeer += st.AwaitingPeer
			t.TimedOut += st.TimedOut
			t.Refused += st.Refused
			t.Completed += st.Completed
			t.Failed += st.Failed
		}
		return t
	}
	m.set.NewGauge(`portico_tls_handshakes_in_flight`, func() float64 { return float64(m.handshakeTotals().InFlight) })
	m.set.NewGauge(`portico_tls_handshakes_queued`, func() float64 { return float64(m.handshakeTotals().Queued) })
	m.set.NewGauge(`portico_tls_handshakes_awaiting_peer`, func() float64 { return float64(m.handshakeTotals().AwaitingPeer) })
}

// healthTarget is one upstream target as portico_upstream_target_healthy
// exports it.
type healthTarget struct {
	upstream, target string
	healthy          func() bool
}

// setTargetHealth makes portico_upstream_target_healthy{upstream,target}
// cover exactly targets, the current snapshot's: a reload points kept names
// at the new pool's targets and drops the series of removed ones, which
// would otherwise report a state nobody checks any more.
func (m *metricsRegistry) setTargetHealth(targets []healthTarget) {
	m.mu.Lock()
	defer m.mu.Unlock()
	current := make(map[string]bool, len(targets))
	for _, t := range targets {
		name := `portico_upstream_target_healthy{upstream="` + escapeLabel(t.upstream) + `",target="` + escapeLabel(t.target) + `"}`
		current[name] = true
		healthy := t.healthy
		m.set.UnregisterMetric(name)
		m.set.NewGauge(name, func() float64 {
			if healthy() {
				return 1
			}
			return 0
		})
	}
	for name := range m.healthy {
		if !current[name] {
			m.set.UnregisterMetric(name)
		}
	}
	m.healthy = current
}

// staleGrace is how long the series of a route or upstream a reload
// removed are still exported. Dropped at once, the requests counted since
// the last scrape, and those the old snapshot was still finishing, were
// never seen (Prometheus scrapes every 15-60 s); a name put back within it
// continues its series instead of restarting from zero.
const staleGrace = 5 * time.Minute

// settle brings the exported series in line with a reload. applied: the
// snapshot naming routes and upstreams now serves; names the previous one
// had and this one lacks are kept for staleGrace. Not applied (the reload
// was refused while compiling): only the series the refused file
// registered are dropped. Either way, series of names neither live nor
// within their grace go: renamed or deleted routes would otherwise be
// scraped for ever.
func (m *metricsRegistry) settle(names liveNames, applied bool, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if applied {
		cur := map[string]map[string]bool{"route": names.routes, "upstream": names.upstreams, "auth": names.auth, "limit": names.limits}
		for _, l := range sweptLabels {
			markRemoved(m.live[l], cur[l], m.stale[l], now)
		}
		m.live = cur
	}
	m.sweepLocked(now)
}

// liveNames are the names a snapshot serves, by kind: the values of the
// route, upstream, auth and limit labels its series may carry.
type liveNames struct {
	routes, upstreams, auth, limits map[string]bool
}

// sweptLabels are the labels whose values come and go with reloads: a
// series whose value is neither live nor within its grace is dropped.
// (listener is not one: a reload cannot add listeners, so the retired are
// bounded by the first file.)
var sweptLabels = [...]string{"route", "upstream", "auth", "limit"}

// markRemoved records when the names of old missing from cur went, and
// forgets the removal of those cur has again.
func markRemoved(old, cur map[string]bool, stale map[string]time.Time, now time.Time) {
	for name := range old {
		if _, ok := stale[name]; !ok && !cur[name] {
			stale[name] = now
		}
	}
	for name := range cur {
		delete(stale, name)
	}
}

// sweepStale drops the series whose grace ran out; scrapes call it, so
// that they end without waiting for another reload.
func (m *metricsRegistry) sweepStale(now time.Time) {
	if !m.reloading.TryLock() {
		return
	}
	defer m.reloading.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range sweptLabels {
		if len(m.stale[l]) > 0 {
			m.sweepLocked(now)
			return
		}
	}
}

func (m *metricsRegistry) sweepLocked(now time.Time) {
	keep := func(label, name string) bool {
		if m.live[label][name] {
			return true
		}
		removed, ok := m.stale[label][name]
		return ok && now.Sub(removed) < staleGrace
	}
	for name := range m.routes {
		if name != "" && !keep("route", name) {
			delete(m.routes, name)
		}
	}
	for name := range m.upstreams {
		if !keep("upstream", name) {
			delete(m.upstreams, name)
		}
	}
	for _, series := range m.set.ListMetricNames() {
		for _, l := range sweptLabels {
			v, ok := labelValue(series, l)
			if !ok || l == "route" && v == "" || l == "upstream" && strings.HasPrefix(series, "portico_upstream_target_healthy{") {
				continue // route "" counts unrouted requests; target health has its own rule
			}
			if !keep(l, v) {
				m.set.UnregisterMetric(series)
				break
			}
		}
	}
	for _, stale := range m.stale {
		for name, removed := range stale {
			if now.Sub(removed) >= staleGrace {
				delete(stale, name)
			}
		}
	}
}

// labelValue returns the unescaped value of label in a series name such
// as `family{a="x",route="y"}`.
func labelValue(series, label string) (string, bool) {
	i := strings.Index(series, "{"+label+`="`)
	if i < 0 {
		i = strings.Index(series, ","+label+`="`)
	}
	if i < 0 {
		return "", false
	}
	v := series[i+len(label)+3:]
	var b strings.Builder
	for j := 0; j < len(v); j++ {
		switch c := v[j]; {
		case c == '\\' && j+1 < len(v):
			j++
			if v[j] == 'n' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(v[j])
			}
		case c == '"':
			return b.String(), true
		default:
			b.WriteByte(c)
		}
	}
	return "", false
}

// specFamilies are the metric families SPEC §5 says must exist, and the
// labelled ones of our own the README lists. A family with no series yet
// (no request served, no auth rejection, no upstream in the file, no
// HTTP/2 connection error) is still declared by its TYPE line, so a
// scrape of a fresh process lists every name (and alerts on absent()
// do not misread a quiet process).
var specFamilies = [...]struct{ name, typ string }{
	{"portico_http_requests_total", "counter"},
	{"portico_http_request_duration_seconds", "histogram"},
	{"portico_upstream_request_duration_seconds", "histogram"},
	{"portico_upstream_target_healthy", "gauge"},
	{"portico_connections_active", "gauge"},
	{"portico_auth_rejected_total", "counter"},
	{"portico_ratelimit_rejected_total", "counter"},
	{"portico_config_reloads_total", "counter"},
	{"portico_h2_connection_errors_total", "counter"},
}

// metricHelp is each family's HELP text: the metrics library writes HELP
// lines without any, which promtool's lint and people reading a scrape
// both miss.
var metricHelp = map[string]string{
	"portico_http_requests_total":               "Requests answered, by listener, route and status code.",
	"portico_http_request_duration_seconds":     "Time from a request's first byte to the end of its answer.",
	"portico_upstream_request_duration_seconds": "Time from sending a request upstream to its final response head (time to first byte).",
	"portico_upstream_target_healthy":           "1 while the target is in its pool's rotation, 0 while marked down.",
	"portico_connections_active":                "Client connections open now, by listener.",
	"portico_connections_refused_total":         "Client connections closed at accept: the listener was at max_connections, the process near its open-file limit, draining, or retired by a reload.",
	"portico_auth_rejected_total":               "Requests refused by authentication or authorisation, by route, auth and reason.",
	"portico_ratelimit_rejected_total":          "Requests refused with 429 by a rate limit, by route and limit.",
	"portico_config_reloads_total":              "Route file reloads, by result.",
	"portico_h2_connection_errors_total":        "HTTP/2 connections ended by a protocol error or a defence, by listener and reason.",
	"portico_tls_handshakes_in_flight":          "TLS handshakes under way now.",
	"portico_tls_handshakes_queued":             "TLS handshakes waiting for a handshake slot now.",
	"portico_tls_handshakes_awaiting_peer":      "TLS handshakes waiting for the client's next message now.",
	"portico_tls_handshakes_refused_total":      "TLS handshakes refused: too many at once.",
	"portico_tls_handshakes_completed_total":    "TLS handshakes completed.",
	"portico_tls_handshakes_failed_total":       "TLS handshakes that failed.",
	"portico_tls_handshakes_timed_out_total":    "TLS handshakes not finished within header_timeout.",
	"portico_access_log_dropped_total":          "Access-log lines dropped: the buffer was full or a write failed.",
}

// withHelp copies a scrape from src to dst, giving each empty HELP line
// of a family in metricHelp its text.
func withHelp(dst, src []byte) []byte {
	for len(src) > 0 {
		line, rest, _ := bytes.Cut(src, []byte("\n"))
		src = rest
		dst = append(dst, line...)
		if name, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok {
			if help, ok := metricHelp[string(name)]; ok {
				dst = append(dst, ' ')
				dst = append(dst, help...)
			}
		}
		dst = append(dst, '\n')
	}
	return dst
}

func (m *metricsRegistry) writePrometheus(w io.Writer) {
	m.sweepStale(time.Now())
	var buf bytes.Buffer
	m.set.WritePrometheus(&buf)
	out := buf.Bytes()
	for _, f := range specFamilies {
		if !bytes.Contains(out, []byte("# TYPE "+f.name+" ")) {
			buf.WriteString("# HELP " + f.name + "\n# TYPE " + f.name + " " + f.typ + "\n")
		}
	}
	_, _ = w.Write(withHelp(make([]byte, 0, buf.Len()+4096), buf.Bytes()))
	if m.handshakeTotals != nil {
		t := m.handshakeTotals()
		writeCounter(w, "portico_tls_handshakes_refused_total", t.Refused)
		writeCounter(w, "portico_tls_handshakes_completed_total", t.Completed)
		writeCounter(w, "portico_tls_handshakes_failed_total", t.Failed)
		writeCounter(w, "portico_tls_handshakes_timed_out_total", t.TimedOut)
	}
	if m.logDropped != nil {
		writeCounter(w, "portico_access_log_dropped_total", m.logDropped())
	}
	buf.Reset()
	metrics.WriteProcessMetrics(&buf)
	// The library writes go_info_ext's labels with a space after each
	// comma; Prometheus reads that, stricter parsers do not.
	_, _ = w.Write(withoutFamilies(bytes.ReplaceAll(buf.Bytes(), []byte(`", `), []byte(`",`)), bucketsOnlyFamilies))
}

// bucketsOnlyFamilies are runtime histograms the metrics library declares
// as histograms but writes without _sum and _count (runtime/metrics gives
// no sum): a malformed family to strict parsers (promtool, OpenMetrics),
// so they are left out.
var bucketsOnlyFamilies = []string{"go_sched_latencies_seconds", "go_gc_pauses_seconds"}

// withoutFamilies drops the lines (samples, HELP, TYPE) of the named
// families from Prometheus text, in place.
func withoutFamilies(text []byte, names []string) []byte {
	out := text[:0]
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i+1], text[i+1:]
		} else {
			text = nil
		}
		name := line
		if rest, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok {
			name = rest
		} else if rest, ok := bytes.CutPrefix(line, []byte("# TYPE ")); ok {
			name = rest
		}
		if i := bytes.IndexAny(name, " {\n"); i >= 0 {
			name = name[:i]
		}
		drop := false
		for _, f := range names {
			if rest, ok := bytes.CutPrefix(name, []byte(f)); ok && (len(rest) == 0 || string(rest) == "_bucket" || string(rest) == "_sum" || string(rest) == "_count") {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, line...)
		}
	}
	return out
}

func writeCounter(w io.Writer, name string, v uint64) {
	io.WriteString(w, "# HELP "+name+" "+metricHelp[name]+"\n# TYPE "+name+" counter\n"+name+" ")
	io.WriteString(w, strconv.FormatUint(v, 10))
	io.WriteString(w, "\n")
}

// escapeLabel escapes a Prometheus label value (backslash, quote, newline).
func escapeLabel(s string) string {
	need := false
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' || s[i] == '\n' {
			need = true
			break
		}
	}
	if !need {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			b = append(b, `\\`...)
		case '"':
			b = append(b, `\"`...)
		case '\n':
			b = append(b, `\n`...)
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}
