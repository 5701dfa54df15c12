package policy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// jwksSource fetches a JWK Set and publishes it through an atomic pointer.
// One goroutine (run) does every fetch, so fetches are single-flight by
// construction; verifiers only poke it through a 1-slot channel.
type jwksSource struct {
	url, file   string
	client      *http.Client
	ownClient   bool // client was built here: its idle connections are closed with the verifier
	timeout     time.Duration
	refresh     time.Duration
	minInterval time.Duration
	keys        *atomic.Pointer[KeySet]
	log         *slog.Logger
	adopted     bool // the key set came from a replaced verifier: fetch at once all the same

	trig        chan struct{}
	lastTrigger atomic.Int64  // monotonic ns (sinceStart) of the last accepted trigger; 0: none
	trigSeq     atomic.Uint64 // accepted triggers so far
	fetches     atomic.Uint64
	failures    atomic.Uint64
	lastOK      atomic.Int64 // UnixNano of the last successful fetch

	mu      sync.Mutex
	doneSeq uint64        // the sequence number of the last completed round
	running uint64        // the sequence number of the round under way, or 0
	round   chan struct{} // closed when the current round completes
	lastErr error
	waiters []refetchWaiter // see await; at most maxRefetchWaiters
	stopped bool            // run has ended: no round will come
}

// refetchWaiter is a parked request's callback for the round serving seq.
type refetchWaiter struct {
	seq uint64
	fn  func()
}

// maxRefetchWaiters bounds the requests parked on one verifier's refetch
// (a flood of unknown kids parks at most this many; the rest are refused
// at once).
const maxRefetchWaiters = 4096

func newJWKSSource(cfg *JWTConfig, keys *atomic.Pointer[KeySet]) (*jwksSource, error) {
	s := &jwksSource{
		url:         cfg.JWKSURL,
		file:        cfg.JWKSFile,
		timeout:     cmpOr(cfg.FetchTimeout, DefaultFetchTimeout),
		refresh:     cmpOr(cfg.Refresh, DefaultJWKSRefresh),
		minInterval: cmpOr(cfg.MinRefetchInterval, DefaultMinRefetchInterval),
		keys:        keys,
		log:         cfg.Logger,
		trig:        make(chan struct{}, 1),
		round:       make(chan struct{}),
	}
	if s.refresh < time.Second || s.minInterval < 0 || s.timeout < 0 {
		return nil, fmt.Errorf("jwks_refresh must be at least 1s and intervals positive")
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.url == "" {
		return s, nil
	}
	if err := validJWKSURL(s.url); err != nil {
		return nil, err
	}
	if cfg.HTTPClient != nil {
		s.client = cfg.HTTPClient
		return s, nil
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.JWKSCAFile != "" {
		pem, err := readLimited(cfg.JWKSCAFile, MaxJWKSBytes)
		if err != nil {
			return nil, fmt.Errorf("cannot read jwks_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("cannot use jwks_ca_file %s: no PEM certificate in it", cfg.JWKSCAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	s.ownClient = true
	s.client = &http.Client{
		Transport: tr,
		Timeout:   s.timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxJWKSRedirects {
				return errors.New("too many redirects")
			}
			if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
				return errors.New("redirect from https to http refused")
			}
			// Plain http is allowed to loopback only (as the route file
			// has it), wherever the redirect began.
			if req.URL.Scheme != "https" && !loopbackHost(req.URL.Hostname()) {
				return errors.New("redirect to plain http off loopback refused")
			}
			return nil
		},
	}
	return s, nil
}

// maxJWKSRedirects is how many redirects a JWKS fetch follows (AUTH.md).
const maxJWKSRedirects = 3

// loopbackHost: "localhost" or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// processStart anchors sinceStart; it is never written again.
var processStart = time.Now()

// sinceStart is a monotonic clock for the trigger interval (never 0): a
// step of the wall clock back must not block refetches for its size.
func sinceStart() int64 { return int64(time.Since(processStart)) + 1 }

// trigger asks for a refetch now. Calls within minInterval of the last
// accepted one are dropped, so a flood of unknown kids costs at most one
// fetch per interval. It never blocks. It returns the trigger's sequence
// number for waitRound, or 0 when dropped.
func (s *jwksSource) trigger() uint64 {
	now := sinceStart()
	last := s.lastTrigger.Load()
	if last != 0 && now-last < int64(s.minInterval) {
		return 0
	}
	if !s.lastTrigger.CompareAndSwap(last, now) {
		return 0 // another caller won this interval
	}
	seq := s.trigSeq.Add(1)
	select {
	case s.trig <- struct{}{}:
	default: // a fetch is already pending; it will observe seq
	}
	return seq
}

// pending returns the sequence number of a round that will serve a
// request now (the one under way, or one a trigger accepted and not yet
// served), or 0.
func (s *jwksSource) pending() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.trigSeq.Load(); t > s.doneSeq && !s.stopped {
		return t
	}
	return 0
}

// inFlight returns the sequence number of the round under way, or 0.
func (s *jwksSource) inFlight() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// await arranges for fn to run once the round serving seq has completed:
// on the fetching goroutine, or at once on the caller's when it already
// has (or when the refresher has stopped). It reports false, and never
// calls fn, when too many are waiting already.
func (s *jwksSource) await(seq uint64, fn func()) bool {
	s.mu.Lock()
	if s.doneSeq >= seq || s.stopped {
		s.mu.Unlock()
		fn()
		return true
	}
	if len(s.waiters) >= maxRefetchWaiters {
		s.mu.Unlock()
		return false
	}
	s.waiters = append(s.waiters, refetchWaiter{seq: seq, fn: fn})
	s.mu.Unlock()
	return true
}

// wake runs the callbacks of the waiters served by round seq (all of them
// when the refresher stops). Called without mu held.
func (s *jwksSource) wake(seq uint64, stopping bool) {
	s.mu.Lock()
	if stopping {
		s.stopped = true
	}
	var due []func()
	kept := s.waiters[:0]
	for _, w := range s.waiters {
		if stopping || w.seq <= seq {
			due = append(due, w.fn)
		} else {
			kept = append(kept, w)
		}
	}
	clear(s.waiters[len(kept):])
	s.waiters = kept
	s.mu.Unlock()
	for _, fn := range due {
		fn()
	}
}

// waitRound waits until a fetch round that began after trigger seq has
// completed (seq 0: any round), or ctx ends.
func (s *jwksSource) waitRound(ctx context.Context, seq uint64) error {
	s.mu.Lock()
	ch := s.round
	done := s.doneSeq
	s.mu.Unlock()
	if seq != 0 && done >= seq {
		return nil // that round already completed
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		s.mu.Lock()
		done := s.doneSeq
		ch = s.round
		s.mu.Unlock()
		if seq == 0 || done >= seq {
			return nil
		}
	}
}

func (s *jwksSource) roundChan() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.round
}

func (s *jwksSource) lastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}

