package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// startH2C serves h on 127.0.0.1 with h2c prior knowledge, via
// http2.Server.ServeConn on each accepted connection.
func startH2C(t *testing.T, srv *http2.Server, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.ServeConn(c, &http2.ServeConnOpts{Handler: h})
			}()
		}
	}()
	return ln.Addr().String()
}

func statusHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/404":
			w.WriteHeader(404)
		case "/big":
			w.Write(make([]byte, 3<<20)) // past the WINDOW_UPDATE threshold
			return
		}
		io.WriteString(w, "hello world\n")
	})
}

func TestH2MaxStatuses(t *testing.T) {
	var proto atomic.Value
	var maxActive, active atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proto.Store(r.Proto)
		if n := active.Add(1); n > maxActive.Load() {
			maxActive.Store(n)
		}
		time.Sleep(time.Millisecond) // lets streams overlap
		active.Add(-1)
		statusHandler().ServeHTTP(w, r)
	})
	addr := startH2C(t, &http2.Server{}, h)
	tests := []struct {
		name, path, status string
		errKind            string
	}{
		{"ok", "/", "2xx", ""},
		{"not found", "/404", "4xx", ErrKindStatus4xx},
		{"big bodies", "/big", "2xx", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := RunLoad(context.Background(), LoadConfig{
				URL: "http://" + addr + tc.path, Max: true, Duration: 500 * time.Millisecond, Conns: 2, H2: true, Streams: 8,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Status[tc.status] != res.Requests {
				t.Fatalf("requests %d, status %v, errors %v", res.Requests, res.Status, res.Errors)
			}
			for k, n := range res.Errors {
				if k != tc.errKind || n != res.Requests {
					t.Errorf("errors %v", res.Errors)
				}
			}
			if res.Streams != 8 || res.Mode != "closed" {
				t.Errorf("streams %d mode %s", res.Streams, res.Mode)
			}
			t.Logf("%d requests, %.0f req/s, %d bytes", res.Requests, res.RPS, res.BytesRead)
		})
	}
	if p := proto.Load(); p != "HTTP/2.0" {
		t.Errorf("server saw %v", p)
	}
	if m := maxActive.Load(); m < 4 {
		t.Errorf("at most %d requests overlapped; want streams in parallel", m)
	}
}

