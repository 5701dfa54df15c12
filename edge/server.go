package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"

	"github.com/portico-gw/portico/balancer"
	"github.com/portico-gw/portico/edge/accesslog"
	"github.com/portico-gw/portico/edge/admin"
	"github.com/portico-gw/portico/edge/config"
)

// Options configure a Server beyond the route file.
type Options struct {
	// ConfigPath is re-read on Reload. Empty for servers built from an
	// in-memory config (the demo), which then cannot reload from disk.
	ConfigPath string
	// Loops is the number of event loops; 0 means GOMAXPROCS.
	Loops  int
	Logger *slog.Logger
	// LoadConfig, when set, replaces config.Load for reloads (the demo uses it).
	LoadConfig func() (*config.Config, error)
}

// boundListener is a socket bound at start. Its address is fixed for the
// process's life; its limits come from the current snapshot by name.
type boundListener struct {
	name    string
	addr    netip.AddrPort
	active  atomic.Int64
	refused *metrics.Counter // portico_connections_refused_total{listener}
	// retired: a reload left the listener out. Its sockets no longer
	// accept and its connections drain as on SIGTERM (retire); it is
	// never bound again in this process.
	retired atomic.Bool
}

// Server is one Portico process's data plane.
type Server struct {
	opts    Options
	log     *slog.Logger
	snap    atomic.Pointer[snapshot]
	metrics *metricsRegistry
	access  *accesslog.Logger
	admin   *admin.Server

	bound []*boundListener
	eng   gnet.Engine

	// quickClosers: per target address, when it was last seen closing a
	// connection right after its answer (*atomic.Int64, unix ns), shared
	// by the loops' pools (see hostPool.quickCloseAt).
	quickClosers sync.Map
	// targetWarnedAt: per target address, when a failed dial and an
	// invalid answer were last logged at warning level (*targetWarnings):
	// the cause (a refused connect, an untrusted certificate, a head over
	// the limits) is worth seeing without debug logging, but not once per
	// request.
	targetWarnedAt sync.Map
	h2WarnedAt     atomic.Int64 // when an HTTP/2 connection error was last logged as a warning

	loopsMu sync.Mutex
	loops   map[gnet.EventLoop]*loop
	loopSeq []*loop

	booted   chan struct{}
	stopped  chan struct{}
	runErr   error
	draining atomic.Bool
	ready    atomic.Bool
	clients  atomic.Int64 // open client connections, all listeners
	fd       fdGuard      // keeps accept(2) from running out of descriptors
	// reloadSem serialises reloads (SIGHUP and POST /reload): one
	// compile at a time. A channel, not a mutex, so that a reload waiting
	// for its turn gives up as soon as a drain begins (drainStarted).
	reloadSem    chan struct{}
	drainStarted chan struct{} // closed when Drain or Close begins
	// swapMu orders a reload's swap against the start of a drain and
	// Close: a compile that finishes after them is dropped, never swapped
	// in (it would start health checkers, retire listeners, move the
	// drain's snapshot under it).
	swapMu       sync.Mutex
	shutDown     bool // set by Drain and Close under swapMu: no swap after it
	healthCtx    context.Context
	healthCancel context.CancelFunc
}

// New compiles cfg into the first snapshot. It binds nothing yet.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Loops <= 0 {
		opts.Loops = runtime.GOMAXPROCS(0)
	}
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		metrics: newMetricsRegistry(),
		loops:   make(map[gnet.EventLoop]*loop),
		booted:  make(chan struct{}),
		stopped: make(chan struct{}),

		reloadSem:    make(chan struct{}, 1),
		drainStarted: make(chan struct{}),
	}
	aps, err := resolveBinds(cfg)
	if err != nil {
		return nil, err
	}
	snap, err := compile(cfg, nil, s.metrics, s.log)
	if err != nil {
		return nil, err
	}
	for i := range cfg.Listeners {
		l := &cfg.Listeners[i]
		bl := &boundListener{name: l.Name, addr: aps[i]}
		s.bound = append(s.bound, bl)
		s.metrics.connectionsGauge(l.Name, &bl.active)
		bl.refused = s.metrics.refusedCounter(l.Name)
	}
	// A failing destination (a full disk, a closed pipe) is counted in
	// portico_access_log_dropped_total and said in the process log, at
	// most once a second.
	acc, err := accesslog.OpenOptions(cfg.AccessLog.Path, accesslog.Options{BufBytes: 1 << 20,
		OnError: func(err error) { s.log.Warn("access log lines lost", "error", err.Error()) }})
	if err != nil {
		return nil, err // "cannot open access log: open PATH: reason"
	}
	s.access = acc
	s.metrics.logDropped = acc.Dropped
	s.metrics.handshakeGauges(s)
	s.publish(snap, nil)
	return s, nil
}

