// Command portico is the Portico API gateway: run, validate, version, demo.
package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/portico-gw/portico/edge"
	"github.com/portico-gw/portico/edge/config"
)

// Set by the linker (-X main.version=… -X main.commit=…) in `make build`.
var (
	version = "0.1.0-dev"
	commit  = ""
)

const usage = `usage: portico <command> [flags]

commands:
  run -c FILE        serve the route file FILE until SIGTERM/SIGINT
  validate -c FILE   check FILE; exit 0 if it would load, else print every problem
  demo               serve an embedded example with demo upstreams on loopback
  version            print version, commit and Go version
`

func main() {
	// A gateway must outlive whoever reads its logs: by default Go exits
	// on a write to a broken pipe on stdout or stderr (a log shipper or
	// journald restarting, `portico demo | head`). Ignored, such writes
	// fail with EPIPE, and the access log counts the lines it drops.
	signal.Ignore(syscall.SIGPIPE)
	// PORTICO_CPUPROFILE=FILE writes a CPU profile of the whole run, for
	// benchmarking sessions; it is off unless asked for.
	if path := os.Getenv("PORTICO_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				code := run(os.Args[1:], os.Stdout, os.Stderr)
				pprof.StopCPUProfile()
				f.Close()
				os.Exit(code)
			}
		}
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "demo":
		return cmdDemo(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "portico version: unexpected argument %q\n", args[1])
			return 2
		}
		fmt.Fprintf(stdout, "portico %s commit %s %s\n", version, commitID(), runtime.Version())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "portico: unknown command %q\n%s", args[0], usage)
	return 2
}

func commitID() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// logBufferBytes bounds the process log waiting for a slow reader (about
// 4,000 lines); logFlushWait is how long an exit waits for it to be
// written (a reader that reads takes milliseconds; a stalled one must not
// hold the exit much past drain_timeout).
const (
	logBufferBytes = 1 << 20
	logFlushWait   = 500 * time.Millisecond
)

func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// parseFlags parses a command's flags. -h or --help prints the command's
// usage on stdout and ends it with 0, as `portico help` does; a bad flag
// prints the error and the usage on stderr and ends it with 2.
func parseFlags(fs *flag.FlagSet, synopsis string, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() {} // printed below, on the stream the outcome calls for
	err := fs.Parse(args)
	if err == nil {
		return 0, true
	}
	w, code := stderr, 2
	if errors.Is(err, flag.ErrHelp) {
		w, code = stdout, 0
	}
	fmt.Fprintf(w, "usage: portico %s\n", synopsis)
	fs.SetOutput(w)
	fs.PrintDefaults()
	return code, false
}

// configFlag parses the -c FILE of run and validate. Unless ok, the
// command ends with code.
func configFlag(name string, args []string, stdout, stderr io.Writer) (path string, code int, ok bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	var file onceString
	fs.Var(&file, "c", "route `FILE` (YAML or JSON), given once")
	if code, ok := parseFlags(fs, name+" -c FILE", args, stdout, stderr); !ok {
		return "", code, false
	}
	if file.value == "" {
		fmt.Fprintf(stderr, "portico %s: -c FILE is required\n", name)
		return "", 2, false
	}
	if fs.NArg() > 0 {
		// A second file name or a misplaced flag would otherwise be
		// ignored, and the command would report on something else.
		fmt.Fprintf(stderr, "portico %s: unexpected argument %q (one route file, given with -c)\n", name, fs.Arg(0))
		return "", 2, false
	}
	return file.value, 0, true
}

// onceString is a string flag given at most once: with flag.String a
// second -c would silently replace the first, and the command would check
// or serve a file other than the one the operator looked for in its output.
type onceString struct {
	value string
	set   bool
}

func (o *onceString) String() string { return o.value }

