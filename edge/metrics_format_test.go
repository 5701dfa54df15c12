package edge

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
)

// TestScrapeHistogramsComplete: every family the scrape declares as a
// histogram has _bucket, _sum and _count samples (strict parsers such as
// promtool refuse one without); the runtime histograms the metrics library
// writes as buckets alone are left out.
func TestScrapeHistogramsComplete(t *testing.T) {
	m := newMetricsRegistry()
	m.upstreamDuration("app").Update(0.003)
	m.noRoute("web", 404, 0.001)
	runtime.GC() // so the runtime histograms have samples
	var buf bytes.Buffer
	m.writePrometheus(&buf)
	text := buf.String()
	histograms := 0
	for _, line := range strings.Split(text, "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok || !strings.HasSuffix(name, " histogram") {
			continue
		}
		name = strings.TrimSuffix(name, " histogram")
		if !strings.Contains(text, "\n"+name+"_bucket") {
			continue // declared before its first observation: no samples at all
		}
		histograms++
		for _, suffix := range []string{"_sum", "_count"} {
			if !strings.Contains(text, "\n"+name+suffix+" ") && !strings.Contains(text, "\n"+name+suffix+"{") {
				t.Errorf("histogram %s has no %s sample", name, suffix)
			}
		}
	}
	if histograms == 0 {
		t.Fatal("no histogram family in the scrape")
	}
	for _, f := range bucketsOnlyFamilies {
		if strings.Contains(text, f) {
			t.Errorf("%s still in the scrape", f)
		}
	}
	if !strings.Contains(text, "\ngo_goroutines ") || !strings.Contains(text, "\nprocess_resident_memory_bytes ") {
		t.Error("process metrics lost with the runtime histograms")
	}
}

func TestWithoutFamilies(t *testing.T) {
	in := "# HELP a_seconds x\n# TYPE a_seconds histogram\na_seconds_bucket{le=\"1\"} 1\na_seconds_sum 1\na_secondsx 2\nb 3\n# TYPE a_seconds_more gauge\na_seconds_more 4"
	got := string(withoutFamilies([]byte(in), []string{"a_seconds"}))
	if want := "a_secondsx 2\nb 3\n# TYPE a_seconds_more gauge\na_seconds_more 4"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
