package balancer

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Algorithm names accepted in PoolConfig.Algorithm.
const (
	RoundRobin     = "round_robin"
	LeastRequest   = "least_request"
	ConsistentHash = "consistent_hash"
	Random         = "random"
)

// Defaults and limits; README.md documents them for operators.
const (
	// DefaultWeight applies to a target whose Weight is 0.
	DefaultWeight = 1
	// MaxWeight bounds a target's weight.
	MaxWeight = 10000
	// MaxTargets bounds the targets of one pool (tables index with uint16).
	MaxTargets = 4096

	DefaultHealthInterval     = 5 * time.Second
	DefaultHealthTimeout      = time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	DefaultHealthPath         = "/"

	DefaultConsecutiveFailures = 5
	DefaultBaseEjection        = 30 * time.Second
	// DefaultMaxEjection caps the doubling ejection time (unless the base
	// itself is longer, in which case the base is the cap).
	DefaultMaxEjection = 300 * time.Second

	// DefaultPanicThreshold is the percentage of a pool's healthy targets
	// below which, when outlier ejection leaves fewer un-ejected, traffic
	// spreads over every healthy target again (Envoy's default threshold;
	// unlike Envoy, targets failing active health checks stay out).
	DefaultPanicThreshold = 50
)

// TargetConfig is one upstream instance.
type TargetConfig struct {
	Address string // host:port, unique within the pool
	Weight  int    // 1..MaxWeight; 0 means DefaultWeight
}

// HealthCheckConfig configures active checks: an HTTP GET of Path every
// Interval (±10% jitter). A 2xx or 3xx answer within Timeout is a success,
// anything else a failure. UnhealthyThreshold consecutive failures mark a
// healthy target unhealthy; HealthyThreshold consecutive successes mark an
// unhealthy one healthy again. Zero values take the Default* constants.
type HealthCheckConfig struct {
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// Host, when set, is sent as the Host header instead of the address.
	Host string
	// TLS, when non-nil, makes checks use https with this config.
	TLS *tls.Config
}

// OutlierConfig configures passive ejection. ConsecutiveFailures reported
// failures in a row eject a target for BaseEjection; each further ejection
// in a streak doubles that time, up to MaxEjection. Zero values take the
// Default* constants.
type OutlierConfig struct {
	ConsecutiveFailures int
	BaseEjection        time.Duration
	MaxEjection         time.Duration
}

// PoolConfig is one upstream.
type PoolConfig struct {
	Name      string
	Targets   []TargetConfig
	Algorithm string // round_robin (default when empty) | least_request | consistent_hash | random

	HealthCheck *HealthCheckConfig // nil => no active checks
	Outlier     *OutlierConfig     // nil => no passive ejection

	// MaxConns caps in-flight requests per target (Target.Acquire); 0 = no cap.
	MaxConns int

	// PanicThreshold is a percentage: when fewer than this share of the
	// healthy targets are not ejected, picks ignore ejection (never active
	// health checks). 0 means DefaultPanicThreshold; a negative value
	// disables panic mode.
	PanicThreshold int

	// RetryPercent and RetryMinPerSecond configure the pool's
	// RetryBudget; 0 means DefaultRetryPercent / DefaultRetryMinPerSecond.
	RetryPercent      int
	RetryMinPerSecond int

	// OnChange, if set, is called after a target's active health state
	// flips, from a health-check goroutine (never from a pick).
	OnChange func(t *Target, healthy bool)
	// OnEject, if set, is called after a target is ejected, on the
	// goroutine that called ReportFailure (an event loop): it must not block.
	OnEject func(t *Target, d time.Duration)
}