func TestH2TLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(statusHandler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	res, err := RunLoad(context.Background(), LoadConfig{
		URL: srv.URL + "/", Max: true, Duration: 300 * time.Millisecond, Conns: 2, H2: true, Streams: 4, Insecure: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Status["2xx"] != res.Requests || len(res.Errors) != 0 {
		t.Fatalf("requests %d, status %v, errors %v", res.Requests, res.Status, res.Errors)
	}
	// Without -k the self-signed certificate fails the handshake.
	res, err = RunLoad(context.Background(), LoadConfig{
		URL: srv.URL + "/", Max: true, Duration: 100 * time.Millisecond, Conns: 1, H2: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors[ErrKindTLS] == 0 {
		t.Errorf("without -k: requests %d, errors %v", res.Requests, res.Errors)
	}
}

// A TLS server that ignores ALPN (it completes the handshake without
// choosing a protocol) is a connection failure for an HTTP/2 run, not a
// stream of HTTP/1.1 error answers to measure.
func TestH2TLSWithoutALPN(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(statusHandler()) // only for its certificate
	cert := tlsSrv.TLS.Certificates
	tlsSrv.Close()
	srv := httptest.NewUnstartedServer(statusHandler())
	srv.Listener = tls.NewListener(srv.Listener, &tls.Config{Certificates: cert}) // no NextProtos
	srv.Start()
	t.Cleanup(srv.Close)
	srv.URL = strings.Replace(srv.URL, "http://", "https://", 1)
	res, err := RunLoad(context.Background(), LoadConfig{
		URL: srv.URL + "/", Max: true, Duration: 200 * time.Millisecond, Conns: 1, H2: true, Insecure: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 0 || res.Errors[ErrKindTLS] == 0 {
		t.Errorf("requests %d, errors %v; want only TLS failures", res.Requests, res.Errors)
	}
}

func TestH2RatePacing(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s run")
	}
	addr := startH2C(t, &http2.Server{}, statusHandler())
	const rate = 2000.0
	res, err := RunLoad(context.Background(), LoadConfig{
		URL: "http://" + addr + "/", Rate: rate, Duration: 3 * time.Second, Conns: 4, H2: true, Streams: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 6000 {
		t.Errorf("requests = %d, want 6000", res.Requests)
	}
	if rel := (res.SendRate - rate) / rate; !raceEnabled && (rel > 0.01 || rel < -0.01) {
		t.Errorf("sent at %.1f req/s, asked %.0f (%.2f%% off)", res.SendRate, rate, rel*100)
	}
	if len(res.Errors) != 0 {
		t.Errorf("errors %v", res.Errors)
	}
	t.Logf("sent %.2f req/s, achieved %.2f req/s, p99 %.3f ms (rate checked: %v)", res.SendRate, res.RPS, res.Latency.P99, !raceEnabled)
}

func TestH2PostBody(t *testing.T) {
	// 200 KiB: beyond the default 64 KiB windows, so the body must wait
	// for the server's WINDOW_UPDATEs, in frames of at most 16 KiB.
	body := make([]byte, 200<<10)
	for i := range body {
		body[i] = byte(i * 7)
	}
	want := sha256.Sum256(body)
	var ok, bad atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil || r.Method != "POST" || sha256.Sum256(b) != want || r.ContentLength != int64(len(body)) ||
			r.Header.Get("X-Test") != "yes" {
			bad.Add(1)
			w.WriteHeader(400)
			return
		}
		ok.Add(1)
	})
	addr := startH2C(t, &http2.Server{}, h)
	res, err := RunLoad(context.Background(), LoadConfig{
		URL: "http://" + addr + "/up", Max: true, Duration: 300 * time.Millisecond, Conns: 2, H2: true, Streams: 4,
		Method: "POST", Body: body, Headers: []string{"X-Test: yes", "Connection: close"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || bad.Load() != 0 || uint64(ok.Load()) != res.Requests || len(res.Errors) != 0 {
		t.Fatalf("requests %d, intact %d, bad %d, errors %v", res.Requests, ok.Load(), bad.Load(), res.Errors)
	}
	t.Logf("%d POSTs of %d bytes", res.Requests, len(body))
}

// TestH2GoAway: the server ends every connection with a graceful GOAWAY
// after a few streams; the load reconnects and loses nothing.
func TestH2GoAway(t *testing.T) {
	var conns atomic.Int64
	addr := startH2CLimited(t, 25, &conns)
	res, err := RunLoad(context.Background(), LoadConfig{
		URL: "http://" + addr + "/", Max: true, Duration: 500 * time.Millisecond, Conns: 2, H2: true, Streams: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	// A request written while the server is closing the connection right
	// after its GOAWAY can fail with a write error before the GOAWAY is
	// read (seen once in ~20,000); anything else is a real loss.
	writeErrs := res.Errors[ErrKindWrite]
	delete(res.Errors, ErrKindWrite)
	if res.Requests < 100 || res.Status["2xx"] != res.Requests || len(res.Errors) != 0 || writeErrs > 1+res.Requests/1000 {
		t.Fatalf("requests %d, status %v, errors %v, write errors %d", res.Requests, res.Status, res.Errors, writeErrs)
	}
	if n := conns.Load(); int64(res.Requests) > n*25 {
		t.Errorf("%d requests over %d connections of at most 25 streams", res.Requests, n)
	}
	t.Logf("%d requests over %d connections", res.Requests, conns.Load())
}

// startH2CLimited is a minimal raw h2c server: it answers the first limit
// streams of each connection with 200, then sends GOAWAY naming the last of
// them and ignores later streams, as nginx does at keepalive_requests.
func startH2CLimited(t *testing.T, limit int, conns *atomic.Int64) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	hdr := []byte{0x88} // :status 200, static index 8
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				pre := make([]byte, len(http2.ClientPreface))
				if _, err := io.ReadFull(c, pre); err != nil || !bytes.Equal(pre, []byte(http2.ClientPreface)) {
					return
				}
				fr := http2.NewFramer(c, c)
				var mu sync.Mutex
				mu.Lock()
				fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
				mu.Unlock()
				served := 0
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					switch f := f.(type) {
					case *http2.SettingsFrame:
						if !f.IsAck() {
							fr.WriteSettingsAck()
						}
					case *http2.HeadersFrame:
						if served >= limit {
							continue // after GOAWAY: ignored, never processed
						}
						served++
						fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hdr, EndHeaders: true})
						fr.WriteData(f.StreamID, true, []byte("ok"))
						if served == limit {
							fr.WriteGoAway(f.StreamID, http2.ErrCodeNo, nil)
							// Linger so the client sees streams above the
							// last one go unanswered, then close.
							time.AfterFunc(50*time.Millisecond, func() { c.Close() })
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
