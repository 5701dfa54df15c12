package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// summary is the per scenario and system aggregate over rounds.
type summary struct {
	rps, rpsMin, rpsMax, p50, p99, p999, cpu float64
	rss                                      int64
	errors                                   uint64
	rate                                     float64
	curve                                    []CurvePoint
	n                                        int
}

func (rep *CompareReport) summarize(scenario, system string) (summary, bool) {
	var s summary
	var rps, p50, p99, p999, cpu, rate []float64
	var curves [][]CurvePoint
	for _, x := range rep.Samples {
		if x.Scenario != scenario || x.System != system {
			continue
		}
		rps, p50, p99, p999, cpu, rate = append(rps, x.RPS), append(p50, x.P50), append(p99, x.P99), append(p999, x.P999), append(cpu, x.CPUPerReq), append(rate, x.Rate)
		s.rss = max(s.rss, x.PeakRSSKB)
		s.errors += x.Errors
		curves = append(curves, x.Curve)
	}
	if len(rps) == 0 {
		return s, false
	}
	s.n = len(rps)
	s.rps, s.p50, s.p99, s.p999, s.cpu, s.rate = median(rps), median(p50), median(p99), median(p999), median(cpu), median(rate)
	s.rpsMin, s.rpsMax = slices.Min(rps), slices.Max(rps)
	// Pointwise median of the rounds' percentile curves.
	if len(curves[0]) > 0 {
		for i := range curves[0] {
			var v []float64
			for _, c := range curves {
				if i < len(c) {
					v = append(v, c[i].Millis)
				}
			}
			s.curve = append(s.curve, CurvePoint{Quantile: curves[0][i].Quantile, Millis: median(v)})
		}
	}
	return s, true
}

func (rep *CompareReport) note(scenario, system string) string {
	if n := rep.Notes["*/"+system]; n != "" {
		return n
	}
	return rep.Notes[scenario+"/"+system]
}

// Markdown renders the results table (medians over rounds).
func (rep *CompareReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# portico-bench compare, %s\n\n", rep.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s.\n\n", rep.Machine)
	fmt.Fprintf(&b, "Proxy on CPU 0 (one worker/thread; Portico with GOMAXPROCS=1), load generator and origin on CPU 1. "+
		"%d rounds of %s per scenario, systems alternating within each round; figures are medians over rounds. "+
		"CPU µs/req is the proxy's utime+stime (all threads and workers, from /proc) over the run divided by completed requests; "+
		"peak RSS is VmHWM summed over its processes. Open-loop scenarios charge latency from each request's intended send time.\n\n",
		rep.Rounds, rep.Duration)
	b.WriteString("| scenario | system | req/s | req/s range | p50 ms | p99 ms | p99.9 ms | proxy CPU µs/req | peak RSS MiB | errors |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, sc := range rep.Scenarios {
		name := sc.Name
		if sc.Mode == "rate" {
			name += " (open loop)"
		}
		for _, sys := range rep.Systems {
			s, ok := rep.summarize(sc.Name, sys)
			if !ok {
				why := rep.note(sc.Name, sys)
				if why == "" {
					why = "not run"
				}
				fmt.Fprintf(&b, "| %s | %s | %s | | | | | | | |\n", name, sys, why)
				continue
			}
			rs := fmt.Sprintf("%.0f", s.rps)
			if s.rate > 0 {
				rs += fmt.Sprintf(" (asked %.0f)", s.rate)
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.0f–%.0f | %.2f | %.2f | %.2f | %.1f | %.1f | %d |\n",
				name, sys, rs, s.rpsMin, s.rpsMax, s.p50, s.p99, s.p999, s.cpu, float64(s.rss)/1024, s.errors)
		}
	}
	b.WriteString("\nCharts: throughput.svg (median req/s per scenario), latency-SCENARIO.svg (percentile curves).\n")
	b.WriteString("\n## Scenarios\n\n")
	for _, sc := range rep.Scenarios {
		fmt.Fprintf(&b, "- **%s**: %s\n", sc.Name, sc.Note)
	}
	return b.String()
}

// WriteFiles writes results.md, results.json and the SVG charts into dir.
func (rep *CompareReport) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", dir, err)
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode results: %w", err)
	}
	if err := writeFiles(dir, map[string][]byte{"results.md": []byte(rep.Markdown()), "results.json": js}); err != nil {
		return err
	}
	return rep.WriteCharts(dir)
}

// WriteCharts writes only the SVG charts into dir: throughput.svg and one
// latency-SCENARIO.svg per scenario with figures.
func (rep *CompareReport) WriteCharts(dir string) error {
	files := map[string][]byte{"throughput.svg": []byte(rep.throughputSVG())}
	for _, sc := range rep.Scenarios {
		if svg, ok := rep.latencySVG(sc.Name); ok {
			files["latency-"+sc.Name+".svg"] = []byte(svg)
		}
	}
	return writeFiles(dir, files)
}

func writeFiles(dir string, files map[string][]byte) error {
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

// ReadCompareReport loads a results.json that WriteFiles wrote, so its
// table and charts can be rendered again without re-running.
func ReadCompareReport(path string) (*CompareReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read compare results: %w", err)
	}
	var rep CompareReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("cannot parse compare results %s: %w", path, err)
	}
	if len(rep.Systems) == 0 || len(rep.Scenarios) == 0 {
		return nil, fmt.Errorf("cannot use compare results %s: no systems or scenarios", path)
	}
	return &rep, nil
}

var svgColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"}