// resolveBinds resolves every listener's address, and the admin listener's,
// as run binds them, and refuses two that would bind the same socket once
// resolved: the route file check compares addresses as written, so
// "localhost:8080" and "127.0.0.1:8080" (or "08080") passed it, and with
// SO_REUSEPORT both binds succeeded and silently split the traffic (a TLS
// listener then served plaintext). Problems carry the file position.
func resolveBinds(cfg *config.Config) ([]netip.AddrPort, error) {
	var problems []config.Problem
	type bind struct {
		path string
		ap   netip.AddrPort
	}
	var seen []bind
	check := func(path, addr string) netip.AddrPort {
		ap, err := resolveAddrPort(addr)
		if err != nil {
			problems = append(problems, cfg.Problem(path, "cannot resolve %q: %v", addr, err))
			return ap
		}
		for _, b := range seen {
			if b.ap.Port() == ap.Port() && ap.Port() != 0 && (b.ap.Addr() == ap.Addr() || b.ap.Addr().IsUnspecified() || ap.Addr().IsUnspecified()) {
				problems = append(problems, cfg.Problem(path, "%s binds the same socket as %s (%s)", addr, b.path, b.ap))
				break
			}
		}
		seen = append(seen, bind{path, ap})
		return ap
	}
	aps := make([]netip.AddrPort, len(cfg.Listeners))
	for i := range cfg.Listeners {
		aps[i] = check(fmt.Sprintf("listeners[%d].address", i), cfg.Listeners[i].Address)
	}
	if cfg.Admin != nil && cfg.Admin.Address != "" {
		check("admin.address", cfg.Admin.Address)
	}
	if len(problems) > 0 {
		return nil, &config.Errors{Problems: problems}
	}
	return aps, nil
}

func resolveAddrPort(addr string) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	tcp, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port))
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap := tcp.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// publish makes snap current and (re)starts health checks for its pools.
func (s *Server) publish(snap, prev *snapshot) {
	if s.healthCancel != nil {
		s.healthCancel()
	}
	s.healthCtx, s.healthCancel = context.WithCancel(context.Background())
	var health []healthTarget
	for _, u := range snap.upstreams {
		u.pool.Start(s.healthCtx)
		for _, t := range u.pool.Targets() {
			// 1 while the target takes traffic: passing its checks and not
			// ejected by outlier detection.
			health = append(health, healthTarget{upstream: u.name, target: t.Address(), healthy: func() bool { return t.Available(balancer.Now()) }})
		}
	}
	s.metrics.setTargetHealth(health)
	// Warning pacing is kept only for targets still configured.
	s.targetWarnedAt.Range(func(k, _ any) bool {
		if !slices.ContainsFunc(health, func(h healthTarget) bool { return h.target == k }) {
			s.targetWarnedAt.Delete(k)
		}
		return true
	})
	s.settleSeries(snap)
	startAuth(snap, prev)
	s.snap.Store(snap)
	if prev != nil {
		for name, u := range prev.upstreams {
			if nu := snap.upstreams[name]; nu == nil || nu.pool != u.pool {
				u.pool.Stop()
			}
		}
	}
}

