package edge

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/portico-gw/portico/parser"
)

func fieldsOf(kv ...string) []parser.Field {
	var fs []parser.Field
	for i := 0; i+1 < len(kv); i += 2 {
		fs = append(fs, parser.Field{Name: []byte(kv[i]), Value: []byte(kv[i+1])})
	}
	return fs
}

func TestChooseEncoding(t *testing.T) {
	both := []uint8{encZstd, encGzip}
	cases := []struct {
		offer  []uint8
		accept []string // one Accept-Encoding field per element
		want   uint8
	}{
		{both, nil, encIdentity},
		{both, []string{"gzip"}, encGzip},
		{both, []string{"gzip, zstd"}, encZstd},
		{[]uint8{encGzip, encZstd}, []string{"gzip, zstd"}, encGzip},
		{both, []string{"zstd;q=0.5, gzip;q=0.6"}, encGzip},
		{both, []string{"zstd;q=0.5", "gzip;q=0.4"}, encZstd}, // two fields
		{both, []string{"*"}, encZstd},
		{both, []string{"*;q=0"}, encIdentity},
		{both, []string{"*, zstd;q=0"}, encGzip},
		{both, []string{"gzip;q=0"}, encIdentity},
		{both, []string{"gzip;q=0.000"}, encIdentity},
		{both, []string{"gzip;q=0.001"}, encGzip},
		{both, []string{"gzip; q=1.0"}, encGzip},
		{both, []string{"gzip;q=1.5"}, encIdentity},
		{both, []string{"gzip;q=abc"}, encIdentity},
		{both, []string{"gzip;q=0.1234"}, encIdentity},
		{both, []string{"gzip;level=9"}, encGzip}, // other parameters ignored
		{both, []string{" , ,gzip,,"}, encGzip},
		{both, []string{"x-gzip"}, encIdentity},
		{both, []string{"identity"}, encIdentity},
		{[]uint8{encGzip}, []string{"zstd"}, encIdentity},
		{nil, []string{"gzip"}, encIdentity},
	}
	for _, c := range cases {
		var kv []string
		for _, a := range c.accept {
			kv = append(kv, "Accept-Encoding", a)
		}
		kv = append(kv, "X-Other", "gzip")
		if got := chooseEncoding(c.offer, fieldsOf(kv...)); got != c.want {
			t.Errorf("offer %v, Accept-Encoding %q: got %s, want %s", c.offer, c.accept, encodingNames[got], encodingNames[c.want])
		}
	}
}

func TestCompressible(t *testing.T) {
	cases := []struct {
		status int
		cl     int64
		fields []string
		want   bool
	}{
		{200, -1, []string{"Content-Type", "application/json"}, true},
		{200, 1000, []string{"Content-Type", "text/html; charset=utf-8"}, true},
		{404, -1, []string{"Content-Type", "application/problem+json"}, true},
		{200, -1, []string{"Content-Type", "application/vnd.api+json"}, true},
		{200, -1, []string{"Content-Type", "image/svg+xml"}, true},
		{200, -1, []string{"Content-Type", "APPLICATION/JSON"}, true},
		{200, 100, []string{"Content-Type", "application/json"}, false},
		{200, -1, nil, false},
		{200, -1, []string{"Content-Type", "image/png"}, false},
		{200, -1, []string{"Content-Type", "application/octet-stream"}, false},
		{200, -1, []string{"Content-Type", "application/json", "Content-Encoding", "gzip"}, false},
		{200, -1, []string{"Content-Type", "application/json", "Cache-Control", "public, No-Transform"}, false},
		{206, -1, []string{"Content-Type", "text/plain", "Content-Range", "bytes 0-9/100"}, false},
		{200, -1, []string{"Content-Type", "text/plain", "Content-Range", "bytes 0-9/100"}, false},
		{204, -1, []string{"Content-Type", "text/plain"}, false},
		{304, -1, []string{"Content-Type", "text/plain"}, false},
		{200, -1, []string{"Content-Type", "text/plain", "Content-Digest", "sha-256=:x:"}, false},
		{200, -1, []string{"Content-Type", "text/plain", "repr-digest", "sha-256=:x:"}, false},
		{200, -1, []string{"Content-Type", "text/plain", "Content-MD5", "x"}, false},
	}
	for _, c := range cases {
		r := &parser.Response{Status: c.status, ContentLength: c.cl, Fields: fieldsOf(c.fields...)}
		if got := compressible(r, nil); got != c.want {
			t.Errorf("%d len %d %q: got %v, want %v", c.status, c.cl, c.fields, got, c.want)
		}
	}
}

