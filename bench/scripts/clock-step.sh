#!/usr/bin/env bash
# clock-step.sh BIN: checks that a step of the wall clock moves no interval.
# STEPS THE SYSTEM CLOCK an hour back and forward (and restores it): run it
# only on a test machine with nothing else running, as root.
#  - a rate-limited key that used 1 of 2 tokens, after a 1 h step back: 200
#    (on the wall clock it was 429 with Retry-After: 3600);
#  - a request to a 3 s upstream on a route with timeout: 30s, across a 1 h
#    step forward while other connections' timers tick: 200 after 3 s (on
#    the wall clock the route timeout fired at the next tick: 504).
# Ports 29951-29953 on loopback.
set -euo pipefail
BIN=$1
D=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$D"; }
trap cleanup EXIT
cat > "$D/cfg.yaml" <<'YAML'
version: 1
listeners:
  - name: public
    address: "127.0.0.1:29951"
    limits: {header_timeout: 1s}
admin: {address: "127.0.0.1:29952"}
access_log: {path: "off"}
upstreams:
  - name: slow
    targets: [{address: "127.0.0.1:29953"}]
rate_limits:
  - {name: per-ip, key: ip, rate: 10/m, burst: 2}
routes:
  - name: limited
    match: {path_prefix: /limited}
    rate_limits: [per-ip]
    direct_response: {status: 200, body: "ok\n"}
  - name: slow
    match: {path_prefix: /slow}
    upstream: slow
    timeout: 30s
YAML
python3 - <<'PY' & PIDS+=($!)
import http.server, time
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(3)
        b = b"slow done\n"
        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", 29953), H).serve_forever()
PY
"$BIN" run -c "$D/cfg.yaml" 2>"$D/gw.log" & PIDS+=($!)
sleep 1
echo "rate limit, first request: $(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:29951/limited)"
date -s "-1 hour" >/dev/null
echo "after a 1 h step back: $(curl -s -o /dev/null -w '%{http_code} retry-after=%header{retry-after}' http://127.0.0.1:29951/limited)"
date -s "+1 hour" >/dev/null
curl -s -o "$D/slow.out" -w '%{http_code} %{time_total}s' http://127.0.0.1:29951/slow > "$D/slow.code" & C=$!
# Idle connections on every loop: their header timers make the loops tick.
python3 -c "
import socket, time
s = [socket.create_connection(('127.0.0.1', 29951)) for i in range(6)]
time.sleep(4)" &
sleep 0.5
date -s "+1 hour" >/dev/null
wait $C || true
date -s "-1 hour" >/dev/null
echo "slow request across a 1 h step forward: $(cat "$D/slow.code")"