// normalize validates cfg and returns a copy with defaults filled in.
func (cfg PoolConfig) normalize() (PoolConfig, error) {
	out := cfg
	if len(cfg.Targets) == 0 {
		return out, errors.New("no targets")
	}
	if len(cfg.Targets) > MaxTargets {
		return out, fmt.Errorf("%d targets, more than the limit of %d", len(cfg.Targets), MaxTargets)
	}
	switch cfg.Algorithm {
	case "":
		out.Algorithm = RoundRobin
	case RoundRobin, LeastRequest, ConsistentHash, Random:
	default:
		return out, fmt.Errorf("unknown algorithm %q (want round_robin, least_request, consistent_hash or random)", cfg.Algorithm)
	}
	out.Targets = make([]TargetConfig, len(cfg.Targets))
	seen := make(map[string]struct{}, len(cfg.Targets))
	for i, tc := range cfg.Targets {
		if tc.Address == "" || strings.ContainsAny(tc.Address, " /\t\r\n") {
			return out, fmt.Errorf("target %d: invalid address %q", i, tc.Address)
		}
		if _, dup := seen[tc.Address]; dup {
			return out, fmt.Errorf("target %d: duplicate address %q", i, tc.Address)
		}
		seen[tc.Address] = struct{}{}
		switch {
		case tc.Weight == 0:
			tc.Weight = DefaultWeight
		case tc.Weight < 0 || tc.Weight > MaxWeight:
			return out, fmt.Errorf("target %q: weight %d out of range 1..%d", tc.Address, tc.Weight, MaxWeight)
		}
		out.Targets[i] = tc
	}
	if cfg.MaxConns < 0 {
		return out, fmt.Errorf("max_conns %d is negative", cfg.MaxConns)
	}
	switch {
	case cfg.PanicThreshold == 0:
		out.PanicThreshold = DefaultPanicThreshold
	case cfg.PanicThreshold > 100:
		return out, fmt.Errorf("panic threshold %d%% is over 100%%", cfg.PanicThreshold)
	}
	if cfg.RetryPercent < 0 || cfg.RetryMinPerSecond < 0 {
		return out, errors.New("retry budget values must not be negative")
	}
	if hc := cfg.HealthCheck; hc != nil {
		h := *hc
		if h.Path == "" {
			h.Path = DefaultHealthPath
		}
		if h.Path[0] != '/' {
			return out, fmt.Errorf("health check path %q must start with /", h.Path)
		}
		if h.Interval < 0 || h.Timeout < 0 || h.HealthyThreshold < 0 || h.UnhealthyThreshold < 0 {
			return out, errors.New("health check values must not be negative")
		}
		if h.Interval == 0 {
			h.Interval = DefaultHealthInterval
		}
		if h.Timeout == 0 {
			h.Timeout = DefaultHealthTimeout
		}
		if h.Timeout > h.Interval {
			// A check outliving its interval would delay the next one anyway.
			h.Timeout = h.Interval
		}
		if h.HealthyThreshold == 0 {
			h.HealthyThreshold = DefaultHealthyThreshold
		}
		if h.UnhealthyThreshold == 0 {
			h.UnhealthyThreshold = DefaultUnhealthyThreshold
		}
		for _, tc := range out.Targets {
			if _, err := url.Parse(h.scheme() + "://" + tc.Address + h.Path); err != nil {
				return out, fmt.Errorf("cannot build health check URL for %q: %w", tc.Address, err)
			}
		}
		out.HealthCheck = &h
	}
	if oc := cfg.Outlier; oc != nil {
		o := *oc
		if o.ConsecutiveFailures < 0 || o.BaseEjection < 0 || o.MaxEjection < 0 {
			return out, errors.New("outlier values must not be negative")
		}
		if o.ConsecutiveFailures == 0 {
			o.ConsecutiveFailures = DefaultConsecutiveFailures
		}
		if o.BaseEjection == 0 {
			o.BaseEjection = DefaultBaseEjection
		}
		if o.MaxEjection == 0 {
			o.MaxEjection = DefaultMaxEjection
		}
		if o.MaxEjection < o.BaseEjection {
			o.MaxEjection = o.BaseEjection
		}
		out.Outlier = &o
	}
	return out, nil
}

func (h *HealthCheckConfig) scheme() string {
	if h.TLS != nil {
		return "https"
	}
	return "http"
}
