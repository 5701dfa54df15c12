// Command portico-bench is Portico's benchmark harness: a fast origin
// (upstream), an open-loop load generator (load) and a side-by-side
// comparison of proxies (compare). See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portico-gw/portico/bench"
)

const usage = `portico-bench: Portico's benchmark harness

Usage:
  portico-bench upstream -addr 127.0.0.1:PORT [flags]   serve a fast HTTP/1.1 and h2c origin
  portico-bench load URL [flags]                        generate load (open loop, or -max)
  portico-bench compare -scenarios FILE [flags]         compare proxies side by side

Run "portico-bench VERB -h" for the flags of each verb.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "upstream":
		err = runUpstream(ctx, os.Args[2:])
	case "load":
		err = runLoad(ctx, os.Args[2:])
	case "compare":
		err = runCompare(ctx, os.Args[2:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "portico-bench: unknown verb %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "portico-bench %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func runUpstream(ctx context.Context, args []string) error {
	fs := newFlagSet("upstream", `Usage: portico-bench upstream -addr 127.0.0.1:PORT [flags]

Serves a fast HTTP/1.1 origin for benchmarks: keep-alive and pipelining,
request bodies (Content-Length or chunked) read and discarded, pre-built
responses, /healthz always 200 without delay. The same port speaks h2c
with prior knowledge (a connection starting with the HTTP/2 preface, e.g.
h2load or "curl --http2-prior-knowledge"): the same answers, with -chunked
meaning DATA frames without content-length, and each stream delayed on its
own. Runs until SIGINT/SIGTERM.`)
	addr := fs.String("addr", "127.0.0.1:19001", "listen `address` (port 0 picks one; the chosen address is printed)")
	bodySize := fs.Int("body-size", 12, "response body size in `bytes`")
	delay := fs.Duration("delay", 0, "fixed delay before each response")
	dist := fs.String("delay-dist", "", "random delay: uniform:MIN:MAX or exp:MEAN (Go durations)")
	status := fs.Int("status", 200, "response status `code`")
	chunked := fs.Bool("chunked", false, "send bodies with Transfer-Encoding: chunked (h2c: no content-length)")
	failRate := fs.Float64("fail-rate", 0, "share of requests answered 500, in [0, 1]")
	loops := fs.Int("loops", 0, "event loops (0: one per GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	cfg := bench.UpstreamConfig{Addr: *addr, BodySize: *bodySize, Status: *status, Chunked: *chunked, FailRate: *failRate, Loops: *loops}
	switch {
	case *dist != "" && *delay != 0:
		return errors.New("use -delay or -delay-dist, not both")
	case *dist != "":
		d, err := bench.ParseDelayDist(*dist)
		if err != nil {
			return err
		}
		cfg.Delay = d
	case *delay < 0:
		return errors.New("-delay must be >= 0")
	case *delay > 0:
		cfg.Delay = bench.Delay{Kind: "fixed", Min: *delay}
	}
	u, err := bench.NewUpstream(cfg)
	if err != nil {
		return err
	}
	if err := u.Start(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "portico-bench upstream listening on %s\n", u.Addr())
	select {
	case <-ctx.Done():
	case err := <-waitErr(u):
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return u.Stop(sctx)
}

func waitErr(u *bench.Upstream) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- u.Wait() }()
	return ch
}

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

func runLoad(ctx context.Context, args []string) error {
	fs := newFlagSet("load", `Usage: portico-bench load URL [flags]

Open loop (default): sends -rate requests/s spread over -conns HTTP/1.1
connections (with -h2: over -conns x -streams HTTP/2 streams) for -duration, and charges each request's latency from its
intended send time, so queueing behind a stalled server is measured
(coordinated omission corrected). -max instead runs closed loop: every
connection sends its next request as soon as the previous answer arrived,
for peak throughput (with -h2, each connection keeps -streams requests in
flight). Flags may come before or after URL.`)
	rate := fs.Float64("rate", 1000, "open loop: requests per `second` over all connections")
	dur := fs.Duration("duration", 10*time.Second, "how long to send")
	conns := fs.Int("conns", 64, "connections")
	max := fs.Bool("max", false, "closed loop, maximum throughput (ignores -rate)")
	h2 := fs.Bool("h2", false, "HTTP/2: h2c with prior knowledge for http://, h2 via ALPN for https://")
	streams := fs.Int("streams", 10, "HTTP/2: concurrent streams per connection (like h2load -m)")
	insecure := fs.Bool("k", false, "https: do not verify the server certificate")
	var headers headerList
	fs.Var(&headers, "H", "extra request header `'Name: value'` (repeatable)")
	method := fs.String("method", "GET", "request method")
	bodyArg := fs.String("body", "", "request body from `FILE` (@- or - for stdin)")
	timeout := fs.Duration("timeout", 10*time.Second, "per-request timeout")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	// Accept the URL before or after the flags.
	var url string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		url, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if url == "" && fs.NArg() > 0 {
		url = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if url == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("need exactly one URL")
	}
	if *streams < 1 {
		return errors.New("-streams must be >= 1")
	}
	cfg := bench.LoadConfig{
		URL: url, Rate: *rate, Max: *max, Duration: *dur, Conns: *conns, Method: *method,
		Headers: headers, Timeout: *timeout, Insecure: *insecure, H2: *h2, Streams: *streams,
	}
	if *bodyArg != "" {
		var b []byte
		var err error
		switch *bodyArg {
		case "-", "@-":
			b, err = io.ReadAll(os.Stdin)
		default:
			b, err = os.ReadFile(strings.TrimPrefix(*bodyArg, "@"))
		}
		if err != nil {
			return fmt.Errorf("cannot read body: %w", err)
		}
		cfg.Body = b
	}
	if bench.StderrIsTerminal() {
		cfg.Progress = os.Stderr
	}
	res, err := bench.RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	fmt.Print(res.Text())
	return nil
}
