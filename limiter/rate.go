package limiter

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrBadRate is wrapped by ParseRate and PerSecond errors.
var ErrBadRate = errors.New("limiter: bad rate")

// Periods accepted by ParseRate.
var ratePeriods = [...]struct {
	unit   string
	period time.Duration
}{
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
}

// ParseRate parses the route file's rate syntax "N/s", "N/m", "N/h" or "N/d"
// (N a positive decimal integer, no spaces) into Config.Rate and
// Config.Period. A day is 24 hours.
func ParseRate(s string) (int64, time.Duration, error) {
	num, unit, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("cannot parse rate %q: want N/s, N/m, N/h or N/d: %w", s, ErrBadRate)
	}
	for _, c := range []byte(num) {
		if c < '0' || c > '9' { // strconv would also take a sign
			return 0, 0, fmt.Errorf("cannot parse rate %q: %q is not a positive integer: %w", s, num, ErrBadRate)
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("cannot parse rate %q: %q is not a positive integer: %w", s, num, ErrBadRate)
	}
	for _, p := range ratePeriods {
		if unit == p.unit {
			return n, p.period, nil
		}
	}
	return 0, 0, fmt.Errorf("cannot parse rate %q: unit %q is not one of s, m, h, d: %w", s, unit, ErrBadRate)
}

// PerSecond converts a rate in tokens per second into Config.Rate and
// Config.Period, choosing the shortest whole-second period (up to 1000 s) in
// which the rate is a whole number of tokens: 2.5 gives 5 per 2 s, 0.1 gives
// 1 per 10 s. Other rates are rounded to thousandths of a token per second
// (N per 1000 s). Remember that the default Burst is Rate, one period's worth.
func PerSecond(r float64) (int64, time.Duration, error) {
	if math.IsNaN(r) || r <= 0 || r > 1e9 {
		return 0, 0, fmt.Errorf("cannot use %v tokens per second: want 0 < r <= 1e9: %w", r, ErrBadRate)
	}
	for k := 1; k <= 1000; k++ {
		tokens := r * float64(k)
		if rounded := math.Round(tokens); rounded >= 1 && math.Abs(tokens-rounded) <= 1e-9*tokens {
			return int64(rounded), time.Duration(k) * time.Second, nil
		}
	}
	tokens := math.Round(r * 1000)
	if tokens < 1 {
		return 0, 0, fmt.Errorf("cannot use %v tokens per second: under one token per 1000 s: %w", r, ErrBadRate)
	}
	return int64(tokens), 1000 * time.Second, nil
}