// Start binds every listener and the admin listener and starts the loops.
// It returns once the listeners accept connections, or with the bind error.
func (s *Server) Start() error {
	addrs := make([]string, len(s.bound))
	for i, b := range s.bound {
		addrs[i] = "tcp://" + b.addr.String()
		// The loops bind with SO_REUSEPORT, which would let a second
		// Portico (or anything else with the option) share the port and
		// silently split its traffic. A plain bind first refuses that.
		probe, err := net.Listen("tcp", b.addr.String())
		if err != nil {
			return fmt.Errorf("cannot bind listener %q on %s: %w", b.name, b.addr, err)
		}
		_ = probe.Close()
	}
	go func() {
		err := gnet.Rotate(&handler{s: s}, addrs,
			gnet.WithNumEventLoop(s.opts.Loops),
			gnet.WithReusePort(true),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithTCPKeepAlive(0),
			gnet.WithSocketRecvBuffer(0),
			gnet.WithReadBufferCap(64<<10),
			gnet.WithWriteBufferCap(64<<10),
			gnet.WithLogger(gnetLogger{s.log}),
		)
		s.runErr = err
		close(s.stopped)
	}()
	select {
	case <-s.booted:
	case <-s.stopped:
		if s.runErr == nil {
			s.runErr = errors.New("event loops stopped during start")
		}
		return fmt.Errorf("cannot start listeners: %w", s.runErr)
	}
	if a := s.snap.Load().cfg.Admin; a != nil && a.Address != "" {
		s.admin = admin.New(a.Address, &adminProvider{s: s}, s.metrics.writePrometheus)
		if err := s.admin.Start(); err != nil {
			s.stopEngine()
			return err // it names the admin address
		}
		if !admin.LoopbackAddr(a.Address) {
			// The admin listener has no authentication: POST /reload and
			// /config answer whoever reaches it. Allowed (a private
			// management network), but never silently.
			s.log.Warn("the admin listener is not on loopback: /reload, /config and /metrics answer anyone who can reach it; keep it on a private network or behind a firewall",
				"address", a.Address)
		}
	}
	s.setupFDGuard()
	s.ready.Store(true)
	for _, b := range s.bound {
		s.log.Info("listening", "listener", b.name, "address", b.addr.String())
	}
	return nil
}

// setupFDGuard sizes the accept queues and the descriptor ceiling (see
// fdGuard), and warns when the open-file limit leaves less room than the
// listeners' max_connections ask for.
func (s *Server) setupFDGuard() {
	addrs := make([]netip.AddrPort, len(s.bound))
	for i, b := range s.bound {
		addrs[i] = b.addr
	}
	g := &s.fd
	g.setup(addrs, len(addrs)*s.opts.Loops)
	if !g.armed.Load() {
		return
	}
	s.log.Debug("descriptor guard", "open_file_limit", g.limit, "listening_sockets", g.sockets, "accept_queue", g.backlog,
		"client_connections_max", g.room()/2)
	var asked int64
	for _, ls := range s.snap.Load().listeners {
		if ls.maxConnections <= 0 {
			asked = -1
			break
		}
		asked += ls.maxConnections
	}
	if asked < 0 || asked > g.room()/2 {
		s.log.Warn("the open-file limit allows fewer client connections than max_connections; past it connections are refused at accept",
			"open_file_limit", g.limit, "client_connections_max", max(g.room()/2, 0), "hint", "raise ulimit -n (LimitNOFILE=)")
	}
}

// AdminAddr is the admin listener's bound address, or "" when there is none.
func (s *Server) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr().String()
}

// Done is closed when the event loops have stopped.
func (s *Server) Done() <-chan struct{} { return s.stopped }

// ErrDraining is Reload's answer once a drain (or Close) has begun: the
// process is going away and keeps the config it drains with.
var ErrDraining = errors.New("draining; reload refused")

