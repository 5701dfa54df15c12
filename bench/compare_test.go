package bench

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaultScenariosLoad(t *testing.T) {
	sf, err := LoadScenarios("scenarios/default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if sf.Rounds < 3 || len(sf.Scenarios) < 10 {
		t.Fatalf("rounds %d scenarios %d", sf.Rounds, len(sf.Scenarios))
	}
}

func TestScenarioValidation(t *testing.T) {
	f := func(body, wantErr string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "s.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadScenarios(p)
		if wantErr == "" && err != nil || wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)) {
			t.Fatalf("%q: err %v, want %q", body, err, wantErr)
		}
	}
	f(`{"scenarios": [{"name": "a"}]}`, "") // JSON is YAML
	f("scenarios: [{name: a, bogus: 1}]", "bogus")
	f("scenarios: []", "no scenarios")
	f("scenarios: [{name: a}, {name: a}]", "duplicate")
	f("scenarios: [{name: a, proto: h3}]", "proto")
	f("scenarios: [{name: a, mode: rate}]", "rate mode needs")
	f("scenarios: [{name: a, mode: rate, rate_of_slowest_max: 0.5, rate_ref: b}, {name: b}]", "earlier max-mode")
	f("duration: 5 seconds\nscenarios: [{name: a}]", "duration")
}

func TestReportRendering(t *testing.T) {
	curve := []CurvePoint{{0.5, 1}, {0.9, 2}, {0.99, 5}, {0.999, 9}, {1, 12}}
	rep := &CompareReport{Started: time.Unix(0, 0), Machine: "test box", Rounds: 2, Duration: "1s",
		Systems:   []string{"portico", "nginx", "haproxy"},
		Scenarios: []Scenario{{Name: "h1", Mode: "max", Note: "n"}, {Name: "jwt", Mode: "max", Needs: []string{"jwt"}}},
		Notes:     map[string]string{"*/portico": "portico binary missing", "jwt/nginx": "needs feature jwt", "jwt/haproxy": "needs feature jwt"},
		Samples: []Sample{
			{Scenario: "h1", System: "nginx", Round: 1, RPS: 1000, P50: 1, P99: 5, P999: 9, CPUPerReq: 30, PeakRSSKB: 2048, Curve: curve},
			{Scenario: "h1", System: "nginx", Round: 2, RPS: 1200, P50: 1, P99: 7, P999: 9, CPUPerReq: 34, PeakRSSKB: 4096, Curve: curve},
			{Scenario: "h1", System: "haproxy", Round: 1, RPS: 900, P50: 2, P99: 6, P999: 10, CPUPerReq: 28, PeakRSSKB: 1024, Curve: curve},
		},
	}
	md := rep.Markdown()
	for _, want := range []string{"| h1 | nginx | 1100 | 1000–1200 | 1.00 | 6.00 |", "| h1 | portico | portico binary missing |", "| jwt | nginx | needs feature jwt |", "test box"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"results.md", "results.json", "throughput.svg", "latency-h1.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".svg") && (!strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "</svg>")) {
			t.Errorf("%s is not an SVG", f)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "latency-jwt.svg")); err == nil {
		t.Error("chart for a scenario without figures")
	}
}

func TestCompareNoSystems(t *testing.T) {
	sf := &ScenarioFile{Scenarios: []Scenario{{Name: "a"}}}
	if err := sf.check(); err != nil {
		t.Fatal(err)
	}
	rep, err := Compare(context.Background(), CompareConfig{Scenarios: sf, Systems: []string{"portico"}, PorticoBin: "/nonexistent/portico", OutDir: t.TempDir()})
	if err == nil || rep == nil || !strings.Contains(rep.Notes["*/portico"], "missing") {
		t.Fatalf("rep %+v err %v", rep, err)
	}
}

func TestProcAccounting(t *testing.T) {
	pid := os.Getpid()
	if procTicks(pid) < 0 || hwmKiB(pid) <= 0 || len(procTree(pid)) < 1 {
		t.Fatalf("ticks %d hwm %d", procTicks(pid), hwmKiB(pid))
	}
}

// TestChartsReplot redraws charts from a results.json and checks every SVG
// is well-formed XML and that long scenario names are rotated, not laid
// side by side where they would overlap.
func TestChartsReplot(t *testing.T) {
	curve := []CurvePoint{{0.5, 1}, {0.99, 5}, {1, 12}}
	rep := &CompareReport{Started: time.Unix(0, 0), Machine: "m", Rounds: 1, Duration: "1s",
		Systems: []string{"portico", "nginx"},
		Scenarios: []Scenario{{Name: "short", Mode: "max"}, {Name: "tls-conn-per-request", Mode: "max"},
			{Name: "a<b&c", Mode: "max"}},
		Samples: []Sample{
			{Scenario: "short", System: "portico", Round: 1, RPS: 1000, Curve: curve},
			{Scenario: "short", System: "nginx", Round: 1, RPS: 900, Curve: curve},
			{Scenario: "tls-conn-per-request", System: "portico", Round: 1, RPS: 100, Curve: curve},
			{Scenario: "a<b&c", System: "nginx", Round: 1, RPS: 10, Curve: curve},
		},
	}
	dir := t.TempDir()
	if err := rep.WriteFiles(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"throughput.svg", "latency-short.svg"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	back, err := ReadCompareReport(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := back.WriteCharts(dir); err != nil {
		t.Fatal(err)
	}
	svgs, _ := filepath.Glob(filepath.Join(dir, "*.svg"))
	if len(svgs) != 4 {
		t.Fatalf("charts %q", svgs)
	}
	for _, f := range svgs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s is not well-formed: %v", filepath.Base(f), err)
			}
		}
	}
	tp, _ := os.ReadFile(filepath.Join(dir, "throughput.svg"))
	if n := strings.Count(string(tp), `transform="rotate(-`); n != 3 {
		t.Errorf("%d rotated labels, want 3 (the longest name does not fit its group)", n)
	}
	if !strings.Contains(string(tp), ">n/a</text>") {
		t.Error("a system without figures has no n/a mark")
	}
	if _, err := ReadCompareReport(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("no error for a missing results.json")
	}
}

func TestLabelsLevelWhenTheyFit(t *testing.T) {
	rep := &CompareReport{Systems: []string{"portico", "nginx", "haproxy"},
		Scenarios: []Scenario{{Name: "h1"}, {Name: "h2c"}},
		Samples:   []Sample{{Scenario: "h1", System: "nginx", RPS: 5}, {Scenario: "h2c", System: "nginx", RPS: 6}}}
	if svg := rep.throughputSVG(); strings.Contains(svg, "rotate(") {
		t.Error("short labels rotated")
	}
}
