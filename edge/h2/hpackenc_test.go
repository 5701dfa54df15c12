package h2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// encodeBlock encodes fields as one response header block (status 200).
func encodeBlock(c *ServerConn, fields [][2]string) []byte {
	c.startBlock()
	c.hbuf = appendStatus(c.hbuf, 200)
	for _, f := range fields {
		c.enc.AddString(f[0], f[1])
	}
	return c.hbuf
}

func decodeBlock(t *testing.T, d *hpack.Decoder, block []byte) [][2]string {
	t.Helper()
	var got [][2]string
	d.SetEmitFunc(func(f hpack.HeaderField) { got = append(got, [2]string{f.Name, f.Value}) })
	if _, err := d.Write(block); err != nil {
		t.Fatalf("decode: %v (block %x)", err, block)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("decode close: %v", err)
	}
	return got
}

// TestHPACKRepeatedFieldsIndexed: the fields whose values repeat across
// answers cost one byte from the second answer on; per-request values
// (x-request-id, content-length) and set-cookie stay literals.
func TestHPACKRepeatedFieldsIndexed(t *testing.T) {
	c := NewServerConn(Config{}, nil)
	d := hpack.NewDecoder(4096, nil)
	answer := func(id string) [][2]string {
		return [][2]string{{"server", "nginx/1.22.1"}, {"date", "Sat, 28 Nov 2026 05:30:00 GMT"},
			{"content-type", "text/plain"}, {"content-length", "2"}, {"x-request-id", id}, {"set-cookie", "s=1"}}
	}
	first := bytes.Clone(encodeBlock(c, answer("aaaa")))
	second := bytes.Clone(encodeBlock(c, answer("bbbb")))
	for i, b := range [][]byte{first, second} {
		want := append([][2]string{{":status", "200"}}, answer([]string{"aaaa", "bbbb"}[i])...)
		if got := decodeBlock(t, d, b); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("block %d decoded as %v, want %v", i, got, want)
		}
	}
	// The second block: :status, then server, date and content-type as
	// one indexed byte each (62-64), then the three literals as before.
	if !bytes.HasPrefix(second, []byte{0x88, 0x80 | 64, 0x80 | 63, 0x80 | 62}) {
		t.Errorf("second block does not index the repeated fields: %x", second)
	}
	if len(first)-len(second) < 20 {
		t.Errorf("first block %d bytes, second %d: repeated fields not cheaper", len(first), len(second))
	}
	third := bytes.Clone(encodeBlock(c, answer("cccc")))
	if len(third) != len(second) {
		t.Errorf("third block %d bytes, second %d: a per-request value entered the table", len(third), len(second))
	}
}

// TestHPACKTableMirrorsDecoder encodes thousands of random blocks while
// the peer changes SETTINGS_HEADER_TABLE_SIZE, and decodes them with a
// decoder that refuses a size update over the setting: a missed update
// is seen in the block's first byte, a wrong eviction or index as a
// decoding error or a different field.
func TestHPACKTableMirrorsDecoder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := NewServerConn(Config{}, nil)
	d := hpack.NewDecoder(4096, nil)
	long := strings.Repeat("v", 600)
	tooLong := strings.Repeat("w", 1100)
	names := []string{"server", "date", "content-type", "cache-control", "vary", "x-frame-options", "alt-svc",
		"content-length", "x-request-id", "set-cookie", "X-Custom", "Content-Type"}
	values := []string{"a", "nginx", "text/html; charset=utf-8", long, tooLong, "", "é"}
	sizes := []uint32{0, 1, 40, 64, 100, 512, 1024, 4096, 1 << 20}
	for block := 0; block < 5000; block++ {
		lowered := false
		for k := 0; rng.IntN(8) == 0 && k < 3; k++ { // sometimes one or more SETTINGS
			v := sizes[rng.IntN(len(sizes))]
			lowered = lowered || int(v) < c.tbl.max || block == 0
			c.setPeerTableSize(v)
			d.SetAllowedMaxDynamicTableSize(v) // a bigger update fails decoding
		}
		var fields [][2]string
		for n := rng.IntN(8); n > 0; n-- {
			v := values[rng.IntN(len(values))]
			if rng.IntN(3) == 0 {
				v = fmt.Sprintf("v%d", rng.IntN(50))
			}
			fields = append(fields, [2]string{names[rng.IntN(len(names))], v})
		}
		b := encodeBlock(c, fields)
		if lowered && b[0]&0xe0 != 0x20 {
			t.Fatalf("block %d after a smaller SETTINGS_HEADER_TABLE_SIZE has no size update: %x", block, b)
		}
		got := decodeBlock(t, d, b)
		want := [][2]string{{":status", "200"}}
		for _, f := range fields {
			want = append(want, [2]string{strings.ToLower(f[0]), f[1]})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("block %d decoded as %q, want %q", block, got, want)
		}
		if c.tbl.size > c.tbl.max || c.tbl.max > encTableMax {
			t.Fatalf("table size %d over its max %d", c.tbl.size, c.tbl.max)
		}
	}
}