// Reload re-reads the route file, compiles it and swaps it in. On any error
// the old snapshot keeps serving and the failure is counted. A file access
// log is reopened first (log rotation), during a drain too. Reloads run one
// at a time; once a drain has begun Reload returns ErrDraining, and a
// compile that finishes after it began is dropped.
func (s *Server) Reload() error {
	// A file access log is reopened under its path, whatever the route
	// file says and whatever else goes on: logrotate renames the file,
	// then sends SIGHUP, and must not lose the lines of a drain.
	if err := s.access.Reopen(); err != nil && !errors.Is(err, accesslog.ErrClosed) {
		s.log.Error("cannot reopen the access log", "error", err.Error())
	}
	select {
	case s.reloadSem <- struct{}{}:
	case <-s.drainStarted:
		s.log.Warn("reload refused: draining")
		return ErrDraining
	}
	defer func() { <-s.reloadSem }()
	if s.isShutDown() {
		s.log.Warn("reload refused: draining")
		return ErrDraining
	}
	err := s.reload()
	if errors.Is(err, ErrDraining) {
		s.log.Warn("reload finished after the drain began; its result is dropped")
		return err
	}
	if err != nil {
		s.metrics.reloadFailure.Inc()
		var errs *config.Errors
		if errors.As(err, &errs) && len(errs.Problems) > 0 {
			for _, p := range errs.Problems { // one line each, as at start
				s.log.Error("route file problem", "problem", p.String())
			}
			s.log.Error("reload failed; keeping the previous config", "problems", len(errs.Problems))
			return err
		}
		s.log.Error("reload failed; keeping the previous config", "error", err.Error())
		return err
	}
	s.metrics.reloadSuccess.Inc()
	s.log.Info("config reloaded", "sha256", s.snap.Load().sha256)
	return nil
}

func (s *Server) isShutDown() bool {
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	return s.shutDown
}

// beginShutdown marks the server as going away (once; later calls do
// nothing): no reload swaps in after it, and a reload waiting for its turn
// gives up.
func (s *Server) beginShutdown() {
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	if !s.shutDown {
		s.shutDown = true
		close(s.drainStarted)
	}
}

func (s *Server) reload() error {
	var (
		cfg *config.Config
		err error
	)
	switch {
	case s.opts.LoadConfig != nil:
		cfg, err = s.opts.LoadConfig()
	case s.opts.ConfigPath != "":
		cfg, err = config.LoadForReload(s.opts.ConfigPath)
	default:
		return errors.New("no route file to reload from")
	}
	if err != nil {
		return err
	}
	prev := s.snap.Load()
	retire, err := s.checkListeners(prev.cfg, cfg)
	if err != nil {
		return err
	}
	s.metrics.reloading.Lock()
	defer s.metrics.reloading.Unlock()
	snap, err := compile(cfg, prev, s.metrics, s.log)
	if err != nil {
		// compile registered the refused file's route and upstream series
		// as it went: nothing will ever count in them.
		s.metrics.settle(liveNames{}, false, time.Now())
		return err
	}
	// The connections of retired listeners keep their limits (and TLS
	// settings, for a handshake under way) until they end.
	for name, ls := range prev.listeners {
		if snap.listeners[name] == nil {
			snap.listeners[name] = ls
		}
	}
	s.swapMu.Lock()
	defer s.swapMu.Unlock()
	if s.shutDown {
		// A drain began while this compiled: the drain keeps what it
		// started with (listeners, pools, health checks).
		s.metrics.settle(liveNames{}, false, time.Now())
		return ErrDraining
	}
	s.publish(snap, prev)
	if len(retire) > 0 {
		s.retire(retire)
	}
	return nil
}

// settleSeries tells the metrics which routes, upstreams, auth methods and
// rate limits serve now (those a reload removed keep their series for
// staleGrace).
func (s *Server) settleSeries(snap *snapshot) {
	names := liveNames{routes: make(map[string]bool, len(snap.routes)), upstreams: make(map[string]bool, len(snap.upstreams)),
		auth: make(map[string]bool, len(snap.auth)), limits: make(map[string]bool, len(snap.limits))}
	for _, r := range snap.routes {
		names.routes[r.name] = true
	}
	for name := range snap.upstreams {
		names.upstreams[name] = true
	}
	for name := range snap.auth {
		names.auth[name] = true
	}
	for name := range snap.limits {
		names.limits[name] = true
	}
	s.metrics.settle(names, true, time.Now())
}

// errNeedsRestart ends the message of a reload refused because the file
// changes what only a restart applies: the file is at fault, not the gateway.
var errNeedsRestart = errors.New("needs a restart")