// TestCompressibleAfterRouteOps: the route's response_headers are obeyed
// (its no-transform, its Content-Type, its Vary), but cannot hide what
// the upstream's body is (encoded, a range).
func TestCompressibleAfterRouteOps(t *testing.T) {
	json := []string{"Content-Type", "application/json"}
	for _, c := range []struct {
		name   string
		fields []string
		ops    headerOps
		want   bool
	}{
		{"plain", json, headerOps{}, true},
		{"route sets no-transform", json, headerOps{set: []headerOp{{"Cache-Control", "public, no-transform"}}}, false},
		{"route adds no-transform", json, headerOps{add: []headerOp{{"cache-control", "no-transform"}}}, false},
		{"route sets a textual type", []string{"Content-Type", "application/octet-stream"}, headerOps{set: []headerOp{{"Content-Type", "text/plain"}}}, true},
		{"route sets a binary type", json, headerOps{set: []headerOp{{"Content-Type", "image/png"}}}, false},
		{"route removes the type", json, headerOps{remove: []string{"Content-Type"}}, false},
		{"route removes the upstream's Content-Encoding", append(json, "Content-Encoding", "br"), headerOps{remove: []string{"Content-Encoding"}}, false},
		{"route removes the upstream's no-transform", append(json, "Cache-Control", "no-transform"), headerOps{remove: []string{"Cache-Control"}}, false},
		{"route adds a digest", json, headerOps{add: []headerOp{{"Repr-Digest", "sha-256=:x:"}}}, false},
	} {
		r := &parser.Response{Status: 200, ContentLength: -1, Fields: fieldsOf(c.fields...)}
		if got := compressible(r, &c.ops); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	vary := []string{"Vary", "Accept-Encoding, Origin"}
	for _, c := range []struct {
		name string
		ops  headerOps
		want bool
	}{
		{"kept", headerOps{}, true},
		{"route sets Vary: Origin", headerOps{set: []headerOp{{"Vary", "Origin"}}}, false},
		{"route removes Vary", headerOps{remove: []string{"vary"}}, false},
		{"route sets Vary: *", headerOps{set: []headerOp{{"Vary", "*"}}}, true},
	} {
		if got := varyListsAcceptEncoding(fieldsOf(vary...), &c.ops); got != c.want {
			t.Errorf("Vary %s: got %v, want %v", c.name, got, c.want)
		}
	}
	if !varyListsAcceptEncoding(nil, &headerOps{add: []headerOp{{"Vary", "accept-encoding"}}}) {
		t.Errorf("a Vary the route adds is not seen")
	}
	for _, c := range []struct {
		fields []string
		want   bool
	}{
		{[]string{"ETag", `"a"`}, false}, // the 200's type is unknown: passed as it is
		{[]string{"ETag", `"a"`, "Content-Type", "text/html"}, true},
		{[]string{"ETag", `"a"`, "Content-Type", "image/png"}, false},
		{[]string{"ETag", `"a"`, "Cache-Control", "no-transform"}, false},
	} {
		r := &parser.Response{Status: 304, ContentLength: -1, Fields: fieldsOf(c.fields...)}
		if got := notModifiedOfEncoded(r, nil); got != c.want {
			t.Errorf("304 %q: got %v, want %v", c.fields, got, c.want)
		}
	}
}

func TestVaryListsAcceptEncoding(t *testing.T) {
	for _, c := range []struct {
		fields []string
		want   bool
	}{
		{nil, false},
		{[]string{"Vary", "Origin"}, false},
		{[]string{"Vary", "Origin, accept-encoding"}, true},
		{[]string{"Vary", "Origin", "Vary", "Accept-Encoding"}, true},
		{[]string{"Vary", "*"}, true},
	} {
		if got := varyListsAcceptEncoding(fieldsOf(c.fields...), nil); got != c.want {
			t.Errorf("%q: got %v", c.fields, got)
		}
	}
}

// TestCompressorReuse: an encoder taken again after a finished response
// starts a fresh stream, and flushed output decodes up to what was written.
func TestCompressorReuse(t *testing.T) {
	var cs compressors
	payload := []byte(strings.Repeat(`{"k":"value","n":12345}`, 200))
	for _, enc := range []uint8{encGzip, encZstd} {
		for round := 0; round < 3; round++ {
			z := cs.take(enc)
			if z == nil {
				t.Fatal("no encoder")
			}
			z.write(payload[:1000])
			z.flush()
			partial := append([]byte(nil), z.out...)
			z.write(payload[1000:])
			z.finish()
			if got := decodeAll(t, enc, z.out); !bytes.Equal(got, payload) {
				t.Fatalf("%s round %d: decoded %d bytes, want %d", encodingNames[enc], round, len(got), len(payload))
			}
			if got := decodePrefix(t, enc, partial, 1000); !bytes.Equal(got, payload[:1000]) {
				t.Fatalf("%s round %d: flushed prefix does not decode", encodingNames[enc], round)
			}
			cs.put(z)
		}
	}
	if cs.inUse != 0 || len(cs.free[encGzip]) != 1 || len(cs.free[encZstd]) != 1 {
		t.Errorf("pool: inUse %d, free gzip %d zstd %d", cs.inUse, len(cs.free[encGzip]), len(cs.free[encZstd]))
	}
}

// TestCompressorsBounded: at most maxCompressorsPerLoop encoders exist; a
// response that finds none free is sent as is, and idle encoders of the
// other coding are dropped to make room.
func TestCompressorsBounded(t *testing.T) {
	var cs compressors
	var held []*compressor
	for i := 0; i < maxCompressorsPerLoop; i++ {
		z := cs.take(encGzip)
		if z == nil {
			t.Fatalf("encoder %d refused below the bound", i)
		}
		held = append(held, z)
	}
	if cs.take(encZstd) != nil {
		t.Fatal("an encoder beyond the bound")
	}
	if cs.take(encIdentity) != nil {
		t.Fatal("an encoder for identity")
	}
	for _, z := range held {
		cs.put(z)
	}
	// Every encoder is an idle gzip one now: a zstd response still gets one.
	if z := cs.take(encZstd); z == nil {
		t.Fatal("idle encoders of the other coding were not dropped")
	} else {
		cs.put(z)
	}
	if n := cs.inUse + cs.idle(); n > maxCompressorsPerLoop {
		t.Errorf("%d encoders kept, bound %d", n, maxCompressorsPerLoop)
	}
}

// decoder reads the decoded form of an encoded body.
func decoder(t *testing.T, enc uint8, b []byte) io.Reader {
	t.Helper()
	if enc == encGzip {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return zr
	}
	zr, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(zr.Close)
	return zr
}

func decodeAll(t *testing.T, enc uint8, b []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(decoder(t, enc, b))
	if err != nil {
		t.Fatalf("%s: %v", encodingNames[enc], err)
	}
	return out
}

// decodePrefix decodes n bytes from a stream that is not finished.
func decodePrefix(t *testing.T, enc uint8, b []byte, n int) []byte {
	t.Helper()
	out := make([]byte, n)
	if _, err := io.ReadFull(decoder(t, enc, b), out); err != nil {
		t.Fatalf("%s prefix: %v", encodingNames[enc], err)
	}
	return out
}

// BenchmarkCompressResponse: one 16 KiB JSON response through a reused
// encoder, per coding; the encoders allocate nothing once warm.
func BenchmarkCompressResponse(b *testing.B) {
	payload := []byte(strings.Repeat(`{"id":1,"name":"order","status":"shipped"},`, 370))
	for _, enc := range []uint8{encGzip, encZstd} {
		b.Run(encodingNames[enc], func(b *testing.B) {
			var cs compressors
			cs.put(cs.take(enc))
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				z := cs.take(enc)
				z.write(payload)
				z.finish()
				cs.put(z)
			}
		})
	}
}