// TestHeaderTableSizeSettings: through the connection's own SETTINGS
// handling, answers decode for a client whose decoder allows only the
// table size it announced, at 0, after a raise, and after a cut below the
// size in use; the repeated content-type is indexed once allowed.
func TestHeaderTableSizeSettings(t *testing.T) {
	cl := newClient(t, Config{})
	dec := cl.fr.ReadMetaHeaders
	dec.SetAllowedMaxDynamicTableSize(0)
	cl.handshake(http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
	id := uint32(1)
	get := func() {
		t.Helper()
		cl.headers(id, true, reqFields("GET", "/")...)
		res, _ := cl.collect(id)
		if r := res[id]; r.status != "200" || r.header["content-type"] != "text/plain" || string(r.body) != "ok" {
			t.Fatalf("stream %d: %v", id, r)
		}
		id += 2
	}
	get()
	get()
	for _, size := range []uint32{4096, 40, 2000, 0, 100} {
		dec.SetAllowedMaxDynamicTableSize(size) // the client's decoder holds it to what it announced
		if err := cl.fr.WriteSettings(http2.Setting{ID: http2.SettingHeaderTableSize, Val: size}); err != nil {
			t.Fatal(err)
		}
		get()
		get()
	}
	if cl.err != nil {
		t.Fatalf("connection error: %v", cl.err)
	}
	if cl.c.tbl.max != 100 || cl.c.tbl.n != 1 {
		t.Errorf("table at max %d with %d entries, want 100 and one (content-type: text/plain takes 54)", cl.c.tbl.max, cl.c.tbl.n)
	}
}

// TestValidFieldValue checks the word-at-a-time scan against a bytewise
// one, with each forbidden byte at every position of values up to 40
// bytes, and on random values.
func TestValidFieldValue(t *testing.T) {
	simple := func(v []byte) bool { return bytes.IndexAny(v, "\x00\r\n") < 0 }
	for n := 0; n <= 40; n++ {
		v := bytes.Repeat([]byte{'a'}, n)
		if !validFieldValue(v) {
			t.Fatalf("%q refused", v)
		}
		for i := 0; i < n; i++ {
			for _, bad := range []byte{0, '\r', '\n'} {
				w := bytes.Clone(v)
				w[i] = bad
				if validFieldValue(w) {
					t.Fatalf("%q accepted", w)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		v := make([]byte, rng.IntN(64))
		for i := range v {
			v[i] = byte(rng.IntN(256))
			if rng.IntN(4) > 0 {
				v[i] = byte(0x20 + rng.IntN(0x5f)) // mostly printable, so some pass
			}
		}
		if validFieldValue(v) != simple(v) {
			t.Fatalf("%q: %v, want %v", v, validFieldValue(v), simple(v))
		}
	}
}