func (o *onceString) Set(v string) error {
	if o.set {
		return errors.New("given more than once (one route file)")
	}
	o.value, o.set = v, true
	return nil
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	path, code, ok := configFlag("validate", args, stdout, stderr)
	if !ok {
		return code
	}
	cfg, err := config.LoadDraft(path)
	if cfg != nil {
		err = withCheckProblems(err, cfg)
	}
	if err != nil {
		// The problems are the command's output, on stdout, as a
		// linter's findings are.
		for _, p := range problems(path, err) {
			fmt.Fprintln(stdout, p.String())
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", path)
	return 0
}

// withCheckProblems adds to the route file's own problems (err, nil when
// it has none) those of the gateway's checks (edge.Check: key sets,
// secrets, limiter arithmetic, certificates), so that validate lists
// every problem in one run (SPEC §1). A check problem about an item
// (routes[3], auth[0], ...) the file's problems already name, or about the
// file as a whole, is left out: it is most likely a consequence, said
// again in other words. On a file with problems the checks run on a
// config never meant to be served: should one of them fail on it
// outright, the file's own problems are what is printed.
func withCheckProblems(err error, cfg *config.Config) (out error) {
	if err != nil {
		defer func() {
			if recover() != nil {
				out = err
			}
		}()
	}
	cerr := edge.Check(cfg)
	if err == nil || cerr == nil {
		return cmp.Or(cerr, err)
	}
	var fileErrs *config.Errors
	if !errors.As(err, &fileErrs) {
		return err
	}
	all := &config.Errors{Problems: slices.Clone(fileErrs.Problems)}
	for _, cp := range problems(cfg.File, cerr) {
		if cp.Path != "" && !slices.ContainsFunc(fileErrs.Problems, func(fp config.Problem) bool { return sameItem(fp.Path, cp.Path) }) {
			all.Problems = append(all.Problems, cp)
		}
	}
	all.Sort()
	return all
}

// sameItem reports whether two field paths are in the same top-level item:
// routes[0].match.hosts[0] and routes[0].upstream are, routes[1] is not;
// a top-level field without an index (drain_timeout) is an item of its own.
func sameItem(a, b string) bool {
	return a != "" && b != "" && topItem(a) == topItem(b)
}

func topItem(path string) string {
	if i := strings.IndexByte(path, ']'); i >= 0 {
		return path[:i+1]
	}
	if i := strings.IndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return path
}

// problems lists err as route file problems. An error that is not
// *config.Errors (say, one the gateway's compiler returns) becomes one
// problem per line about the whole file, so that every line validate
// prints keeps the FILE:LINE:COL: field.path: message shape of SPEC §1.
func problems(path string, err error) []config.Problem {
	var errs *config.Errors
	if errors.As(err, &errs) && len(errs.Problems) > 0 {
		return errs.Problems
	}
	var ps []config.Problem
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ps = append(ps, config.Problem{File: path, Line: 1, Col: 1, Message: l})
		}
	}
	if len(ps) == 0 {
		ps = append(ps, config.Problem{File: path, Line: 1, Col: 1, Message: "cannot load the route file"})
	}
	return ps
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	path, code, ok := configFlag("run", args, stdout, stderr)
	if !ok {
		return code
	}
	sigs := watchSignals()
	defer signal.Stop(sigs)
	lw := newLogWriter(stderr, logBufferBytes)
	defer lw.Close(logFlushWait)
	log := newLogger(lw)
	cfg, err := config.Load(path)
	if err != nil {
		logProblems(log, "cannot load route file", path, err)
		return 1
	}
	srv, err := edge.New(cfg, edge.Options{ConfigPath: path, Logger: log})
	if err != nil {
		logProblems(log, "cannot compile route file", path, err)
		return 1
	}
	return serve(srv, log, sigs, nil)
}

// logProblems logs each problem of a route file that cannot be served as
// its own line (what validate prints, one per line), then msg with the
// count: a JSON log line holding them all would read as one long string.
func logProblems(log *slog.Logger, msg, path string, err error) {
	ps := problems(path, err)
	for _, p := range ps {
		log.Error("route file problem", "problem", p.String())
	}
	log.Error(msg, "file", path, "problems", len(ps))
}

// watchSignals starts catching SIGHUP, SIGTERM and SIGINT before anything
// slow (loading and compiling a large route file, binding): a SIGHUP sent
// while the process starts must not kill it with the default action. What
// arrives meanwhile is handled once serving (a reload, or a drain).
func watchSignals() chan os.Signal {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	return sigs
}

// drain drains srv and returns 0; a second SIGINT (Ctrl-C again at a
// terminal) ends the wait at once and returns 1. A repeated SIGTERM is
// ignored meanwhile: a supervisor that repeats it still gets the drain it
// asked for. SIGHUP reopens the access log (logrotate does not know the
// process is draining) and is otherwise refused: a drain keeps its config.
func drain(srv *edge.Server, log *slog.Logger, sigs chan os.Signal) int {
	drained := make(chan struct{})
	go func() {
		srv.Drain()
		close(drained)
	}()
	for {
		select {
		case <-drained:
			log.Info("stopped")
			return 0
		case sig := <-sigs:
			switch sig {
			case syscall.SIGINT:
				log.Warn("second interrupt: exiting without waiting for the drain")
				return 1
			case syscall.SIGHUP:
				_ = srv.Reload() // reopens the access log, then refuses (logged inside)
			}
		}
	}
}

// serve runs srv until SIGTERM/SIGINT (drain, exit 0); SIGHUP reloads.
// started, when non-nil, runs once the listeners accept connections.
func serve(srv *edge.Server, log *slog.Logger, sigs chan os.Signal, started func()) int {
	if err := srv.Start(); err != nil {
		log.Error("cannot start", "error", err.Error())
		return 1
	}
	if started != nil {
		started()
	}
	// Reloads run on their own goroutine, one at a time: compiling a large
	// route file takes seconds, and a SIGTERM meanwhile must start the
	// drain (and turn /readyz to 503) at once, not after it. SIGHUPs that
	// arrive during a reload make one more after it, not one each.
	hups := make(chan struct{}, 1)
	defer close(hups)
	go func() {
		for range hups {
			_ = srv.Reload() // logged and counted inside; dropped once a drain began
		}
	}()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				select {
				case hups <- struct{}{}:
				default: // one is pending already; it will read the file as it is then
				}
				continue
			}
			log.Info("signal received; draining", "signal", sig.String())
			return drain(srv, log, sigs)
		case <-srv.Done():
			log.Error("event loops stopped unexpectedly")
			return 1
		}
	}
}
