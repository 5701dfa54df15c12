package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/portico-gw/portico/bench"
)

func runCompare(ctx context.Context, args []string) error {
	fs := newFlagSet("compare", `Usage: portico-bench compare -scenarios FILE [flags]

Starts each system under test (Portico from a generated route file; nginx
and HAProxy with generated configs when installed) pinned with taskset,
runs every scenario against every system in alternating order for several
rounds, and records req/s, p50/p99/p99.9, the proxy's CPU µs per request
and peak RSS. Writes results.md, results.json and SVG charts to -out and
prints the table. A scenario needing a feature a system (or the load
generator) lacks gets a "needs feature X" row. With -replot FOLDER it
runs nothing: it redraws that folder's SVG charts from its results.json.`)
	scen := fs.String("scenarios", "bench/scenarios/default.yaml", "scenario `file` (YAML or JSON)")
	rounds := fs.Int("rounds", 0, "rounds (0: the file's, default 3)")
	porticoBin := fs.String("portico-bin", "", "Portico binary (missing: Portico rows say so)")
	porticoFeat := fs.String("portico-features", "h1,tls", "comma-separated features the Portico build has (h1, tls, h2, jwt, rate_limit)")
	systems := fs.String("systems", "portico,nginx,haproxy", "systems to compare")
	out := fs.String("out", "", "results `folder` (default bench/results/YYYYmmdd-HHMMSS)")
	portBase := fs.Int("port-base", 28180, "first port: proxies on base (h1), base+1 (h2c) and base+3 (TLS), origins on base+10 and base+11")
	proxyCPU := fs.String("proxy-cpu", "0", "taskset CPU list for the proxy")
	loadCPU := fs.String("load-cpu", "1", "taskset CPU list for load generator and origins")
	replot := fs.String("replot", "", "redraw the charts of results `folder` from its results.json, run nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *replot != "" {
		rep, err := bench.ReadCompareReport(filepath.Join(*replot, "results.json"))
		if err != nil {
			return err
		}
		if err := rep.WriteCharts(*replot); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "charts redrawn in %s\n", *replot)
		return nil
	}
	sf, err := bench.LoadScenarios(*scen)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join("bench", "results", time.Now().Format("20060102-150405"))
	}
	rep, err := bench.Compare(ctx, bench.CompareConfig{
		Scenarios: sf, Rounds: *rounds, Systems: strings.Split(*systems, ","), PorticoBin: *porticoBin,
		PorticoFeatures: strings.Split(*porticoFeat, ","), OutDir: *out, PortBase: *portBase,
		ProxyCPU: *proxyCPU, LoadCPU: *loadCPU, Log: os.Stderr,
	})
	if rep != nil && len(rep.Samples) > 0 || err == nil {
		if werr := rep.WriteFiles(*out); werr != nil {
			return werr
		}
		fmt.Print(rep.Markdown())
		fmt.Fprintf(os.Stderr, "results in %s\n", *out)
	}
	return err
}
