package policy

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// jwksServer serves a swappable JWKS on 127.0.0.1 and counts requests.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	body  []byte
	fail  bool
	gate  chan struct{} // when set, each answer waits for a receive from it
	count atomic.Int64
}

func newJWKSServer(t *testing.T, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.count.Add(1)
		s.mu.Lock()
		body, fail, gate := s.body, s.fail, s.gate
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-time.After(5 * time.Second):
			}
		}
		if fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte, fail bool) {
	s.mu.Lock()
	s.body, s.fail = body, fail
	s.mu.Unlock()
}

func urlVerifier(t *testing.T, url string, mod func(*JWTConfig)) *JWT {
	t.Helper()
	cfg := baseConfig(&fakeClock{t: testNow})
	cfg.JWKSURL = url
	cfg.FetchTimeout = 2 * time.Second
	cfg.MinRefetchInterval = 50 * time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j.Start(context.Background())
	t.Cleanup(j.Close)
	return j
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestRotationWithoutRestart(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")))
	j := urlVerifier(t, srv.URL, func(c *JWTConfig) { c.Algorithms = []string{"RS256"} })
	if err := j.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	tok1 := []byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims()))
	tok2 := []byte(sign(t, "RS256", k.rsa2, map[string]any{"kid": "k2"}, stdClaims()))
	if _, r := j.Verify(tok1); r != ReasonOK {
		t.Fatal(r)
	}
	if _, r := j.Verify(tok2); r != ReasonUnknownKey {
		t.Fatalf("new kid before rotation = %v", r)
	}
	// The IdP rotates: k1 out, k2 in. An unknown kid triggers the refetch.
	srv.set(jwksJSON(jwkOf("k2", &k.rsa2.PublicKey, "")), false)
	time.Sleep(60 * time.Millisecond) // past MinRefetchInterval of the first trigger
	id, r := j.VerifyWait(ctxT(t, 5*time.Second), tok2)
	if r != ReasonOK || id.Consumer != "alice" {
		t.Fatalf("new kid after rotation = %v", r)
	}
	// tok1 was cached under k1; k1 left the set, so the entry is dead.
	if _, r := j.Verify(tok1); r != ReasonUnknownKey {
		t.Fatalf("cached token of a removed kid = %v, want unknown_key", r)
	}
	if st := j.Stats(); st.Generation != 2 || st.Keys != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestCacheSurvivesUnrelatedRotation(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")))
	j := urlVerifier(t, srv.URL, nil)
	if err := j.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	tok1 := []byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims()))
	if _, r := j.Verify(tok1); r != ReasonOK {
		t.Fatal(r)
	}
	srv.set(jwksJSON(jwkOf("k1", &k.rsa.PublicKey, ""), jwkOf("k2", &k.rsa2.PublicKey, "")), false)
	if err := j.src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, r := j.Verify(tok1); r != ReasonOK {
		t.Fatalf("after adding k2 = %v", r)
	}
	if n := j.Stats().SigChecks; n != 1 {
		t.Fatalf("signature checks %d, want 1 (still a cache hit)", n)
	}
	// Same kid, different key material: the entry must not survive.
	srv.set(jwksJSON(jwkOf("k1", &k.rsa2.PublicKey, "")), false)
	if err := j.src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, r := j.Verify(tok1); r != ReasonBadSignature {
		t.Fatalf("after k1 re-keyed = %v, want bad_signature", r)
	}
}

func TestJWKSDownAtStartFailsClosed(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, nil)
	srv.set(nil, true)
	j := urlVerifier(t, srv.URL, nil)
	tok := []byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims()))
	ctx := ctxT(t, 5*time.Second)
	for srv.count.Load() == 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		id, r := j.Verify(tok)
		if id != nil || r != ReasonJWKSUnavailable || r.Status() != 503 {
			t.Fatalf("verify with no JWKS = %v %v", id, r)
		}
	}
	// HS tokens do not need the JWKS... but here HS is not configured (no secret): still refused.
	if j.Ready() {
		t.Fatal("ready without keys")
	}
	if err := j.WaitReady(ctxT(t, 20*time.Millisecond)); err == nil {
		t.Fatal("WaitReady succeeded without keys")
	}
	// The IdP comes back: the next token triggers a fetch and is admitted.
	srv.set(jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")), false)
	time.Sleep(60 * time.Millisecond)
	if _, r := j.VerifyWait(ctx, tok); r != ReasonOK {
		t.Fatalf("after recovery = %v", r)
	}
}

