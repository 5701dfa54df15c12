package accesslog

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var fieldOrder = []string{
	"time", "request_id", "remote_addr", "method", "host", "path", "proto",
	"status", "bytes_in", "bytes_out", "duration_ms", "route", "upstream",
	"target", "consumer", "error_code",
}

var numberFields = map[string]bool{"status": true, "bytes_in": true, "bytes_out": true, "duration_ms": true}

func sampleEntry() Entry {
	return Entry{
		Time:       time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC),
		RequestID:  []byte("4bf92f3577b34da6a3ce929d0e0e4736"),
		RemoteAddr: []byte("203.0.113.7:51234"),
		Method:     []byte("GET"),
		Host:       []byte("api.example.com"),
		Path:       []byte("/v1/orders/42?expand=items"),
		Proto:      "HTTP/1.1",
		Status:     200,
		BytesIn:    0,
		BytesOut:   512,
		Duration:   1234567 * time.Nanosecond,
		Route:      "orders-v1",
		Upstream:   "orders",
		Target:     "127.0.0.1:9001",
		Consumer:   "acme",
		ErrorCode:  "",
	}
}

// keysInOrder decodes one JSON object and returns its keys in document
// order with each value as decoded with UseNumber.
func keysInOrder(t *testing.T, line []byte) ([]string, map[string]any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		t.Fatalf("line does not start an object: %v %v: %q", tok, err, line)
	}
	var keys []string
	vals := map[string]any{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("cannot read key: %v: %q", err, line)
		}
		key := k.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("cannot read value of %s: %v: %q", key, err, line)
		}
		keys = append(keys, key)
		vals[key] = v
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("object not closed: %v", err)
	}
	return keys, vals
}

func TestAppendEntryExact(t *testing.T) {
	e := sampleEntry()
	got := string(appendEntry(nil, &e))
	want := `{"time":"2025-01-02T03:04:05.123456789Z","request_id":"4bf92f3577b34da6a3ce929d0e0e4736",` +
		`"remote_addr":"203.0.113.7:51234","method":"GET","host":"api.example.com",` +
		`"path":"/v1/orders/42?expand=items","proto":"HTTP/1.1","status":200,"bytes_in":0,` +
		`"bytes_out":512,"duration_ms":1.235,"route":"orders-v1","upstream":"orders",` +
		`"target":"127.0.0.1:9001","consumer":"acme","error_code":""}` + "\n"
	if got != want {
		t.Fatalf("line mismatch\n got: %s\nwant: %s", got, want)
	}
}

func TestAppendEntryOrderAndTypes(t *testing.T) {
	f := func(e Entry) {
		t.Helper()
		line := appendEntry(nil, &e)
		if !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
			t.Fatalf("want exactly one trailing newline: %q", line)
		}
		keys, vals := keysInOrder(t, line)
		if strings.Join(keys, ",") != strings.Join(fieldOrder, ",") {
			t.Fatalf("field order\n got: %v\nwant: %v", keys, fieldOrder)
		}
		for _, k := range fieldOrder {
			_, isNum := vals[k].(json.Number)
			_, isStr := vals[k].(string)
			if numberFields[k] && !isNum {
				t.Fatalf("%s is %T, want a JSON number", k, vals[k])
			}
			if !numberFields[k] && !isStr {
				t.Fatalf("%s is %T, want a JSON string", k, vals[k])
			}
		}
		ts, err := time.Parse(time.RFC3339Nano, vals["time"].(string))
		if err != nil {
			t.Fatalf("time not RFC 3339: %v", err)
		}
		if !e.Time.IsZero() && !ts.Equal(e.Time) {
			t.Fatalf("time %v, want %v", ts, e.Time)
		}
		if st, _ := vals["status"].(json.Number).Int64(); st != int64(e.Status) {
			t.Fatalf("status %d, want %d", st, e.Status)
		}
	}
	f(sampleEntry())
	f(Entry{}) // all empty: zero time means now
	e := sampleEntry()
	e.Status, e.BytesIn, e.BytesOut, e.Duration = 599, 1<<62, -1, -5*time.Second
	e.Time = time.Date(2030, 12, 31, 23, 59, 59, 0, time.FixedZone("x", 5*3600))
	f(e)
}

