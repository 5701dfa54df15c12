package bench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CompareConfig configures a side-by-side run of proxies.
type CompareConfig struct {
	Scenarios       *ScenarioFile
	Rounds          int      // overrides the file's rounds when > 0
	Systems         []string // subset of portico, nginx, haproxy; default all three
	PorticoBin      string   // Portico binary; missing => "binary missing" rows
	PorticoFeatures []string // features the Portico build has (default h1, tls)
	OutDir          string   // results folder (created)
	PortBase        int      // proxies listen on base (h1), base+1 (h2c) and base+3 (TLS); origins on base+10, base+11
	ProxyCPU        string   // taskset CPU list for the proxy (default "0")
	LoadCPU         string   // taskset CPU list for load generator and origins (default "1")
	SelfBin         string   // portico-bench binary for the origin and load subprocesses
	Log             io.Writer
}

// Sample is one measured run of one scenario against one system.
type Sample struct {
	Scenario  string       `json:"scenario"`
	System    string       `json:"system"`
	Round     int          `json:"round"`
	RPS       float64      `json:"requests_per_second"`
	Requests  uint64       `json:"requests"`
	P50       float64      `json:"p50_ms"`
	P99       float64      `json:"p99_ms"`
	P999      float64      `json:"p999_ms"`
	CPUPerReq float64      `json:"proxy_cpu_us_per_request"`
	PeakRSSKB int64        `json:"proxy_peak_rss_kib"`
	Errors    uint64       `json:"errors"`
	Rate      float64      `json:"target_rate,omitempty"`
	Curve     []CurvePoint `json:"latency_curve"`
}

// CompareReport is everything a compare run measured.
type CompareReport struct {
	Started   time.Time         `json:"started"`
	Machine   string            `json:"machine"`
	Rounds    int               `json:"rounds"`
	Duration  string            `json:"duration"`
	Systems   []string          `json:"systems"`
	Scenarios []Scenario        `json:"scenarios"`
	Samples   []Sample          `json:"samples"`
	Notes     map[string]string `json:"notes"` // "scenario/system" => why there are no figures
}

// Features portico-bench load itself supports; a scenario needing another
// one cannot run against anything yet.
var loadFeatures = []string{"h1", "tls", "h2"}

var peerFeatures = map[string][]string{
	"nginx":   {"h1", "tls", "h2"},
	"haproxy": {"h1", "tls", "h2"},
}

type sysProc struct {
	name string
	cmd  *exec.Cmd
}

