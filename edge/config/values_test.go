package config

import (
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	f := func(in string, want Size, ok bool) {
		t.Helper()
		got, err := ParseSize(in)
		if (err == nil) != ok || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", in, got, err, want, ok)
		}
	}
	f("0", 0, true)
	f("1024", 1024, true)
	f("512B", 512, true)
	f("64KiB", 64<<10, true)
	f("10MiB", 10<<20, true)
	f("1GiB", 1<<30, true)
	f("8589934591GiB", 8589934591<<30, true)
	f("8589934592GiB", 0, false) // overflows int64
	f("", 0, false)
	f("KiB", 0, false)
	f("64KB", 0, false)
	f("64kib", 0, false)
	f("64 KiB", 0, false)
	f("1.5MiB", 0, false)
	f("-1", 0, false)
	f("+1", 0, false)
	f("1TiB", 0, false)
	f("99999999999999999999", 0, false)
}

func TestSizeString(t *testing.T) {
	for in, want := range map[Size]string{0: "0", 100: "100", 64 * KiB: "64KiB", 10 * MiB: "10MiB", 2 * GiB: "2GiB", 1536: "1536", MiB + KiB: "1025KiB"} {
		if got := in.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(in), got, want)
		}
		var back Size
		if err := back.UnmarshalText([]byte(want)); err != nil || back != in {
			t.Errorf("round trip %q = %d, %v", want, back, err)
		}
	}
}

func TestParseRate(t *testing.T) {
	f := func(in string, count int64, per time.Duration, ok bool) {
		t.Helper()
		got, err := ParseRate(in)
		if (err == nil) != ok || got.Count != count || got.Per != per {
			t.Errorf("ParseRate(%q) = %+v, %v; want %d/%v ok=%v", in, got, err, count, per, ok)
		}
		if ok && got.String() != in {
			t.Errorf("Rate.String() = %q, want %q", got.String(), in)
		}
	}
	f("100/s", 100, time.Second, true)
	f("6000/m", 6000, time.Minute, true)
	f("10/h", 10, time.Hour, true)
	f("1/d", 1, 24*time.Hour, true)
	f("0/s", 0, 0, false)
	f("/s", 0, 0, false)
	f("10", 0, 0, false)
	f("10/sec", 0, 0, false)
	f("10/S", 0, 0, false)
	f("-1/s", 0, 0, false)
	f("1.5/s", 0, 0, false)
	f("10/s/s", 0, 0, false)
	f("99999999999999999999/s", 0, 0, false)

	if got := (Rate{Count: 6000, Per: time.Minute}).PerSecond(); got != 100 {
		t.Errorf("PerSecond = %v", got)
	}
	if got := (Rate{Count: 1, Per: 24 * time.Hour}).PerSecond(); got != 1.0/86400 {
		t.Errorf("PerSecond = %v", got)
	}
	if got := (Rate{}).PerSecond(); got != 0 {
		t.Errorf("zero PerSecond = %v", got)
	}
}

func TestParseDuration(t *testing.T) {
	f := func(in string, want time.Duration, ok bool) {
		t.Helper()
		got, err := ParseDuration(in)
		if (err == nil) != ok || got.Duration() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", in, got, err, want, ok)
		}
	}
	f("250ms", 250*time.Millisecond, true)
	f("1m30s", 90*time.Second, true)
	f("0", 0, true)
	f("-5s", -5*time.Second, true) // sign is validation's business
	f("5", 0, false)
	f("1d", 0, false)
	f("", 0, false)
	var d Duration
	if err := d.UnmarshalText([]byte("10m")); err != nil || d.String() != "10m0s" {
		t.Errorf("UnmarshalText: %v %v", d, err)
	}
}
