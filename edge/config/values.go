package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in Go syntax ("250ms", "5s", "1h30m").
// It is a distinct type so that the admin /config JSON shows "5s" rather than
// nanoseconds.
type Duration time.Duration

// Duration returns d as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// String formats d in Go syntax.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// ParseDuration parses a Go duration. A bare number other than 0 is refused
// because its unit would be a guess.
func ParseDuration(s string) (Duration, error) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want a Go duration such as 250ms, 5s or 1m30s)", s)
	}
	return Duration(v), nil
}

// Size is a byte count. In the route file it is a plain integer of bytes or
// an integer followed by KiB, MiB or GiB ("64KiB"). Decimal units (KB, MB)
// are refused because their meaning (1000 or 1024) is ambiguous.
type Size int64

// Size units.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
)

// String formats s with the largest binary unit that divides it exactly.
func (s Size) String() string {
	switch {
	case s != 0 && s%GiB == 0:
		return strconv.FormatInt(int64(s/GiB), 10) + "GiB"
	case s != 0 && s%MiB == 0:
		return strconv.FormatInt(int64(s/MiB), 10) + "MiB"
	case s != 0 && s%KiB == 0:
		return strconv.FormatInt(int64(s/KiB), 10) + "KiB"
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalText implements encoding.TextMarshaler.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSize parses "1024", "64KiB", "10MiB" or "1GiB" (also a trailing "B"
// for bytes: "512B"). Negative values, fractions and decimal units are
// refused.
func ParseSize(s string) (Size, error) {
	num, mult := s, Size(1)
	for _, u := range []struct {
		suffix string
		mult   Size
	}{{"KiB", KiB}, {"MiB", MiB}, {"GiB", GiB}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	bad := func() (Size, error) {
		hint := ""
		up := strings.ToUpper(s)
		for _, d := range []string{"KB", "MB", "GB", "K", "M", "G", "TIB", "TB"} {
			if strings.HasSuffix(up, d) {
				hint = "; decimal and other units are not accepted"
				break
			}
		}
		return 0, fmt.Errorf("invalid size %q (want bytes or an integer with KiB, MiB or GiB, such as 64KiB%s)", s, hint)
	}
	if num == "" {
		return bad()
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return bad()
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/int64(mult) {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return Size(n) * mult, nil
}

// Rate is a number of events per period, written "N/s", "N/m", "N/h" or
// "N/d".
type Rate struct {
	Count int64
	Per   time.Duration
}

// PerSecond returns the rate as events per second (0 for the zero Rate).
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return float64(r.Count) / r.Per.Seconds()
}

// String formats r as it is written in the route file.
func (r Rate) String() string {
	u := "s"
	switch r.Per {
	case time.Minute:
		u = "m"
	case time.Hour:
		u = "h"
	case 24 * time.Hour:
		u = "d"
	case time.Second, 0:
	default:
		return strconv.FormatInt(r.Count, 10) + "/" + r.Per.String()
	}
	return strconv.FormatInt(r.Count, 10) + "/" + u
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Rate) UnmarshalText(b []byte) error {
	v, err := ParseRate(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

var errRate = errors.New("want N/s, N/m, N/h or N/d with N a positive integer, such as 100/s")

// ParseRate parses "N/s", "N/m", "N/h" or "N/d". N must be a positive
// integer.
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(s, "/")
	if !ok || num == "" {
		return Rate{}, fmt.Errorf("invalid rate %q: %w", s, errRate)
	}
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	case "d":
		per = 24 * time.Hour
	default:
		return Rate{}, fmt.Errorf("invalid rate %q: %w", s, errRate)
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return Rate{}, fmt.Errorf("invalid rate %q: %w", s, errRate)
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return Rate{}, fmt.Errorf("invalid rate %q: too large", s)
	}
	if n == 0 {
		return Rate{}, fmt.Errorf("invalid rate %q: must be greater than 0", s)
	}
	return Rate{Count: n, Per: per}, nil
}
