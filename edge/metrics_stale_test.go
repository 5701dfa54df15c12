package edge

import (
	"strings"
	"testing"
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

// TestDropStale: the series of a removed route and upstream go; those of
// live ones, of route "" and of target health stay.
func TestDropStale(t *testing.T) {
	m := newMetricsRegistry()
	for _, r := range []string{"r1", "r2", ""} {
		rm := m.route(r)
		rm.countRequest("pub", 200)
		rm.duration.Update(0.1)
	}
	m.upstreamDuration("up1").Update(0.1)
	m.upstreamDuration("up2").Update(0.1)
	m.dropStale(map[string]bool{"r2": true}, map[string]bool{"up2": true})
	var b strings.Builder
	m.set.WritePrometheus(&b)
	out := b.String()
	for _, gone := range []string{`route="r1"`, `upstream="up1"`} {
		if strings.Contains(out, gone) {
			t.Errorf("%s still exported:\n%s", gone, out)
		}
	}
	for _, kept := range []string{`route="r2"`, `route=""`, `upstream="up2"`} {
		if !strings.Contains(out, kept) {
			t.Errorf("%s dropped:\n%s", kept, out)
		}
	}
	if rm := m.route("r1"); rm.duration == nil { // a name that comes back starts anew
		t.Fatal("r1 not recreated")
	}
}
