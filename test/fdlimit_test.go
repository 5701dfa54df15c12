//go:build integration

package test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ulimitNoFile starts portico under a shell that sets its open-file limit
// first (exec keeps the process the gateway's).
func ulimitNoFile(n int) func(bin, file string) *exec.Cmd {
	return func(bin, file string) *exec.Cmd {
		return exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" run -c "$1"`, n), bin, file)
	}
}

// TestDescriptorFloodRefusedNotFatal: with ulimit -n 256, a flood of 400
// idle connections must not run the process out of descriptors (gnet
// treats a failed accept as fatal and the gateway exited): the connections
// past the guard's ceiling are refused at accept, counted and logged, the
// gateway stays up, and serves again once the flood is gone.
func TestDescriptorFloodRefusedNotFatal(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGatewayCmd(t, basicConfig(up.addr()), ulimitNoFile(256))
	if !g.logged(`"msg":"the open-file limit allows fewer client connections than max_connections`) {
		t.Errorf("no warning at start that max_connections does not fit the open-file limit")
	}
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for i := 0; i < 400; i++ {
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err != nil {
			continue // the accept queue was full: the kernel refused it
		}
		flood = append(flood, c)
	}
	time.Sleep(500 * time.Millisecond)
	select {
	case err := <-g.done:
		g.done <- err
		t.Fatalf("the gateway exited under the flood: %v", err)
	default:
	}
	resp, _ := adminGet(t, g, "GET", "/readyz")
	if resp.StatusCode != 200 {
		t.Fatalf("readyz %d under the flood", resp.StatusCode)
	}
	_, m := adminGet(t, g, "GET", "/metrics")
	refused := regexp.MustCompile(`portico_connections_refused_total\{listener="public"\} (\d+)`).FindStringSubmatch(m)
	if refused == nil || refused[1] == "0" {
		t.Errorf("no refused connection counted:\n%s", grepLines(m, "refused"))
	}
	if !g.logged(`"msg":"connection refused: the open-file limit is near"`) {
		t.Errorf("no warning for the refused connections")
	}
	for _, c := range flood {
		c.Close()
	}
	flood = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The gateway may not have seen every close yet: a refused or reset
		// attempt is retried.
		resp, err := client.Get("http://" + g.addr + "/api/x")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 200 after the flood: %v %v", resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDescriptorLimitDialsAnswer503: under ulimit -n 256, 150 HTTP/2
// streams on one connection to a slow upstream need more upstream
// connections than the descriptor guard leaves: the streams past it get
// 503 unavailable at once (not counted against the target, not retried),
// the others their answer, and the gateway keeps running.
func TestDescriptorLimitDialsAnswer503(t *testing.T) {
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		time.Sleep(700 * time.Millisecond)
		io.WriteString(w, "slow ok")
	})
	g := startGatewayCmd(t, basicConfig(up.addr()), ulimitNoFile(256))
	// One client connection, its SETTINGS known before the burst: until
	// then x/net's transport assumes 100 streams and dials more
	// connections, which the guard may refuse at accept when the upstream
	// dials have taken the room (CI saw 5 such transport errors).
	var dials atomic.Int32
	tr := h2cTransport()
	tr.StrictMaxConcurrentStreams = true
	dial := tr.DialTLSContext
	tr.DialTLSContext = func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
		dials.Add(1)
		return dial(ctx, network, addr, cfg)
	}
	cl := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	warm, err := cl.Get("http://" + g.addr + "/hold/warm")
	if err != nil || warm.StatusCode != 200 {
		t.Fatalf("warm-up request: %v %v", warm, err)
	}
	warm.Body.Close()
	var ok, limited, other atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 150; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := cl.Get(fmt.Sprintf("http://%s/hold/%d", g.addr, i))
			if err != nil {
				other.Add(1)
				t.Logf("stream %d: %v", i, err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == 200 && string(body) == "slow ok":
				ok.Add(1)
			case resp.StatusCode == 503 && strings.Contains(string(body), "open-file limit"):
				limited.Add(1)
			default:
				other.Add(1)
				t.Logf("stream %d: %d %q", i, resp.StatusCode, body)
			}
		}(i)
	}
	wg.Wait()
	if n := dials.Load(); n != 1 {
		t.Errorf("the client dialled %d connections, want 1", n)
	}
	t.Logf("%d answered, %d refused for the open-file limit, %d other", ok.Load(), limited.Load(), other.Load())
	if limited.Load() == 0 || ok.Load() == 0 || other.Load() != 0 {
		t.Fatalf("%d answered, %d refused for the limit, %d other: want some of each of the first two, none other", ok.Load(), limited.Load(), other.Load())
	}
	// Not held against the target: a request now is answered.
	resp, err := cl.Get("http://" + g.addr + "/hold/after")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the burst: %v %v", resp, err)
	}
	resp.Body.Close()
}

// TestLowDescriptorLimitStillServes: under ulimit -n 100 the guard's
// reserve and accept queues shrink with the limit, so the gateway serves
// (it refused every connection when they took the whole table).
func TestLowDescriptorLimitStillServes(t *testing.T) {
	up := newUpstream(t, nil)
	g := startGatewayCmd(t, basicConfig(up.addr()), ulimitNoFile(100))
	for i := 0; i < 5; i++ {
		resp, body := g.get("/api/x")
		if resp.StatusCode != 200 {
			t.Fatalf("request %d under ulimit -n 100: %d %q", i, resp.StatusCode, body)
		}
	}
	g.logged(`"msg":"listening"`) // logged after the guard's warning
	if strings.Contains(g.stderr.String(), `"client_connections_max":0`) {
		t.Errorf("the guard left no room for clients:\n%s", grepLines(g.stderr.String(), "open-file"))
	}
}
