package bench

import (
	"testing"
)

func TestParseResponseHead(t *testing.T) {
	f := func(in string, wantErr error, status int, cl int64, chunked, closeConn bool) {
		t.Helper()
		h, err := parseResponseHead([]byte(in))
		if err != wantErr {
			t.Fatalf("%q: err %v, want %v", in, err, wantErr)
		}
		if err != nil {
			return
		}
		if h.status != status || h.contentLength != cl || h.chunked != chunked || h.close != closeConn {
			t.Fatalf("%q: got status %d cl %d chunked %v close %v", in, h.status, h.contentLength, h.chunked, h.close)
		}
	}
	f("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello", nil, 200, 12, false, false)
	f("HTTP/1.1 204\r\n\r\n", nil, 204, -1, false, false)
	f("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\nContent-Length: 5\r\n\r\n", nil, 200, -1, true, false)
	f("HTTP/1.1 503 Busy\r\nconnection: Keep-Alive, CLOSE\r\n\r\n", nil, 503, -1, false, true)
	f("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", nil, 200, 0, false, true)
	f("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n", nil, 200, -1, false, false)
	f("HTTP/1.1 200 OK\r\nContent-Length: 1", errNeedMore, 0, 0, false, false)
	f("HTTP/1.1 2x0 OK\r\n\r\n", errBadHead, 0, 0, false, false)
	f("HTTP/2 200 OK\r\n\r\n", errBadHead, 0, 0, false, false)
	f("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", errBadHead, 0, 0, false, false)
	f("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errBadHead, 0, 0, false, false)
	f("HTTP/1.1 200 OK\r\nno colon\r\n\r\n", errBadHead, 0, 0, false, false)
}

func TestParseRequestHead(t *testing.T) {
	f := func(in string, wantErr error, method, target string, cl int64, chunked, closeConn bool) {
		t.Helper()
		h, err := parseRequestHead([]byte(in))
		if err != wantErr {
			t.Fatalf("%q: err %v, want %v", in, err, wantErr)
		}
		if err != nil {
			return
		}
		if string(h.method) != method || string(h.target) != target || h.contentLength != cl || h.chunked != chunked || h.close != closeConn {
			t.Fatalf("%q: got %s %s cl %d chunked %v close %v", in, h.method, h.target, h.contentLength, h.chunked, h.close)
		}
	}
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\n", nil, "GET", "/", -1, false, false)
	f("POST /x?y HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", nil, "POST", "/x?y", 3, false, false)
	f("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", nil, "POST", "/", -1, true, false)
	f("GET / HTTP/1.0\r\n\r\n", nil, "GET", "/", -1, false, true)
	f("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", nil, "GET", "/", -1, false, true)
	f("GET / HTTP/1.1\r\nHost: a\r\n", errNeedMore, "", "", 0, false, false)
	f("GET /\r\n\r\n", errBadHead, "", "", 0, false, false)
	f("GET / HTTP/3.0\r\n\r\n", errBadHead, "", "", 0, false, false)
	f(" / HTTP/1.1\r\n\r\n", errBadHead, "", "", 0, false, false)
}

func TestChunkSkipperSplits(t *testing.T) {
	body := "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: x\r\n\r\n"
	next := "GET / HTTP/1.1\r\n"
	in := []byte(body + next)
	// Every split into two parts must give the same framing.
	for cut := 0; cut <= len(in); cut++ {
		var cs chunkSkipper
		n1, done, err := cs.skip(in[:cut])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		total := n1
		if !done {
			n2, done2, err := cs.skip(in[cut:])
			if err != nil || !done2 {
				t.Fatalf("cut %d: done %v err %v", cut, done2, err)
			}
			total += n2
		}
		if total != len(body) {
			t.Fatalf("cut %d: consumed %d, want %d", cut, total, len(body))
		}
	}
	bad := []string{"x\r\n", "\r\n", "5\r\nhelloXX", "5\nhello\r\n", "1111111111111111\r\n", "0\r\n\rX"}
	for _, b := range bad {
		var cs chunkSkipper
		if _, _, err := cs.skip([]byte(b)); err == nil {
			t.Errorf("%q: want error", b)
		}
	}
}

func FuzzParseResponseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\nConnection: close\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseResponseHead(b)
		if err != nil {
			return
		}
		if h.headLen > len(b) || h.status < 0 || h.status > 999 {
			t.Fatalf("bad head %+v", h)
		}
		if h.chunked {
			var cs chunkSkipper
			n, _, _ := cs.skip(b[h.headLen:])
			if n > len(b)-h.headLen {
				t.Fatalf("skip consumed %d of %d", n, len(b)-h.headLen)
			}
		}
	})
}

func FuzzParseRequestHead(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n"))
	f.Add([]byte("POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseRequestHead(b)
		if err != nil {
			return
		}
		if h.headLen > len(b) || len(h.method) == 0 || len(h.target) == 0 {
			t.Fatalf("bad head %+v", h)
		}
	})
}

func BenchmarkParseResponseHead(b *testing.B) {
	in := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 26 Nov 2026 10:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n")
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := parseResponseHead(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseRequestHead(b *testing.B) {
	in := []byte("GET /api/v1/items?id=42 HTTP/1.1\r\nHost: 127.0.0.1:19001\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseRequestHead(in); err != nil {
			b.Fatal(err)
		}
	}
}