// Compare runs every scenario against every available system, in
// alternating order (A B A B ...) for the configured rounds, and returns
// the samples. It writes configs and certificates into cfg.OutDir.
func Compare(ctx context.Context, cfg CompareConfig) (*CompareReport, error) {
	if cfg.Scenarios == nil {
		return nil, errors.New("cannot compare: no scenarios")
	}
	sf := cfg.Scenarios
	rounds := sf.Rounds
	if cfg.Rounds > 0 {
		rounds = cfg.Rounds
	}
	if len(cfg.Systems) == 0 {
		cfg.Systems = []string{"portico", "nginx", "haproxy"}
	}
	if len(cfg.PorticoFeatures) == 0 {
		cfg.PorticoFeatures = []string{"h1", "tls"}
	}
	if cfg.PortBase == 0 {
		cfg.PortBase = 28180
	}
	if cfg.ProxyCPU == "" {
		cfg.ProxyCPU = "0"
	}
	if cfg.LoadCPU == "" {
		cfg.LoadCPU = "1"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.SelfBin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cannot find portico-bench binary: %w", err)
		}
		cfg.SelfBin = exe
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return nil, fmt.Errorf("cannot compare: taskset not found: %w", err)
	}
	dur, _ := time.ParseDuration(sf.Duration)
	warm, _ := time.ParseDuration(sf.Warmup)
	if err := os.MkdirAll(filepath.Join(cfg.OutDir, "run", "tmp"), 0o755); err != nil {
		return nil, fmt.Errorf("cannot create results folder: %w", err)
	}
	rep := &CompareReport{Started: time.Now(), Machine: describeMachine(), Rounds: rounds, Duration: sf.Duration,
		Scenarios: sf.Scenarios, Notes: map[string]string{}}

	// Which systems can run at all.
	var systems []string
	for _, s := range cfg.Systems {
		switch s {
		case "portico":
			if cfg.PorticoBin == "" {
				rep.Notes["*/portico"] = "portico binary missing (pass -portico-bin)"
				fmt.Fprintln(cfg.Log, "compare: skipping portico: no -portico-bin given")
				continue
			}
			if fi, err := os.Stat(cfg.PorticoBin); err != nil || fi.IsDir() {
				rep.Notes["*/portico"] = "portico binary missing at " + cfg.PorticoBin
				fmt.Fprintf(cfg.Log, "compare: skipping portico: binary missing at %s\n", cfg.PorticoBin)
				continue
			}
		case "nginx", "haproxy":
			if _, err := exec.LookPath(s); err != nil {
				rep.Notes["*/"+s] = s + " not installed"
				fmt.Fprintf(cfg.Log, "compare: skipping %s: not installed\n", s)
				continue
			}
		default:
			return nil, fmt.Errorf("cannot compare: unknown system %q (want portico, nginx or haproxy)", s)
		}
		systems = append(systems, s)
	}
	rep.Systems = cfg.Systems
	if len(systems) == 0 {
		return rep, errors.New("cannot compare: no system under test is available")
	}

	b := cfg.PortBase
	ports := portSet{h1: b, h2c: b + 1, tls: b + 3, origin: b + 10, originBig: b + 11}
	for _, p := range []int{ports.h1, ports.h2c, ports.tls, ports.origin, ports.originBig} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), 200*time.Millisecond); err == nil {
			c.Close()
			return nil, fmt.Errorf("cannot compare: port %d is busy (choose another -port-base)", p)
		}
	}
	if err := writeSystemConfigs(cfg.OutDir, ports); err != nil {
		return nil, err
	}

	// Origins on the load CPU.
	var origins []*exec.Cmd
	defer func() {
		for _, o := range origins {
			stopProc(o)
		}
	}()
	for _, o := range []struct {
		port int
		size string
	}{{ports.origin, "12"}, {ports.originBig, "16384"}} {
		cmd := exec.CommandContext(ctx, "taskset", "-c", cfg.LoadCPU, cfg.SelfBin, "upstream",
			"-addr", "127.0.0.1:"+strconv.Itoa(o.port), "-body-size", o.size)
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		if err := startProc(cmd, cfg.OutDir, "origin"); err != nil {
			return nil, err
		}
		origins = append(origins, cmd)
		if err := waitHTTP(ctx, "127.0.0.1:"+strconv.Itoa(o.port)); err != nil {
			return nil, fmt.Errorf("cannot start origin: %w", err)
		}
	}

	// Scenarios that no system can run, and which need what.
	runnable := func(sc Scenario, sys string) (bool, string) {
		for _, n := range sc.Needs {
			if (n == "h1" || n == "h2" || n == "tls") && !slices.Contains(loadFeatures, n) {
				return false, "needs feature " + n + " in portico-bench load"
			}
		}
		feats := peerFeatures[sys]
		if sys == "portico" {
			feats = cfg.PorticoFeatures
		}
		var missing []string
		for _, n := range sc.Needs {
			if !slices.Contains(feats, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			why := "needs feature " + strings.Join(missing, ", ")
			if sys != "portico" {
				why += " (not set up in the generated " + sys + " config)"
			}
			return false, why
		}
		return true, ""
	}
	for _, sc := range sf.Scenarios {
		for _, sys := range systems {
			if ok, why := runnable(sc, sys); !ok {
				rep.Notes[sc.Name+"/"+sys] = why
			}
		}
	}

	// Max-mode scenarios first (all rounds), then rate-mode ones, whose
	// rate derives from the slowest system's median max.
	var phases [2][]Scenario
	for _, sc := range sf.Scenarios {
		if sc.Mode == "rate" {
			phases[1] = append(phases[1], sc)
		} else {
			phases[0] = append(phases[0], sc)
		}
	}
	for phase, scs := range phases {
		if len(scs) == 0 {
			continue
		}
		for r := 1; r <= rounds; r++ {
			for _, sys := range systems {
				var todo []Scenario
				for _, sc := range scs {
					if ok, _ := runnable(sc, sys); ok {
						todo = append(todo, sc)
					}
				}
				if len(todo) == 0 {
					continue
				}
				if err := ctx.Err(); err != nil {
					return rep, err
				}
				fmt.Fprintf(cfg.Log, "compare: phase %d round %d/%d: %s\n", phase+1, r, rounds, sys)
				p, err := startSystem(ctx, cfg, sys, ports)
				if err != nil {
					return rep, err
				}
				if warm > 0 {
					_, _ = runLoadProc(ctx, cfg, ports, Scenario{Proto: "h1", Path: "/", Conns: 64, Mode: "max"}, warm, 0)
				}
				for _, sc := range todo {
					rate := sc.Rate
					if sc.Mode == "rate" && rate <= 0 {
						rate = sc.RateOfSlowestMax * slowestMedian(rep.Samples, sc.RateRef)
						if rate <= 0 {
							rep.Notes[sc.Name+"/"+sys] = "no figures for rate_ref " + sc.RateRef
							continue
						}
					}
					s, err := measure(ctx, cfg, p, ports, sc, dur, rate)
					if err != nil {
						stopProc(p.cmd)
						return rep, err
					}
					s.System, s.Round = sys, r
					rep.Samples = append(rep.Samples, s)
					fmt.Fprintf(cfg.Log, "  %-22s %-8s %9.0f req/s  p99 %7.2f ms  cpu %6.1f us/req  rss %d KiB  errors %d\n",
						sc.Name, sys, s.RPS, s.P99, s.CPUPerReq, s.PeakRSSKB, s.Errors)
				}
				stopProc(p.cmd)
			}
		}
	}
	return rep, nil
}