func svgHead(b *strings.Builder, w, h int, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	fmt.Fprintf(b, `<text x="%d" y="20" text-anchor="middle" font-size="14" font-weight="bold">%s</text>`+"\n", w/2, html.EscapeString(title))
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func (rep *CompareReport) throughputSVG() string {
	type group struct {
		name string
		vals []float64
	}
	var groups []group
	top := 0.0
	for _, sc := range rep.Scenarios {
		g := group{name: sc.Name}
		any := false
		for _, sys := range rep.Systems {
			s, ok := rep.summarize(sc.Name, sys)
			g.vals = append(g.vals, s.rps)
			any = any || ok
			top = max(top, s.rps)
		}
		if any {
			groups = append(groups, g)
		}
	}
	const plotH, barW, labelSize = 300, 18, 10
	gw := barW*len(rep.Systems) + 24
	// Scenario names under their groups: level when the longest fits the
	// group's width, else all rotated so neighbours cannot overlap (rotated
	// lines gw apart are gw*sin(angle) apart, far more than a text height).
	longest := 0.0
	for _, g := range groups {
		longest = max(longest, textWidth(g.name, labelSize))
	}
	rotate := longest > float64(gw-6)
	labelH := 15
	left := 70
	if rotate {
		sin, cos := math.Sincos(labelAngle * math.Pi / 180)
		labelH = int(math.Ceil(longest*sin)) + labelSize + 10
		// A rotated label reaches left of its group's centre by longest*cos.
		left = max(left, int(math.Ceil(longest*cos))-12-barW*len(rep.Systems)/2+8)
	}
	w := left + 20 + gw*max(len(groups), 1)
	h := 40 + plotH + labelH + 35
	var b strings.Builder
	svgHead(&b, w, h, "Throughput (median req/s)")
	ymax := niceMax(top)
	for i := 0; i <= 5; i++ {
		y := 40 + plotH - plotH*i/5
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/><text x="%d" y="%d" text-anchor="end">%.0f</text>`+"\n",
			left, y, w-10, y, left-5, y+4, ymax*float64(i)/5)
	}
	for gi, g := range groups {
		x0 := left + 12 + gi*gw
		for si, v := range g.vals {
			if v <= 0 {
				// No figure for this system: say so instead of a bar that
				// reads as zero throughput.
				fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="8" fill="#888">n/a</text>`+"\n", x0+si*barW+barW/2-1, 40+plotH-3)
				continue
			}
			bh := int(float64(plotH) * v / ymax)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: %.0f req/s</title></rect>`+"\n",
				x0+si*barW, 40+plotH-bh, barW-2, bh, svgColors[si%len(svgColors)], html.EscapeString(g.name), rep.Systems[si], v)
		}
		cx := x0 + barW*len(g.vals)/2
		if rotate {
			y := 40 + plotH + 12
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" font-size="%d" transform="rotate(-%d %d %d)">%s</text>`+"\n",
				cx, y, labelSize, labelAngle, cx, y, html.EscapeString(g.name))
		} else {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="%d">%s</text>`+"\n", cx, 40+plotH+15, labelSize, html.EscapeString(g.name))
		}
	}
	rep.legend(&b, left, h-20)
	b.WriteString("</svg>\n")
	return b.String()
}

// labelAngle is how far rotated x-axis labels turn, in degrees.
const labelAngle = 40

// textWidth over-estimates the rendered width of s in a sans-serif font of
// the given size (0.6 em a character; most are narrower), so layouts based
// on it leave room rather than overlap.
func textWidth(s string, size int) float64 {
	return 0.6 * float64(size) * float64(utf8.RuneCountInString(s))
}

func (rep *CompareReport) legend(b *strings.Builder, x, y int) {
	for i, sys := range rep.Systems {
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			x+i*110, y-10, svgColors[i%len(svgColors)], x+i*110+16, y, html.EscapeString(sys))
	}
}

// latencySVG plots latency against percentile on a "nines" axis
// (x = -log10(1-q): 50% at 0.3, 99% at 2, 99.99% at 4, max drawn at 5).
func (rep *CompareReport) latencySVG(scenario string) (string, bool) {
	var curves [][]CurvePoint
	top := 0.0
	anyData := false
	for _, sys := range rep.Systems {
		s, ok := rep.summarize(scenario, sys)
		curves = append(curves, s.curve)
		anyData = anyData || ok
		for _, p := range s.curve {
			top = max(top, p.Millis)
		}
	}
	if !anyData {
		return "", false
	}
	const left, right, topM, plotW, plotH = 70, 20, 40, 520, 300
	w, h := left+plotW+right, topM+plotH+70
	var b strings.Builder
	svgHead(&b, w, h, "Latency by percentile: "+scenario)
	ymax := niceMax(top)
	xOf := func(q float64) float64 {
		n := 5.0
		if q < 1 {
			n = -math.Log10(1 - q)
		}
		return left + plotW*n/5
	}
	yOf := func(v float64) float64 { return topM + plotH - plotH*v/ymax }
	for i := 0; i <= 5; i++ {
		y := topM + plotH - plotH*i/5
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#ddd"/><text x="%d" y="%d" text-anchor="end">%.3g ms</text>`+"\n",
			left, y, left+plotW, y, left-5, y+4, ymax*float64(i)/5)
	}
	for _, t := range []struct {
		q float64
		l string
	}{{0.5, "50%"}, {0.9, "90%"}, {0.99, "99%"}, {0.999, "99.9%"}, {0.9999, "99.99%"}, {1, "max"}} {
		x := xOf(t.q)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n",
			x, topM, x, topM+plotH, x, topM+plotH+15, t.l)
	}
	for i, c := range curves {
		if len(c) == 0 {
			continue
		}
		var pts []string
		for _, p := range c {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", xOf(p.Quantile), yOf(p.Millis)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", svgColors[i%len(svgColors)], strings.Join(pts, " "))
	}
	rep.legend(&b, left, h-15)
	b.WriteString("</svg>\n")
	return b.String(), true
}
