package main

import (
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/portico-gw/portico/edge"
	"github.com/portico-gw/portico/edge/admin"
	"github.com/portico-gw/portico/edge/config"
)

//go:embed demo.yaml
var demoYAML string

// cmdDemo serves the embedded route file with in-process upstreams. The demo
// upstreams use net/http: they stand in for the services behind the gateway,
// not for its data path.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "gateway listener address (loopback)")
	tlsListen := fs.String("tls-listen", "127.0.0.1:8443", "TLS listener address (loopback; self-signed certificate)")
	adminAddr := fs.String("admin", "127.0.0.1:9901", "admin listener address (loopback)")
	if code, ok := parseFlags(fs, "demo [flags]", args, stdout, stderr); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portico demo: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	sigs := watchSignals()
	defer signal.Stop(sigs)
	// The demo serves a minted token, an API key and an echo of every
	// request: it stays on loopback.
	for _, a := range []struct{ flag, addr string }{{"listen", *listen}, {"tls-listen", *tlsListen}, {"admin", *adminAddr}} {
		if !admin.LoopbackAddr(a.addr) {
			fmt.Fprintf(stderr, "portico demo: -%s %s: the demo listens on loopback only (127.0.0.0/8, [::1])\n", a.flag, a.addr)
			return 2
		}
		// A taken port is the newcomer's likeliest stumble: say which
		// flag moves it, rather than only logging the bind error.
		ln, err := net.Listen("tcp", a.addr)
		if err != nil {
			fmt.Fprintf(stderr, "portico demo: cannot listen on %s (-%s): %v\n"+
				"  choose free ports, e.g.: portico demo -listen 127.0.0.1:18080 -tls-listen 127.0.0.1:18443 -admin 127.0.0.1:19901\n"+
				"  (with make: make demo DEMO_FLAGS=\"-listen 127.0.0.1:18080 -tls-listen 127.0.0.1:18443 -admin 127.0.0.1:19901\")\n",
				a.addr, a.flag, err)
			return 1
		}
		_ = ln.Close()
	}
	lw := newLogWriter(stderr, logBufferBytes)
	defer lw.Close(logFlushWait)
	log := newLogger(lw)
	echoAddr, stopEcho, err := serveDemo(http.HandlerFunc(echoHandler))
	if err != nil {
		log.Error("cannot start demo upstream", "error", err.Error())
		return 1
	}
	defer stopEcho()
	helloA, stopA, err := serveDemo(helloHandler("A"))
	if err != nil {
		log.Error("cannot start demo upstream", "error", err.Error())
		return 1
	}
	defer stopA()
	helloB, stopB, err := serveDemo(helloHandler("B"))
	if err != nil {
		log.Error("cannot start demo upstream", "error", err.Error())
		return 1
	}
	defer stopB()

	issuer, err := newDemoIssuer()
	if err != nil {
		log.Error("cannot start demo issuer", "error", err.Error())
		return 1
	}
	idpAddr, stopIdP, err := serveDemo(issuer)
	if err != nil {
		log.Error("cannot start demo issuer", "error", err.Error())
		return 1
	}
	defer stopIdP()
	issuer.iss = "http://" + idpAddr + "/"
	token, err := issuer.mint("demo-user", "orders:read orders:write")
	if err != nil {
		log.Error("cannot mint demo token", "error", err.Error())
		return 1
	}
	apiKey, apiKeySum, err := newDemoAPIKey()
	if err != nil {
		log.Error("cannot make demo API key", "error", err.Error())
		return 1
	}

	certDir, err := os.MkdirTemp("", "portico-demo-")
	if err != nil {
		log.Error("cannot make a folder for the demo certificate", "error", err.Error())
		return 1
	}
	defer os.RemoveAll(certDir)
	certFile, keyFile, err := writeDemoCert(certDir)
	if err != nil {
		log.Error("cannot make the demo certificate", "error", err.Error())
		return 1
	}

	text := strings.NewReplacer("{{LISTEN}}", *listen, "{{ADMIN}}", *adminAddr,
		"{{TLS_LISTEN}}", *tlsListen, "{{CERT}}", certFile, "{{KEY}}", keyFile,
		"{{ECHO}}", echoAddr, "{{HELLO_A}}", helloA, "{{HELLO_B}}", helloB,
		"{{ISSUER}}", issuer.iss, "{{JWKS}}", "http://"+idpAddr+"/.well-known/jwks.json",
		"{{APIKEY_SHA256}}", apiKeySum).Replace(demoYAML)
	load := func() (*config.Config, error) { return config.Parse([]byte(text), "demo.yaml") }
	cfg, err := load()
	if err != nil {
		log.Error("embedded demo config is invalid", "error", err.Error())
		return 1
	}
	srv, err := edge.New(cfg, edge.Options{Logger: log, LoadConfig: load})
	if err != nil {
		log.Error("cannot compile demo config", "error", err.Error())
		return 1
	}
	base := "http://" + *listen
	// The curl lines are printed once the listeners accept: a port that
	// is taken fails the start first, without lines that cannot work.
	return serve(srv, log, sigs, func() {
		fmt.Fprintf(stdout, `Portico demo: gateway on %[1]s, admin on http://%[2]s
Try:
  curl -i %[1]s/status
  curl -ik https://%[5]s/hello   # TLS (self-signed certificate), HTTP/2 by ALPN
  curl -i --http2-prior-knowledge %[1]s/hello   # h2c
  curl -i %[1]s/echo/hello?name=portico
  curl -i -X POST --data 'hi there' %[1]s/echo/submit
  curl -i %[1]s/hello            # round robin over two upstreams (A, B)
  curl -i %[1]s/nowhere          # 404 in Portico's JSON error envelope
  curl -i %[1]s/orders/42        # 401: this route needs a JWT with the orders:read scope
  curl -i -H 'Authorization: Bearer %[3]s' %[1]s/orders/42
  curl -i -H 'X-API-Key: %[4]s' %[1]s/partners/report
  curl -s http://%[2]s/metrics | grep portico_
  curl -s http://%[2]s/upstreams
Press Ctrl-C to stop.
`, base, *adminAddr, token, apiKey, *tlsListen)
	})
}

func serveDemo(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("cannot listen on loopback: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// echoHandler returns what it received as JSON.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	headers := make(map[string]string, len(r.Header))
	keys := make([]string, 0, len(r.Header))
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		headers[k] = strings.Join(r.Header[k], ", ")
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(map[string]any{
		"method":  r.Method,
		"path":    r.URL.Path,
		"query":   r.URL.RawQuery,
		"host":    r.Host,
		"headers": headers,
		"body":    string(body),
	})
}

func helloHandler(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello from upstream %s (path %s)\n", name, r.URL.Path)
	})
}