func TestAppendEntryZeroTimeIsNow(t *testing.T) {
	before := time.Now()
	_, vals := keysInOrder(t, appendEntry(nil, &Entry{}))
	after := time.Now()
	ts, err := time.Parse(time.RFC3339Nano, vals["time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if ts.Before(before.Truncate(time.Microsecond)) || ts.After(after) {
		t.Fatalf("time %v not within [%v, %v]", ts, before, after)
	}
}

func TestAppendTime(t *testing.T) {
	f := func(in time.Time, want string) {
		t.Helper()
		if got := string(appendTime(nil, in)); got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", in, got, want)
		}
	}
	f(time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC), "2025-01-02T03:04:05.123456789Z")
	f(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02T03:04:05.000000000Z")
	f(time.Date(1999, 12, 31, 23, 59, 59, 1, time.UTC), "1999-12-31T23:59:59.000000001Z")
	f(time.Date(2025, 6, 1, 1, 0, 0, 5000, time.FixedZone("CEST", 2*3600)), "2025-05-31T23:00:00.000005000Z")
	f(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), "0000-01-01T00:00:00.000000000Z")
	f(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31T23:59:59.999999999Z")
	// Years RFC 3339 cannot spell still produce a valid JSON string body.
	if got := appendTime(nil, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); bytes.ContainsAny(got, "\"\\\n") {
		t.Fatalf("bad year rendering %q", got)
	}
}

func TestAppendMillis(t *testing.T) {
	f := func(d time.Duration, want string) {
		t.Helper()
		if got := string(appendMillis(nil, d)); got != want {
			t.Fatalf("appendMillis(%v) = %s, want %s", d, got, want)
		}
	}
	f(0, "0.000")
	f(499, "0.000")
	f(500, "0.001")
	f(1234*time.Microsecond, "1.234")
	f(1234567, "1.235")
	f(50*time.Microsecond, "0.050")
	f(1500*time.Millisecond, "1500.000")
	f(-time.Second, "0.000")
	f(time.Duration(1<<63-1), "9223372036854.776")
}

// jsonEquivalent is what encoding/json makes of s: the reference for
// escaping, including one U+FFFD per invalid byte.
func jsonEquivalent(t testing.TB, s []byte) string {
	b, err := json.Marshal(string(s))
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkJSONString(t testing.TB, in []byte) {
	got := appendJSONString(nil, in)
	if !utf8.Valid(got) {
		t.Fatalf("output is not valid UTF-8: %q", got)
	}
	for _, c := range got {
		if c < 0x20 {
			t.Fatalf("raw control byte %#x in output %q", c, got)
		}
	}
	var dec string
	if err := json.Unmarshal(got, &dec); err != nil {
		t.Fatalf("output %q is not a JSON string: %v", got, err)
	}
	want := in
	if len(in) > maxFieldBytes {
		want = in[:maxFieldBytes]
	}
	w := jsonEquivalent(t, want)
	if len(in) > maxFieldBytes {
		w += truncMark
	}
	if dec != w {
		t.Fatalf("round trip of %q\n got: %q\nwant: %q", in, dec, w)
	}
}

var hostileStrings = []string{
	"",
	"plain",
	`"`,
	`\`,
	`\"`,
	`"},"status":999,"x":"`,
	"line\nbreak\r\n",
	"tab\there",
	"\x00\x01\x02\x1f\x7f",
	"\b\f",
	"héllo wörld ✓ 😀",
	"\u2028\u2029",
	"\xff",
	"\xc3",         // truncated 2-byte sequence
	"\xe2\x82",     // truncated 3-byte sequence
	"\xc0\xaf",     // overlong '/'
	"\xed\xa0\x80", // UTF-16 surrogate
	"\xf4\x90\x80\x80",
	"a\xffb\xfe\xfdc",
	"<script>&amp;</script>",
	"%00%0a/../..%2f",
	strings.Repeat("\x01", 100),
	strings.Repeat("é", maxFieldBytes), // cut mid-rune
	strings.Repeat("a", maxFieldBytes+1),
	strings.Repeat("a", maxFieldBytes),
}

func TestAppendJSONStringHostile(t *testing.T) {
	for _, s := range hostileStrings {
		checkJSONString(t, []byte(s))
	}
}

func TestAppendJSONStringExact(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := string(appendJSONString(nil, []byte(in))); got != want {
			t.Fatalf("appendJSONString(%q) = %s, want %s", in, got, want)
		}
	}
	f("", `""`)
	f(`a"b\c`, `"a\"b\\c"`)
	f("\n\r\t\b\f", `"\n\r\t\b\f"`)
	f("\x00\x1f", `"\u0000\u001f"`)
	f("\x7f", "\"\x7f\"")
	f("é", `"é"`)
	f("\xff", `"\ufffd"`)
	f("\u2028", `"\u2028"`)
	f("\u2029", `"\u2029"`)
}