// run is the refresher loop: fetch at once when no set is present, then
// every refresh; after a failure retry with backoff (1s doubling, capped
// at refresh and 1m); serve triggers in between.
func (s *jwksSource) run(ctx context.Context) {
	first := time.Duration(0)
	if s.keys.Load() != nil && !s.adopted {
		first = s.refresh
	}
	timer := time.NewTimer(first)
	defer timer.Stop()
	defer s.wake(0, true) // parked requests go on (and are refused) rather than wait for nothing
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.trig:
		}
		err := s.fetch(ctx)
		next := s.refresh
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			next = min(s.refresh, time.Minute, time.Second<<min(failures-1, 6))
		} else {
			failures = 0
		}
		timer.Reset(next)
	}
}

// fetch runs one round: load, parse, publish. On error the current set
// stays (stale-if-error).
func (s *jwksSource) fetch(ctx context.Context) error {
	// Every trigger accepted up to here is served by this round, which
	// takes a number of its own: one a request can wait for (inFlight)
	// even when no trigger started it (the first fetch, a retry).
	select {
	case <-s.trig:
	default:
	}
	s.mu.Lock()
	seq := s.trigSeq.Add(1)
	s.running = seq
	s.mu.Unlock()
	err := s.fetchOnce(ctx)
	s.fetches.Add(1)
	if err != nil {
		s.failures.Add(1)
		if s.keys.Load() != nil {
			s.log.Warn("jwks fetch failed; keeping the last good key set", "source", s.where(), "error", err)
		} else {
			s.log.Warn("jwks fetch failed; no key set yet (tokens needing one are refused with 503)", "source", s.where(), "error", err)
		}
	} else {
		s.lastOK.Store(time.Now().UnixNano())
	}
	s.mu.Lock()
	s.lastErr = err
	s.doneSeq = seq
	s.running = 0
	close(s.round)
	s.round = make(chan struct{})
	s.mu.Unlock()
	s.wake(seq, false)
	return err
}

// where names the source for logs and errors: the file, or the URL
// without its query or credentials (an identity provider may take an
// access token there).
func (s *jwksSource) where() string {
	if s.url == "" {
		return s.file
	}
	u, err := url.Parse(s.url)
	if err != nil {
		return "jwks_url"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

func (s *jwksSource) fetchOnce(ctx context.Context) error {
	var data []byte
	var err error
	if s.url != "" {
		data, err = s.get(ctx)
	} else {
		data, err = readLimited(s.file, MaxJWKSBytes)
	}
	if err != nil {
		return fmt.Errorf("cannot fetch JWKS from %s: %w", s.where(), err)
	}
	ks, err := ParseJWKS(data)
	if err != nil {
		return fmt.Errorf("cannot use JWKS from %s: %w", s.where(), err)
	}
	for _, note := range ks.skipped {
		s.log.Info("jwks key skipped", "source", s.where(), "note", note)
	}
	cur := s.keys.Load()
	if cur != nil && cur.setFP == ks.setFP && len(cur.keys) == len(ks.keys) {
		return nil // unchanged: keep the generation so cache hits stay one compare
	}
	ks.gen = 1
	if cur != nil {
		ks.gen = cur.gen + 1
	}
	s.keys.Store(ks)
	s.log.Info("jwks key set updated", "source", s.where(), "keys", len(ks.keys), "generation", ks.gen)
	return nil
}

func (s *jwksSource) get(ctx context.Context) ([]byte, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err // its message repeats the whole URL; where() names it
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read body: %w", err)
	}
	if len(data) > MaxJWKSBytes {
		return nil, fmt.Errorf("body over the %d-byte limit", MaxJWKSBytes)
	}
	return data, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over the %d-byte limit", path, limit)
	}
	return data, nil
}