// portSet: h2c has its own port because nginx 1.22 serves only HTTP/2 on
// a plaintext "listen ... http2".
type portSet struct{ h1, h2c, tls, origin, originBig int }

func slowestMedian(samples []Sample, scenario string) float64 {
	by := map[string][]float64{}
	for _, s := range samples {
		if s.Scenario == scenario {
			by[s.System] = append(by[s.System], s.RPS)
		}
	}
	slowest := 0.0
	for _, v := range by {
		if m := median(v); slowest == 0 || m < slowest {
			slowest = m
		}
	}
	return slowest
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func startSystem(ctx context.Context, cfg CompareConfig, sys string, ports portSet) (*sysProc, error) {
	dir, _ := filepath.Abs(cfg.OutDir)
	var cmd *exec.Cmd
	switch sys {
	case "portico":
		cmd = exec.CommandContext(ctx, "taskset", "-c", cfg.ProxyCPU, cfg.PorticoBin, "run", "-c", filepath.Join(dir, "portico.yaml"))
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	case "nginx":
		cmd = exec.CommandContext(ctx, "taskset", "-c", cfg.ProxyCPU, "nginx", "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	case "haproxy":
		cmd = exec.CommandContext(ctx, "taskset", "-c", cfg.ProxyCPU, "haproxy", "-db", "-f", filepath.Join(dir, "haproxy.cfg"))
	}
	if err := startProc(cmd, cfg.OutDir, sys); err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, "127.0.0.1:"+strconv.Itoa(ports.h1)); err != nil {
		stopProc(cmd)
		return nil, fmt.Errorf("cannot start %s (see %s): %w", sys, filepath.Join(cfg.OutDir, "run", sys+".log"), err)
	}
	return &sysProc{name: sys, cmd: cmd}, nil
}

func startProc(cmd *exec.Cmd, outDir, name string) error {
	f, err := os.OpenFile(filepath.Join(outDir, "run", name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("cannot open log for %s: %w", name, err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 3 * time.Second
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("cannot start %s: %w", name, err)
	}
	return nil
}

// stopProc sends SIGTERM, waits up to 3 s, then kills. taskset execs the
// target, so the PID is the system's own.
func stopProc(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	if f, ok := cmd.Stdout.(*os.File); ok {
		f.Close()
	}
}

// waitHTTP polls addr with GET / until a 2xx answer (max 5 s).
func waitHTTP(ctx context.Context, addr string) error {
	deadline := time.Now().Add(5 * time.Second)
	var last error
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
			buf := make([]byte, 4096)
			n, _ := io.ReadAtLeast(c, buf, 12)
			c.Close()
			if h, err := parseResponseHead(buf[:n]); err == nil && h.status/100 == 2 {
				return nil
			} else if err == nil {
				last = fmt.Errorf("status %d", h.status)
			} else {
				last = err
			}
		} else {
			last = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("no 2xx answer at %s within 5s: %v", addr, last)
}

func measure(ctx context.Context, cfg CompareConfig, p *sysProc, ports portSet, sc Scenario, dur time.Duration, rate float64) (Sample, error) {
	pid := p.cmd.Process.Pid
	hwmReset(pid)
	c0 := procTicks(pid)
	res, err := runLoadProc(ctx, cfg, ports, sc, dur, rate)
	c1 := procTicks(pid)
	if err != nil {
		return Sample{}, fmt.Errorf("cannot measure %s against %s: %w", sc.Name, p.name, err)
	}
	s := Sample{Scenario: sc.Name, RPS: res.RPS, Requests: res.Requests, P50: res.Latency.P50, P99: res.Latency.P99,
		P999: res.Latency.P999, PeakRSSKB: hwmKiB(pid), Rate: rate, Curve: res.Curve}
	for _, n := range res.Errors {
		s.Errors += n
	}
	if res.Requests > 0 {
		// USER_HZ is 100 on every Linux build that matters.
		s.CPUPerReq = float64(c1-c0) / 100 * 1e6 / float64(res.Requests)
	}
	return s, nil
}

func runLoadProc(ctx context.Context, cfg CompareConfig, ports portSet, sc Scenario, dur time.Duration, rate float64) (*LoadResult, error) {
	url := "http://127.0.0.1:" + strconv.Itoa(ports.h1) + sc.Path
	if sc.Proto == "h2c" {
		url = "http://127.0.0.1:" + strconv.Itoa(ports.h2c) + sc.Path
	}
	if sc.Proto == "h1tls" || sc.Proto == "h2tls" {
		url = "https://127.0.0.1:" + strconv.Itoa(ports.tls) + sc.Path
	}
	args := []string{"-c", cfg.LoadCPU, cfg.SelfBin, "load", url, "-json", "-k", "-duration", dur.String(), "-conns", strconv.Itoa(sc.Conns)}
	if sc.Mode == "rate" {
		args = append(args, "-rate", strconv.FormatFloat(rate, 'f', 1, 64))
	} else {
		args = append(args, "-max")
	}
	if sc.Proto == "h2c" || sc.Proto == "h2tls" {
		args = append(args, "-h2", "-streams", strconv.Itoa(sc.Streams))
	}
	if sc.NewConnPerReq {
		args = append(args, "-H", "Connection: close")
	}
	for _, h := range sc.Headers {
		args = append(args, "-H", strings.ReplaceAll(h, "{{JWT}}", benchToken()))
	}
	cmd := exec.CommandContext(ctx, "taskset", args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("load failed: %w: %s", err, strings.TrimSpace(errb.String()))
	}
	var res LoadResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		return nil, fmt.Errorf("cannot read load result: %w", err)
	}
	return &res, nil
}

// procTree returns pid and all its descendants.
func procTree(pid int) []int {
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", out[i]))
		for _, t := range tasks {
			b, _ := os.ReadFile(t)
			for _, f := range strings.Fields(string(b)) {
				if c, err := strconv.Atoi(f); err == nil {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// procTicks sums utime+stime (all threads) over the process tree.
func procTicks(pid int) int64 {
	var sum int64
	for _, p := range procTree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			continue
		}
		// Fields after the command name, which may hold spaces: state is
		// field 3, utime 14, stime 15.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return sum
}

func hwmReset(pid int) {
	for _, p := range procTree(pid) {
		_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", p), []byte("5"), 0)
	}
}

// hwmKiB sums VmHWM (peak RSS) over the process tree.
func hwmKiB(pid int) int64 {
	var sum int64
	for _, p := range procTree(pid) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				sum += n
			}
		}
	}
	return sum
}

func describeMachine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	var vers []string
	for _, c := range [][]string{{"nginx", "-v"}, {"haproxy", "-v"}} {
		if out, err := exec.Command(c[0], c[1]).CombinedOutput(); err == nil {
			vers = append(vers, strings.SplitN(strings.TrimSpace(string(out)), "\n", 2)[0])
		}
	}
	return fmt.Sprintf("%s, %d CPUs, Linux %s; %s", model, numCPU(), strings.TrimSpace(string(kernel)), strings.Join(vers, "; "))
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

// writeSystemConfigs writes the TLS certificate and the nginx, HAProxy and
// Portico configs, all set up alike: one worker, keep-alive to the origin,
// no access log, TLS without session resumption.
func writeSystemConfigs(dir string, p portSet) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("cannot resolve %s: %w", dir, err)
	}
	certPEM, keyPEM, err := selfSignedCert()
	if err != nil {
		return err
	}
	files := map[string]string{
		"cert.pem":     string(certPEM),
		"key.pem":      string(keyPEM),
		"haproxy.pem":  string(certPEM) + string(keyPEM),
		"nginx.conf":   fmt.Sprintf(nginxTmpl, abs, p.origin, p.originBig, p.h1, p.tls, p.h2c),
		"haproxy.cfg":  fmt.Sprintf(haproxyTmpl, p.h1, p.tls, abs, p.origin, p.originBig, p.h2c),
		"portico.yaml": fmt.Sprintf(porticoTmpl, p.h1, p.tls, abs, abs, p.origin, p.originBig, p.h2c),
		"hs256.key":    benchHMACSecret,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return fmt.Errorf("cannot write %s: %w", name, err)
		}
	}
	return nil
}

func selfSignedCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create certificate: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}

const nginxTmpl = `# generated by portico-bench compare
worker_processes 1;
pid run/nginx.pid;
error_log run/nginx.err warn;
events { worker_connections 8192; }
worker_rlimit_nofile 16384;
http {
    access_log off;
    client_body_temp_path run/tmp/body;
    proxy_temp_path run/tmp/proxy;
    fastcgi_temp_path run/tmp/fastcgi;
    uwsgi_temp_path run/tmp/uwsgi;
    scgi_temp_path run/tmp/scgi;
    keepalive_requests 10000000;
    keepalive_timeout 75s;
    # %[1]s
    upstream origin { server 127.0.0.1:%[2]d; keepalive 64; keepalive_requests 10000000; }
    upstream origin_big { server 127.0.0.1:%[3]d; keepalive 64; keepalive_requests 10000000; }
    server {
        listen 127.0.0.1:%[4]d backlog=4096;
        listen 127.0.0.1:%[5]d ssl http2 backlog=4096;
        listen 127.0.0.1:%[6]d http2 backlog=4096;
        ssl_certificate     cert.pem;
        ssl_certificate_key key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets off;
        location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /big { proxy_pass http://origin_big; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
`

const haproxyTmpl = `# generated by portico-bench compare
global
    nbthread 1
    maxconn 8000
    tune.ssl.cachesize 0
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client  30s
    timeout server  30s
    timeout http-keep-alive 75s
frontend fe
    bind 127.0.0.1:%[1]d
    bind 127.0.0.1:%[2]d ssl crt %[3]s/haproxy.pem alpn h2,http/1.1 no-tls-tickets
    bind 127.0.0.1:%[6]d proto h2
    acl big path_beg /big
    use_backend origin_big if big
    default_backend origin
backend origin
    server s1 127.0.0.1:%[4]d maxconn 10000
backend origin_big
    server s1 127.0.0.1:%[5]d maxconn 10000
`