// checkListeners returns the listeners a reload leaves out, to retire, or
// why the reload cannot apply: the listening sockets are bound once per
// process (SO_REUSEPORT per loop), so a listener the process has not bound
// (new, renamed or retired earlier) or one whose address or TLS-ness
// changed needs a restart. Limits, protocols and certificates reload.
func (s *Server) checkListeners(old, nw *config.Config) ([]*boundListener, error) {
	before := make(map[string]*config.Listener, len(old.Listeners))
	for i := range old.Listeners {
		before[old.Listeners[i].Name] = &old.Listeners[i]
	}
	kept := make(map[string]bool, len(nw.Listeners))
	for i := range nw.Listeners {
		b := &nw.Listeners[i]
		a := before[b.Name]
		if a == nil {
			return nil, fmt.Errorf("listener %q is not bound by this process; adding a listener %w", b.Name, errNeedsRestart)
		}
		if a.Address != b.Address || (a.TLS == nil) != (b.TLS == nil) {
			return nil, fmt.Errorf("listener %q changed address or TLS; that %w", b.Name, errNeedsRestart)
		}
		kept[b.Name] = true
	}
	if (old.Admin == nil) != (nw.Admin == nil) || (old.Admin != nil && old.Admin.Address != nw.Admin.Address) {
		return nil, fmt.Errorf("admin address changed; that %w", errNeedsRestart)
	}
	if old.AccessLog.Path != nw.AccessLog.Path {
		return nil, fmt.Errorf("access_log path changed; that %w", errNeedsRestart)
	}
	var retire []*boundListener
	for _, bl := range s.bound {
		if !kept[bl.name] && !bl.retired.Load() {
			retire = append(retire, bl)
		}
	}
	return retire, nil
}

// retire closes listeners a reload left out as a drain closes them all:
// their sockets stop accepting (new connections are refused), idle
// keep-alive connections close, a request in flight finishes and its
// answer says Connection: close, and HTTP/2 connections get the two-phase
// GOAWAY, their open streams finishing. Unlike a drain nothing is cut:
// requests still get their route timeouts. The other listeners serve on.
func (s *Server) retire(bls []*boundListener) {
	addrs := make(map[netip.AddrPort]bool, len(bls))
	names := make([]string, len(bls))
	for i, bl := range bls {
		addrs[bl.addr] = true
		names[i] = bl.name
	}
	// The sockets close first, each as a task of its loop: once every
	// loop has run it, none accepts for these listeners, so no connection
	// accepted before sees the flag (OnOpen refuses what a loop that
	// missed the task, or a gnet whose layout stopAccepting does not
	// know, still hands over).
	closed := s.stopAccepting(addrs)
	for _, bl := range bls {
		bl.retired.Store(true)
	}
	s.log.Info("listeners retired by reload", "listeners", names, "listening_sockets_closed", closed)
	go func() {
		// As Drain does: the loops close what has become idle, and move
		// each HTTP/2 connection to its final GOAWAY (goawayGrace after
		// the first), often at first, then at a slower pace until nothing
		// of the retired listeners is left.
		start := time.Now()
		for {
			s.forEachLoop(func(lp *loop) { lp.closeIdleClients(false) })
			if !s.retiring() {
				return
			}
			pace := 20 * time.Millisecond
			if time.Since(start) > 3*goawayGrace {
				pace = 500 * time.Millisecond
			}
			select {
			case <-s.stopped:
				return
			case <-time.After(pace):
			}
		}
	}()
}

// retiring reports whether a retired listener still has connections.
func (s *Server) retiring() bool {
	for _, bl := range s.bound {
		if bl.retired.Load() && bl.active.Load() > 0 {
			return true
		}
	}
	return false
}