func TestJWKSStaleIfError(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")))
	j := urlVerifier(t, srv.URL, nil)
	if err := j.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	tok := []byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims()))
	for _, bad := range []func(){
		func() { srv.set(nil, true) },
		func() { srv.set([]byte("not json"), false) },
		func() { srv.set(jwksJSON(jwkOf("x", &k.rsa1024.PublicKey, "")), false) }, // no usable key
		func() { srv.set([]byte(`{"keys":[]}`), false) },
	} {
		bad()
		if err := j.src.fetch(context.Background()); err == nil {
			t.Fatal("bad fetch reported success")
		}
		j.cache = newTokenCache(DefaultCacheEntries, DefaultCacheBytes, j.leeway) // force a real verification
		if _, r := j.Verify(tok); r != ReasonOK {
			t.Fatalf("after failed refresh = %v", r)
		}
	}
	if st := j.Stats(); st.Failures != 4 || st.LastError == "" || st.Generation != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// TestAdoptKeysAcrossReload: a verifier replacing another on the same JWKS
// URL (a reload changed another setting) starts with the old one's keys,
// so an IdP that is down at that moment does not turn 200s into 503s; it
// still fetches at once, and keys are never taken from another URL.
func TestAdoptKeysAcrossReload(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")))
	old := urlVerifier(t, srv.URL, nil)
	if err := old.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	tok := []byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims()))
	srv.set(nil, true) // the IdP goes down
	fetched := srv.count.Load()

	build := func(url string) *JWT {
		cfg := baseConfig(&fakeClock{t: testNow})
		cfg.JWKSURL = url
		cfg.Leeway = 7 * time.Second // the changed setting
		cfg.FetchTimeout = 2 * time.Second
		j, err := NewJWT(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(j.Close)
		return j
	}
	other := build(srv.URL + "?other")
	if other.AdoptKeys(old) {
		t.Fatal("keys adopted from another URL")
	}
	j := build(srv.URL)
	if !j.AdoptKeys(old) {
		t.Fatal("keys not adopted from the same URL")
	}
	if j.AdoptKeys(old) {
		t.Fatal("adopted twice")
	}
	j.Start(context.Background())
	if _, r := j.Verify(tok); r != ReasonOK {
		t.Fatalf("replacement verifier with the IdP down = %v, want ok", r)
	}
	// The replacement still fetches at once (here: fails, keys kept).
	ctx := ctxT(t, 5*time.Second)
	for srv.count.Load() == fetched && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	if srv.count.Load() == fetched {
		t.Fatal("no fetch at start after adopting keys")
	}
	if _, r := j.Verify(tok); r != ReasonOK {
		t.Fatalf("after the failed fetch = %v", r)
	}
	if old.AdoptKeys(j) {
		t.Fatal("a started verifier adopted keys")
	}
}

func TestUnknownKidFlood(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.ec256.PublicKey, "")))
	j := urlVerifier(t, srv.URL, func(c *JWTConfig) { c.MinRefetchInterval = DefaultMinRefetchInterval })
	if err := j.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	before := srv.count.Load()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				tok := sign(t, "ES256", k.ec256, map[string]any{"kid": fmt.Sprintf("rnd-%d-%d", w, i)}, stdClaims())
				if _, r := j.Verify([]byte(tok)); r != ReasonUnknownKey {
					t.Errorf("random kid = %v", r)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // let a triggered fetch land
	fetches := srv.count.Load() - before
	if fetches >= 10 {
		t.Fatalf("1000 unknown kids caused %d JWKS fetches", fetches)
	}
	t.Logf("1000 unknown kids -> %d JWKS fetches", fetches)
	if st := j.Stats(); st.UnknownKid != 1000 {
		t.Fatalf("unknown kid count %d", st.UnknownKid)
	}
}