const porticoTmpl = `# generated by portico-bench compare (SPEC.md route file)
version: 1
listeners:
  - name: plain
    address: 127.0.0.1:%[1]d
    protocols: [http1]
  - name: h2c
    address: 127.0.0.1:%[7]d
    protocols: [h2c]
  - name: tls
    address: 127.0.0.1:%[2]d
    tls:
      certificates:
        - {cert_file: %[3]s/cert.pem, key_file: %[4]s/key.pem}
access_log: {path: "off"}
upstreams:
  - name: origin
    targets:
      - {address: 127.0.0.1:%[5]d}
    max_idle_conns: 64
  - name: origin_big
    targets:
      - {address: 127.0.0.1:%[6]d}
    max_idle_conns: 64
routes:
  - name: big
    match: {path_prefix: /big}
    upstream: origin_big
  - name: jwt
    match: {path_prefix: /jwt}
    auth: [bench-users]
    rate_limits: [bench-ip, bench-global]
    upstream: origin
  - name: all
    match: {path_prefix: /}
    upstream: origin
auth:
  - {name: bench-users, type: jwt, issuer: "https://bench/", audiences: [bench], algorithms: [HS256], hmac_secret_file: %[3]s/hs256.key}
rate_limits:
  - {name: bench-ip, key: ip, rate: 10000000/s}
  - {name: bench-global, key: global, rate: 10000000/s}
`

// benchHMACSecret signs the token of the JWT scenario (Portico's generated
// route file verifies it with hmac_secret_file); it protects nothing.
const benchHMACSecret = "portico-bench-hs256-secret-0123456789abcdef"

// benchToken mints the HS256 token the JWT scenario sends on every request,
// so the gateway's verified-token cache answers after the first one.
func benchToken() string {
	enc := base64.RawURLEncoding
	head := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	claims := enc.EncodeToString([]byte(fmt.Sprintf(`{"iss":"https://bench/","aud":"bench","sub":"bench-user","scope":"read","exp":%d}`, time.Now().Add(24*time.Hour).Unix())))
	mac := hmac.New(sha256.New, []byte(benchHMACSecret))
	mac.Write([]byte(head + "." + claims))
	return head + "." + claims + "." + enc.EncodeToString(mac.Sum(nil))
}