// Drain stops taking new requests, lets in-flight ones finish for up to
// drain_timeout, then stops the loops. It returns when they have stopped.
func (s *Server) Drain() {
	// First: from here no reload swaps in, so the drain keeps the
	// listeners, pools and drain_timeout it starts with.
	s.beginShutdown()
	if !s.draining.CompareAndSwap(false, true) {
		<-s.stopped
		return
	}
	s.ready.Store(false)
	timeout := time.Duration(s.snap.Load().cfg.DrainTimeout)
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	stopped := s.stopAccepting(nil)
	s.log.Info("draining", "timeout", timeout.String(), "open_connections", s.clients.Load(), "listening_sockets_closed", stopped)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && s.clients.Load() > 0 {
		s.forEachLoop(func(lp *loop) { lp.closeIdleClients(true) })
		time.Sleep(20 * time.Millisecond)
	}
	if n := s.clients.Load(); n > 0 {
		s.log.Warn("drain timeout; closing remaining connections", "open_connections", n)
		s.onLoops(time.Second, (*loop).expireDrain)
		// A 503 just queued may sit behind a response another stream of
		// its HTTP/2 connection had queued (or behind its connection
		// window): closing now would cut it after its HEADERS. In-flight
		// requests had all of drain_timeout (SPEC §1); the answers then
		// queued get a short, bounded moment to reach readers that read.
		for end := time.Now().Add(min(drainFlushWait, timeout/4)); time.Now().Before(end) && s.outputQueued(); {
			time.Sleep(20 * time.Millisecond)
		}
	}
	s.Close()
}

// drainFlushWait bounds the time after drain_timeout (a quarter of it at
// most) given to the answers queued at its end to be written.
const drainFlushWait = 500 * time.Millisecond

// outputQueued reports whether any connection still has response bytes
// queued (gnet's buffer, a TLS session's, an HTTP/2 connection's output).
func (s *Server) outputQueued() bool {
	var queued atomic.Bool
	s.onLoops(100*time.Millisecond, func(lp *loop) {
		if lp.outputQueued() {
			queued.Store(true)
		}
	})
	return queued.Load()
}

// Close stops everything at once.
func (s *Server) Close() {
	s.ready.Store(false)
	s.beginShutdown() // a POST /reload waiting for its turn gives up now
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.admin.Shutdown(ctx)
		cancel()
	}
	s.stopEngine()
	// Under swapMu, after beginShutdown: a reload finishing now must not
	// start health checkers after these are stopped, nor one start later.
	s.swapMu.Lock()
	if s.healthCancel != nil {
		s.healthCancel()
	}
	for _, u := range s.snap.Load().upstreams {
		u.pool.Stop()
	}
	s.swapMu.Unlock()
	s.access.Close()
}

func (s *Server) stopEngine() {
	select {
	case <-s.booted:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.eng.Stop(ctx)
	select {
	case <-s.stopped:
	case <-ctx.Done():
	}
}

func (s *Server) forEachLoop(f func(*loop)) {
	s.loopsMu.Lock()
	loops := append([]*loop(nil), s.loopSeq...)
	s.loopsMu.Unlock()
	for _, lp := range loops {
		lp := lp
		_ = lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			lp.enter()
			f(lp)
			lp.flushDirty()
			return nil
		}))
	}
}

// onLoops runs f on every loop like forEachLoop, and waits up to timeout
// for all of them to have run it (their writes flushed).
func (s *Server) onLoops(timeout time.Duration, f func(*loop)) {
	s.loopsMu.Lock()
	n := len(s.loopSeq)
	s.loopsMu.Unlock()
	done := make(chan struct{}, n)
	s.forEachLoop(func(lp *loop) {
		f(lp)
		done <- struct{}{}
	})
	deadline := time.After(timeout)
	for i := 0; i < n; i++ {
		select {
		case <-done:
		case <-deadline:
			return
		}
	}
}

// loopFor returns the loop state of el, creating it on first sight. Each
// connection caches the result, so this runs once per connection.
func (s *Server) loopFor(el gnet.EventLoop) *loop {
	s.loopsMu.Lock()
	defer s.loopsMu.Unlock()
	if lp := s.loops[el]; lp != nil {
		return lp
	}
	lp := newLoop(s, el)
	s.loops[el] = lp
	s.loopSeq = append(s.loopSeq, lp)
	go lp.drive(s.stopped)
	return lp
}

func (s *Server) listenerFor(local net.Addr) *boundListener {
	ta, ok := local.(*net.TCPAddr)
	if !ok {
		return s.bound[0]
	}
	ap := ta.AddrPort()
	var fallback *boundListener
	for _, b := range s.bound {
		if b.addr.Port() != ap.Port() {
			continue
		}
		if b.addr.Addr().Unmap() == ap.Addr().Unmap() {
			return b
		}
		if b.addr.Addr().IsUnspecified() {
			fallback = b
		}
	}
	if fallback != nil {
		return fallback
	}
	return s.bound[0]
}