func TestJWKSHTTPLimits(t *testing.T) {
	k := keys(t)
	big := []byte(`{"keys":[` + strings.Repeat(" ", MaxJWKSBytes) + `]}`)
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }},
		{"too large", func(w http.ResponseWriter, r *http.Request) { w.Write(big) }},
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(c.handler)
			defer srv.Close()
			cfg := baseConfig(&fakeClock{t: testNow})
			cfg.JWKSURL = srv.URL
			cfg.FetchTimeout = 200 * time.Millisecond
			j, err := NewJWT(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.src.fetch(context.Background()); err == nil {
				t.Fatal("fetch succeeded")
			}
			tok := []byte(sign(t, "RS256", k.rsa, nil, stdClaims()))
			if _, r := j.Verify(tok); r != ReasonJWKSUnavailable {
				t.Fatalf("verify = %v", r)
			}
		})
	}
}

func TestJWKSOverTLSWithCAFile(t *testing.T) {
	k := keys(t)
	body := jwksJSON(jwkOf("k1", &k.rsa.PublicKey, ""))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted-CA attempt logs a handshake error
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig(&fakeClock{t: testNow})
	cfg.JWKSURL = srv.URL
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.src.fetch(context.Background()); err == nil {
		t.Fatal("fetch trusted an unknown CA")
	}
	cfg.JWKSCAFile = ca
	j, err = NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.src.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, r := j.Verify([]byte(sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims()))); r != ReasonOK {
		t.Fatal(r)
	}
}

