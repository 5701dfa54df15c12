package edge

import (
	"strings"
	"testing"
	"time"
)

func TestLabelValue(t *testing.T) {
	for _, c := range []struct {
		series, label, want string
		ok                  bool
	}{
		{`portico_http_requests_total{listener="a",route="r1",code="200"}`, "route", "r1", true},
		{`portico_http_request_duration_seconds{route="r1"}`, "route", "r1", true},
		{`portico_http_requests_total{listener="a",route="",code="404"}`, "route", "", true},
		{`portico_upstream_request_duration_seconds{upstream="up"}`, "route", "", false},
		{`x{route="a\"b\\c"}`, "route", `a"b\c`, true},
		{`x{myroute="a"}`, "route", "", false},
	} {
		got, ok := labelValue(c.series, c.label)
		if got != c.want || ok != c.ok {
			t.Errorf("labelValue(%s, %s) = %q %v, want %q %v", c.series, c.label, got, ok, c.want, c.ok)
		}
	}
}

// TestStaleSeries: the series of a route and upstream a reload removed
// stay for staleGrace (the last requests counted in them are scraped),
// continue if the name comes back within it, and then go; those of live
// ones, of route "" and of target health stay. A refused reload's names
// go at once.
func TestStaleSeries(t *testing.T) {
	m := newMetricsRegistry()
	now := time.Unix(1_000_000, 0)
	for _, r := range []string{"r1", "r2", "r3", ""} {
		rm := m.route(r)
		rm.countRequest("pub", 200)
		rm.duration.Update(0.1)
	}
	m.upstreamDuration("up1").Update(0.1)
	m.upstreamDuration("up2").Update(0.1)
	all := map[string]bool{"r1": true, "r2": true, "r3": true}
	m.settle(liveNames{routes: all, upstreams: map[string]bool{"up1": true, "up2": true}}, true, now)

	scrape := func(at time.Time) string {
		m.sweepStale(at)
		var b strings.Builder
		m.set.WritePrometheus(&b)
		return b.String()
	}
	expect := func(out string, present bool, labels ...string) {
		t.Helper()
		for _, l := range labels {
			if strings.Contains(out, l) != present {
				t.Errorf("%s exported: %v, want %v\n%s", l, !present, present, out)
			}
		}
	}

	// r1, r3 and up1 removed: still exported within the grace.
	m.settle(liveNames{routes: map[string]bool{"r2": true}, upstreams: map[string]bool{"up2": true}}, true, now)
	m.route("r1").countRequest("pub", 200) // finished on the old snapshot
	out := scrape(now.Add(staleGrace - time.Second))
	expect(out, true, `route="r1",code="200"} 2`, `upstream="up1"`, `route="r2"`, `route=""`, `upstream="up2"`)

	// r3 comes back within the grace: its series continue.
	m.settle(liveNames{routes: map[string]bool{"r2": true, "r3": true}, upstreams: map[string]bool{"up2": true}}, true, now.Add(time.Minute))
	m.route("r3").countRequest("pub", 200)
	// A scrape while a reload compiles leaves even expired names alone:
	// the compile may be taking one back.
	m.reloading.Lock()
	out = scrape(now.Add(staleGrace + time.Second))
	m.reloading.Unlock()
	expect(out, true, `route="r1"`)
	out = scrape(now.Add(staleGrace + time.Second))
	expect(out, false, `route="r1"`, `upstream="up1"`)
	expect(out, true, `route="r3",code="200"} 2`, `route="r2"`, `route=""`, `upstream="up2"`)

	// A refused reload's route is dropped at once; stale ones keep their grace.
	m.settle(liveNames{routes: map[string]bool{"r2": true}, upstreams: map[string]bool{"up2": true}}, true, now.Add(2*staleGrace))
	m.route("refused").countRequest("pub", 200)
	m.settle(liveNames{}, false, now.Add(2*staleGrace))
	out = scrape(now.Add(2 * staleGrace))
	expect(out, false, `route="refused"`)
	expect(out, true, `route="r3"`)
	if rm := m.route("r1"); rm.duration == nil { // a name back after its grace starts anew
		t.Fatal("r1 not recreated")
	}
}

// TestStaleAuthAndLimitSeries: a route that keeps its name while its auth
// method or rate limit is renamed (jwt1 → jwt2 at every reload) leaves the
// old name's series behind: they go after staleGrace too, or they pile up
// one per rename.
func TestStaleAuthAndLimitSeries(t *testing.T) {
	m := newMetricsRegistry()
	now := time.Unix(1_000_000, 0)
	live := func(auth, limit string) liveNames {
		return liveNames{routes: map[string]bool{"r": true}, auth: map[string]bool{auth: true}, limits: map[string]bool{limit: true}}
	}
	m.settle(live("jwt1", "rl1"), true, now)
	m.set.GetOrCreateCounter(`portico_auth_rejected_total{route="r",auth="jwt1",reason="missing"}`).Inc()
	m.set.GetOrCreateCounter(`portico_ratelimit_rejected_total{route="r",limit="rl1"}`).Inc()
	m.settle(live("jwt2", "rl2"), true, now)
	m.set.GetOrCreateCounter(`portico_auth_rejected_total{route="r",auth="jwt2",reason="missing"}`).Inc()
	m.set.GetOrCreateCounter(`portico_ratelimit_rejected_total{route="r",limit="rl2"}`).Inc()
	scrape := func(at time.Time) string {
		m.sweepStale(at)
		var b strings.Builder
		m.set.WritePrometheus(&b)
		return b.String()
	}
	out := scrape(now.Add(staleGrace - time.Second))
	for _, l := range []string{`auth="jwt1"`, `limit="rl1"`, `auth="jwt2"`, `limit="rl2"`} {
		if !strings.Contains(out, l) {
			t.Errorf("within the grace: %s missing\n%s", l, out)
		}
	}
	out = scrape(now.Add(staleGrace + time.Second))
	for l, want := range map[string]bool{`auth="jwt1"`: false, `limit="rl1"`: false, `auth="jwt2"`: true, `limit="rl2"`: true} {
		if strings.Contains(out, l) != want {
			t.Errorf("after the grace: %s exported %v, want %v\n%s", l, !want, want, out)
		}
	}
}