func BenchmarkChooseEncoding(b *testing.B) {
	fs := fieldsOf("Host", "api.example.com", "User-Agent", "Mozilla/5.0", "Accept", "*/*",
		"Accept-Encoding", "gzip, deflate, br, zstd", "Accept-Language", "en-US,en;q=0.9")
	offer := []uint8{encZstd, encGzip}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if chooseEncoding(offer, fs) != encZstd {
			b.Fatal("wrong choice")
		}
	}
}

// FuzzChooseEncoding: any Accept-Encoding value yields one of the offered
// codings or identity, never a panic; a coding refused with q=0 is never
// chosen.
func FuzzChooseEncoding(f *testing.F) {
	for _, s := range []string{"gzip", "gzip, zstd;q=0.5", "*;q=0", "zstd;q=1.000, gzip;q=0.999", ";;,,=q", "gzip;q=", "gzip;q=0.", "*"} {
		f.Add(s)
	}
	offer := []uint8{encZstd, encGzip}
	f.Fuzz(func(t *testing.T, v string) {
		got := chooseEncoding(offer, fieldsOf("Accept-Encoding", v))
		if got != encIdentity && got != encZstd && got != encGzip {
			t.Fatalf("%q: chose %d", v, got)
		}
		if got != encIdentity {
			refused := false
			forEachCoding([]byte(v), func(name []byte, q int) {
				if q == 0 && parser.EqualFoldString(name, encodingNames[got]) {
					refused = true
				}
			})
			explicit := 0
			forEachCoding([]byte(v), func(name []byte, q int) {
				if parser.EqualFoldString(name, encodingNames[got]) && q > 0 {
					explicit++
				}
			})
			if refused && explicit == 0 {
				t.Fatalf("%q: chose %s, which the client refused", v, encodingNames[got])
			}
		}
	})
}