func TestJWKSFileRefresh(t *testing.T) {
	k := keys(t)
	path := writeFile(t, jwksJSON(jwkOf("k1", k.ed.Public(), "")))
	cfg := baseConfig(&fakeClock{t: testNow})
	cfg.JWKSFile = path
	cfg.MinRefetchInterval = time.Millisecond
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j.Start(context.Background())
	defer j.Close()
	tok := []byte(sign(t, "EdDSA", k.ed, map[string]any{"kid": "k2"}, stdClaims()))
	if _, r := j.Verify(tok); r != ReasonUnknownKey {
		t.Fatal(r)
	}
	if err := os.WriteFile(path, jwksJSON(jwkOf("k2", k.ed.Public(), "")), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, r := j.VerifyWait(ctxT(t, 5*time.Second), tok); r != ReasonOK {
		t.Fatalf("after file rotation = %v", r)
	}
}

func TestParseJWKS(t *testing.T) {
	k := keys(t)
	good := jwkOf("ok", &k.rsa.PublicKey, "")
	cases := []struct {
		name string
		key  map[string]any
	}{
		{"rsa 1024", jwkOf("small", &k.rsa1024.PublicKey, "")},
		{"oct", map[string]any{"kty": "oct", "k": "c2VjcmV0"}},
		{"use enc", with(jwkOf("enc", &k.rsa2.PublicKey, ""), "use", "enc")},
		{"key_ops sign only", with(jwkOf("ops", &k.rsa2.PublicKey, ""), "key_ops", []string{"sign"})},
		{"alg RSA-OAEP", jwkOf("oaep", &k.rsa2.PublicKey, "RSA-OAEP")},
		{"alg HS256", jwkOf("hs", &k.rsa2.PublicKey, "HS256")},
		{"alg mismatch", jwkOf("mm", &k.rsa2.PublicKey, "ES256")},
		{"P-521", map[string]any{"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}},
		{"EC off curve", with(jwkOf("oc", &k.ec256.PublicKey, ""), "y", b64s(make([]byte, 32)))},
		{"EC short x", with(jwkOf("sx", &k.ec256.PublicKey, ""), "x", b64s(make([]byte, 31)))},
		{"Ed448", map[string]any{"kty": "OKP", "crv": "Ed448", "x": b64s(make([]byte, 57))}},
		{"Ed25519 short", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64s(make([]byte, 31)), "kid": "e"}},
		{"Ed25519 identity", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64s(edPoint("01")), "kid": "e"}},
		{"Ed25519 order 8", map[string]any{"kty": "OKP", "crv": "Ed25519", "x": b64s(edPoint("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")), "kid": "e"}},
		{"bad kid", jwkOf("a b", &k.rsa2.PublicKey, "")},
		{"dup kid", jwkOf("ok", &k.rsa2.PublicKey, "")},
		{"even e", with(jwkOf("ee", &k.rsa2.PublicKey, ""), "e", b64s([]byte{1, 0, 0}))},
		{"bad n", with(jwkOf("bn", &k.rsa2.PublicKey, ""), "n", "!!")},
		{"unknown kty", map[string]any{"kty": "XYZ"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ks, err := ParseJWKS(jwksJSON(good, c.key))
			if err != nil {
				t.Fatal(err)
			}
			if ks.Len() != 1 || len(ks.Skipped()) != 1 {
				t.Fatalf("len %d skipped %q", ks.Len(), ks.Skipped())
			}
		})
	}
	ks, err := ParseJWKS(jwksJSON(good, jwkOf("ec", &k.ec384.PublicKey, "ES384"), jwkOf("ed", k.ed.Public(), "EdDSA"),
		with(jwkOf("pad", &k.rsa2.PublicKey, "PS512"), "e", "AQAB", "use", "sig", "key_ops", []string{"verify"})))
	if err != nil || ks.Len() != 4 || strings.Join(ks.KIDs(), ",") != "ec,ed,ok,pad" {
		t.Fatalf("%v %v", err, ks)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"keys":{}}`, `{"keys":[]}`, `[]`, `{"keys":[1]}`} {
		if _, err := ParseJWKS([]byte(bad)); err == nil {
			t.Fatalf("ParseJWKS(%q) accepted", bad)
		}
	}
}

// edPoint is a 32-byte Ed25519 encoding from its hex, zero-padded.
func edPoint(h string) []byte {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return append(b, make([]byte, 32-len(b))...)
}

// TestEd25519SmallOrderKeysRefused: no key generation yields a point of
// small order or a non-canonical encoding, and against the identity any
// message verifies with R = identity, S = 0 (shown with crypto/ed25519
// itself). Every such encoding (libsodium's list, with and without the
// sign bit) is refused; generated keys pass.
func TestEd25519SmallOrderKeysRefused(t *testing.T) {
	identity := edPoint("01")
	forged := append(edPoint("01"), make([]byte, 32)...) // R = identity, S = 0
	if !ed25519.Verify(identity, []byte("any message"), forged) {
		t.Fatal("the premise: crypto/ed25519 accepts the forged signature for the identity key")
	}
	for _, h := range []string{
		"00", // y = 0, order 4
		"01", // y = 1, the identity
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p - 1, order 2
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p: non-canonical 0
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p + 1: non-canonical 1
		"ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = 2^255 - 1
	} {
		for _, sign := range []byte{0, 0x80} {
			p := edPoint(h)
			p[31] |= sign
			if err := checkEd25519Point(p); err == nil {
				t.Errorf("%s (sign %#x) accepted", h, sign)
			}
		}
	}
	for i := range 200 {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkEd25519Point(pub); err != nil {
			t.Fatalf("generated key %d refused: %v", i, err)
		}
	}
}

// TestAwaitRefetch: a refusal for an unknown kid names the refetch it
// triggered (Result.Wait/WaitSeq); a callback parked on it runs once the
// refetch completes, after which the same token is admitted. Requests
// arriving while that refetch is pending wait for the same round; the
// callbacks all run when the refresher stops; too many waiters are
// refused rather than queued.
func TestAwaitRefetch(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")))
	j := urlVerifier(t, srv.URL, func(c *JWTConfig) {
		c.Algorithms = []string{"RS256"}
		c.MinRefetchInterval = time.Hour // one trigger only: later ones share its round
	})
	if err := j.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	srv.set(jwksJSON(jwkOf("k1", &k.rsa.PublicKey, ""), jwkOf("k2", &k.rsa2.PublicKey, "")), false)
	gate := make(chan struct{})
	srv.mu.Lock()
	srv.gate = gate // the refetch stays pending until the waiters are parked
	srv.mu.Unlock()
	tok2 := sign(t, "RS256", k.rsa2, map[string]any{"kid": "k2"}, stdClaims())
	req := func() *Request {
		hv := &headerView{name: "Authorization", value: []byte("Bearer " + tok2)}
		return &Request{Header: hv.get}
	}
	methods := []Method{JWTMethod(j)}
	first := Authenticate(methods, req())
	second := Authenticate(methods, req()) // trigger dropped: waits on the pending round
	for i, res := range []Result{first, second} {
		if res.ID != nil || res.Reason != ReasonUnknownKey || res.Wait != j || res.WaitSeq == 0 {
			t.Fatalf("refusal %d: %+v", i, res)
		}
	}
	done := make(chan struct{}, 2)
	for _, res := range []Result{first, second} {
		if !j.AwaitRefetch(res.WaitSeq, func() { done <- struct{}{} }) {
			t.Fatal("AwaitRefetch refused")
		}
	}
	close(gate)
	for i := 0; i < 2; i++ {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("parked callback not run after the refetch")
		}
	}
	if res := Authenticate(methods, req()); res.ID == nil || res.Wait != nil {
		t.Fatalf("after the refetch: %+v", res)
	}
	// A completed round: the callback runs at once.
	ran := false
	if !j.AwaitRefetch(first.WaitSeq, func() { ran = true }) || !ran {
		t.Fatal("callback for a completed round not run at once")
	}
	if j.AwaitRefetch(0, func() {}) {
		t.Fatal("AwaitRefetch(0) accepted")
	}

	// Waiters beyond the bound are refused; the rest run when the
	// refresher stops.
	j2 := urlVerifier(t, srv.URL, func(c *JWTConfig) { c.Algorithms = []string{"RS256"} })
	if err := j2.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	j2.src.mu.Lock()
	seq := j2.src.doneSeq + 1000 // a round that will not come before Close
	j2.src.mu.Unlock()
	var ranN atomic.Int64
	for i := 0; i < maxRefetchWaiters; i++ {
		if !j2.AwaitRefetch(seq, func() { ranN.Add(1) }) {
			t.Fatalf("waiter %d refused under the bound", i)
		}
	}
	if j2.AwaitRefetch(seq, func() { ranN.Add(1) }) {
		t.Fatal("waiter over the bound accepted")
	}
	j2.Close()
	if n := ranN.Load(); n != maxRefetchWaiters {
		t.Fatalf("%d of %d parked callbacks ran when the refresher stopped", n, maxRefetchWaiters)
	}
	if !j2.AwaitRefetch(seq, func() { ranN.Add(1) }) || ranN.Load() != maxRefetchWaiters+1 {
		t.Fatal("after stop, a waiter must run at once")
	}
}

// Close leaves no keep-alive connection to the JWKS server behind: a
// reload replaces verifiers, and each would otherwise hold a socket and
// two goroutines until the transport's idle timeout.
func TestCloseDropsJWKSConnection(t *testing.T) {
	k := keys(t)
	body := jwksJSON(jwkOf("k1", &k.rsa.PublicKey, ""))
	var open atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	srv.Start()
	defer srv.Close()
	cfg := baseConfig(&fakeClock{t: testNow})
	cfg.JWKSURL = srv.URL
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	j.Start(context.Background())
	if err := j.WaitReady(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if open.Load() != 1 {
		t.Fatalf("%d connections open after the fetch, want the 1 kept alive", open.Load())
	}
	j.Close()
	for deadline := time.Now().Add(2 * time.Second); open.Load() != 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if open.Load() != 0 {
		t.Fatalf("%d connections to the JWKS server left open after Close", open.Load())
	}
}

// TestFirstFetchServesWaiters: a request arriving while the first fetch
// is under way (no key set yet) waits for that round, not for a second
// fetch it triggers: before, it waited out the first fetch and then a
// whole second one (or the 5 s wait bound), and the IdP was asked twice.
func TestFirstFetchServesWaiters(t *testing.T) {
	k := keys(t)
	srv := newJWKSServer(t, jwksJSON(jwkOf("k1", &k.rsa.PublicKey, "")))
	gate := make(chan struct{})
	srv.gate = gate // the first fetch stays under way until released
	j := urlVerifier(t, srv.URL, func(c *JWTConfig) { c.Algorithms = []string{"RS256"} })
	ctx := ctxT(t, 5*time.Second)
	for srv.count.Load() == 0 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	tok := sign(t, "RS256", k.rsa, map[string]any{"kid": "k1"}, stdClaims())
	hv := &headerView{name: "Authorization", value: []byte("Bearer " + tok)}
	methods := []Method{JWTMethod(j)}
	res := Authenticate(methods, &Request{Header: hv.get})
	if res.ID != nil || res.Reason != ReasonJWKSUnavailable || res.Wait != j || res.WaitSeq == 0 {
		t.Fatalf("during the first fetch: %+v", res)
	}
	woken := make(chan struct{}, 1)
	if !j.AwaitRefetch(res.WaitSeq, func() { woken <- struct{}{} }) {
		t.Fatal("AwaitRefetch refused")
	}
	srv.mu.Lock()
	srv.gate = nil // any later fetch answers at once
	srv.mu.Unlock()
	close(gate)
	select {
	case <-woken:
	case <-time.After(3 * time.Second):
		t.Fatal("the waiter was not woken by the first fetch")
	}
	if res := Authenticate(methods, &Request{Header: hv.get}); res.ID == nil {
		t.Fatalf("after the first fetch: %+v", res)
	}
	time.Sleep(100 * time.Millisecond) // a second fetch, if one was triggered, has run by now
	if n := srv.count.Load(); n != 1 {
		t.Fatalf("the IdP was asked %d times, want 1", n)
	}
}

// A JWKS fetch follows up to three redirects (AUTH.md), and no more, and
// never to plain http off loopback, even from a loopback http URL.
func TestJWKSRedirectLimit(t *testing.T) {
	k := keys(t)
	body := allKeysJWKS(k)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /rN redirects to /r(N-1); /r0 is the key set.
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r"))
		if err != nil || n == 0 {
			w.Write(body)
			return
		}
		http.Redirect(w, r, "/r"+strconv.Itoa(n-1), http.StatusFound)
	}))
	defer srv.Close()
	for _, c := range []struct {
		redirects int
		ok        bool
	}{{0, true}, {3, true}, {4, false}} {
		cfg := baseConfig(&fakeClock{t: testNow})
		cfg.JWKSURL = srv.URL + "/r" + strconv.Itoa(c.redirects)
		j, err := NewJWT(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := j.src.fetch(context.Background()); (err == nil) != c.ok {
			t.Errorf("%d redirects: fetch error %v, want success %v", c.redirects, err, c.ok)
		}
		j.Close()
	}

	cfg := baseConfig(&fakeClock{t: testNow})
	cfg.JWKSURL = srv.URL + "/r0"
	j, err := NewJWT(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	from, _ := http.NewRequest("GET", srv.URL+"/r0", nil)
	for target, ok := range map[string]bool{
		"http://10.1.2.3/jwks":     false,
		"http://idp.example/jwks":  false,
		"http://localhost:1/jwks":  true,
		"http://127.0.0.2/jwks":    true,
		"https://idp.example/jwks": true,
		"http://[::1]:8080/jwks":   true,
	} {
		req, _ := http.NewRequest("GET", target, nil)
		if err := j.src.client.CheckRedirect(req, []*http.Request{from}); (err == nil) != ok {
			t.Errorf("redirect from %s to %s: %v, want allowed %v", from.URL, target, err, ok)
		}
	}
}