func TestAppendJSONStringTruncates(t *testing.T) {
	in := bytes.Repeat([]byte("/a"), maxFieldBytes)
	got := appendJSONString(nil, in)
	if len(got) != maxFieldBytes+2+len(truncMark) {
		t.Fatalf("len %d, want %d", len(got), maxFieldBytes+2+len(truncMark))
	}
	if !bytes.HasSuffix(got, []byte(truncMark+`"`)) {
		t.Fatalf("missing truncation mark: %q", got[len(got)-10:])
	}
}

func TestEntryHostileRoundTrip(t *testing.T) {
	for _, s := range hostileStrings {
		b := []byte(s)
		e := Entry{
			Time: time.Unix(0, 1).UTC(), RequestID: b, RemoteAddr: b, Method: b, Host: b, Path: b,
			Proto: s, Route: s, Upstream: s, Target: s, Consumer: s, ErrorCode: s,
		}
		line := appendEntry(nil, &e)
		keys, vals := keysInOrder(t, line)
		if len(keys) != len(fieldOrder) {
			t.Fatalf("%q: %d keys", s, len(keys))
		}
		want := jsonEquivalent(t, b[:min(len(b), maxFieldBytes)])
		if len(b) > maxFieldBytes {
			want += truncMark
		}
		for _, k := range fieldOrder {
			if numberFields[k] || k == "time" {
				continue
			}
			if vals[k] != want {
				t.Fatalf("field %s of %q: got %q", k, s, vals[k])
			}
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range hostileStrings {
		if len(s) < 256 {
			f.Add([]byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkJSONString(t, in)
	})
}

func TestPlain8MatchesTable(t *testing.T) {
	plain := func(b []byte) bool {
		for _, c := range b {
			if c >= utf8.RuneSelf || !safeASCII[c] {
				return false
			}
		}
		return true
	}
	f := func(b []byte) {
		t.Helper()
		if got, want := plain8(binary.LittleEndian.Uint64(b)), plain(b); got != want {
			t.Fatalf("plain8(%q) = %v, want %v", b, got, want)
		}
	}
	// Every byte value at every position, next to every kind of neighbour
	// (borrows in the bit tricks travel towards higher bytes).
	for _, fill := range []byte{'a', ' ', '~', 0x21, 0x5b, 0x5d, 0x00, 0x1f, 0x80, 0xff} {
		for pos := range 8 {
			for v := range 256 {
				b := bytes.Repeat([]byte{fill}, 8)
				b[pos] = byte(v)
				f(b)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], r.Uint64()&0x7f7f7f7f7f7f7f7f|0x2020202020202020*uint64(r.IntN(2)))
		f(b[:])
	}
}
