package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// minCheckWorkers and maxCheckWorkers bound the concurrent checks of one
// pool (checkWorkers).
const (
	minCheckWorkers = 4
	maxCheckWorkers = 256
)

// checkWorkers is how many checks of a pool may run at once: enough that
// every target can be checked once per interval even when each check runs
// to its timeout (a zone of blackholed targets), so a hanging target
// delays only its own next check, not its neighbours'; at least
// minCheckWorkers, at most maxCheckWorkers, never more than the targets.
func checkWorkers(targets int, interval, timeout time.Duration) int {
	need := minCheckWorkers
	if interval > 0 {
		need = max(need, int((int64(targets)*int64(timeout)+int64(interval)-1)/int64(interval))+1)
	}
	return min(targets, need, maxCheckWorkers)
}

// maxCheckBody bounds how much of a check's response body is read.
const maxCheckBody = 64 << 10

// checker runs a pool's active health checks: one scheduler goroutine
// hands due targets to a worker set sized by checkWorkers, so concurrency
// is bounded however many targets the pool has, and a slow target delays
// only its own next check (up to maxCheckWorkers checks hanging at once).
type checker struct {
	p      *Pool
	cfg    *HealthCheckConfig
	client *http.Client
	urls   []string

	due  []atomic.Int64 // interval-clock ns (Now) of each target's next check
	busy []atomic.Bool  // queued or running
	work chan int       // target indices; capacity len(targets), never blocks
	wake chan struct{}  // a worker finished: reschedule

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startChecker(ctx context.Context, p *Pool) *checker {
	cfg := p.cfg.HealthCheck
	n := len(p.targets)
	tr := &http.Transport{
		Proxy:                 nil, // never route checks through an environment proxy
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		TLSClientConfig:       cfg.TLS,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		// A fresh connection per check tests what the proxy needs: that
		// the target accepts connections.
		DisableKeepAlives:  true,
		DisableCompression: true,
	}
	c := &checker{
		p:   p,
		cfg: cfg,
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a 3xx is an answer, not a hop
			},
		},
		urls: make([]string, n),
		due:  make([]atomic.Int64, n),
		busy: make([]atomic.Bool, n),
		work: make(chan int, n),
		wake: make(chan struct{}, 1),
	}
	now := Now()
	for i, t := range p.targets {
		c.urls[i] = cfg.scheme() + "://" + t.address + cfg.Path
		// Spread the first checks over half an interval.
		c.due[i].Store(now + rand.Int64N(int64(cfg.Interval)/2+1))
	}
	ctx, c.cancel = context.WithCancel(ctx)
	workers := checkWorkers(n, cfg.Interval, cfg.Timeout)
	c.wg.Add(workers + 1)
	go c.schedule(ctx)
	for range workers {
		go c.worker(ctx)
	}
	return c
}

func (c *checker) stop() {
	c.cancel()
	c.wg.Wait()
	c.client.CloseIdleConnections()
}

func (c *checker) schedule(ctx context.Context) {
	defer c.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		now := Now()
		next := now + int64(c.cfg.Interval)
		for i := range c.due {
			if c.busy[i].Load() {
				continue
			}
			d := c.due[i].Load()
			if d <= now {
				c.busy[i].Store(true)
				c.work <- i // capacity n and one entry per target: never blocks
				continue
			}
			next = min(next, d)
		}
		timer.Reset(time.Duration(next - now))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.wake:
		}
	}
}

func (c *checker) worker(ctx context.Context) {
	defer c.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case i := <-c.work:
			began := Now()
			err := c.check(ctx, i)
			if ctx.Err() != nil {
				return // stopping: a cancelled check says nothing about the target
			}
			c.record(c.p.targets[i], err)
			// Every interval from the start of the last check, not from
			// its end: a target that answers at the timeout was checked
			// every interval + timeout, and taken out that much later.
			c.due[i].Store(max(began+c.jitteredInterval(), Now()))
			c.busy[i].Store(false)
			select {
			case c.wake <- struct{}{}:
			default:
			}
		}
	}
}

// jitteredInterval returns the interval ±10%, so checks of many targets
// and pools drift apart instead of firing together.
func (c *checker) jitteredInterval() int64 {
	iv := int64(c.cfg.Interval)
	return iv - iv/10 + rand.Int64N(iv/5+1)
}

// check performs one GET; nil means healthy (2xx or 3xx within Timeout).
func (c *checker) check(ctx context.Context, i int) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.urls[i], nil)
	if err != nil {
		return fmt.Errorf("cannot build health check request: %w", err)
	}
	if c.cfg.Host != "" {
		req.Host = c.cfg.Host
	}
	req.Header.Set("User-Agent", "portico-health-check")
	resp, err := c.client.Do(req)
	if err != nil {
		// The error names the URL; its query may carry a token, and the
		// error is logged and shown by GET /upstreams: say GET and the
		// path alone.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("health check failed: GET %s: %w", req.URL.Path, ue.Err)
		}
		return fmt.Errorf("health check failed: %w", err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxCheckBody)
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("health check answered %d", resp.StatusCode)
	}
	return nil
}

// record applies one check result to the target's thresholds and
// publishes a flip atomically.
func (c *checker) record(t *Target, err error) {
	s := t.s
	s.lastCheck.Store(Now())
	if err == nil {
		s.lastError.Store(nil)
		s.checkFails.Store(0)
		n := bumpCapped(&s.checkOKs)
		if int(n) >= c.cfg.HealthyThreshold && s.healthy.CompareAndSwap(false, true) {
			c.p.flipped(t, true)
		}
		return
	}
	msg := err.Error()
	s.lastError.Store(&msg)
	s.checkOKs.Store(0)
	n := bumpCapped(&s.checkFails)
	if int(n) >= c.cfg.UnhealthyThreshold && s.healthy.CompareAndSwap(true, false) {
		c.p.flipped(t, false)
	}
}

// bumpCapped increments a threshold counter but stops far above any
// threshold, so years of passing checks cannot overflow it.
func bumpCapped(c *atomic.Int32) int32 {
	if n := c.Load(); n >= 1<<20 {
		return n
	}
	return c.Add(1)
}

func (p *Pool) flipped(t *Target, healthy bool) {
	stateGen.Add(1)
	p.refresh()
	if p.cfg.OnChange != nil {
		p.cfg.OnChange(t, healthy)
	}
}