// handler adapts gnet's callbacks onto client and upstream connections. A
// connection's context is its *clientConn or *upConn.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	h.s.eng = eng
	close(h.s.booted)
	return gnet.None
}

func (h *handler) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if uc, ok := c.Context().(*upConn); ok {
		uc.hp.lp.enter()
		uc.onOpen(c)
		uc.hp.lp.flushDirty()
		return nil, gnet.None
	}
	s := h.s
	bl := s.listenerFor(c.LocalAddr())
	snap := s.snap.Load()
	ls := snap.listeners[bl.name]
	// Counted first, then checked: loops accepting at the same moment
	// must not all see room for one more.
	clients := s.clients.Add(1)
	if n := bl.active.Add(1); s.draining.Load() || bl.retired.Load() || (ls != nil && ls.maxConnections > 0 && n > ls.maxConnections) ||
		!s.fd.clientRoom(clients) {
		bl.active.Add(-1)
		s.clients.Add(-1)
		bl.refused.Inc() // over max_connections or the open-file limit, draining or retired: otherwise invisible
		if !s.fd.clientRoom(clients) && warnDue(&s.fd.warnedAt, balancer.Now()) {
			s.log.Warn("connection refused: the open-file limit is near", "listener", bl.name, "open_file_limit", s.fd.limit,
				"client_connections", clients-1, "upstream_connections", s.fd.upstreams.Load(), "next_warning_after", warnEvery.String())
		}
		// Refused before any byte is read: cheaper than a 503, and what a
		// full accept queue would have done anyway.
		return nil, gnet.Close
	}
	lp := s.loopFor(c.EventLoop())
	lp.enter()
	defer lp.enter() // no flushDirty ends this callback
	cc := lp.newClientConn(c, bl)
	if ls != nil && ls.tls != nil {
		c.SetContext(lp.newTLSSession(c, cc, ls.tls))
		return nil, gnet.None
	}
	c.SetContext(cc)
	return nil, gnet.None
}

func (h *handler) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		x.lp.enter()
		x.lp.dropLingering(c) // the client's close ends a lingering close
		x.onClose(err)
		x.bl.active.Add(-1)
		h.s.clients.Add(-1)
		x.lp.flushDirty()
	case *upConn:
		x.hp.lp.enter()
		h.s.fd.dropUpstream()
		x.onClose(err)
		x.hp.lp.flushDirty()
	case *h2Conn:
		x.lp.enter()
		x.lp.dropLingering(c)
		x.onClose()
		x.bl.active.Add(-1)
		h.s.clients.Add(-1)
		x.lp.flushDirty()
	case *tlsSession:
		x.lp.enter()
		x.lp.dropLingering(c)
		x.onClose()
		x.cc.bl.active.Add(-1)
		h.s.clients.Add(-1)
		x.lp.flushDirty()
	}
	return gnet.None
}

func (h *handler) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *clientConn:
		x.lp.enter()
		a := x.onTraffic()
		x.lp.flushDirty()
		return a
	case *upConn:
		x.hp.lp.enter()
		a := x.onTraffic()
		x.hp.lp.flushDirty()
		return a
	case *h2Conn:
		x.lp.enter()
		a := x.onTraffic()
		x.lp.flushDirty()
		return a
	case *tlsSession:
		x.lp.enter()
		a := x.onTraffic()
		x.lp.flushDirty()
		return a
	}
	return gnet.Close
}

// gnetLogger routes gnet's own logging into slog at debug level (gnet logs
// every closed connection's error at error level otherwise).
type gnetLogger struct{ l *slog.Logger }

func (g gnetLogger) Debugf(format string, args ...any) { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Infof(format string, args ...any)  { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Warnf(format string, args ...any)  { g.l.Debug(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Errorf(format string, args ...any) { g.l.Warn(fmt.Sprintf(format, args...)) }
func (g gnetLogger) Fatalf(format string, args ...any) { g.l.Error(fmt.Sprintf(format, args...)) }
