#!/usr/bin/env bash
# soak.sh: mixed traffic, abuse and reloads against one Portico process, then
# checks that nothing leaked once the traffic stops.
#
# For SECONDS (default 60), on loopback:
#   - HTTP/1.1 open loop, 3000 req/s over 32 connections (route with a rate limit and a timeout)
#   - h2c, 100 req/s over 4 x 10 streams, 200 KB chunked responses, gzip-compressed
#   - TLS HTTP/1.1 with a new connection per request, 50 req/s
#   - TLS h2, 500 req/s over 4 connections
#   - HTTP/1.1 POST uploads, 300 req/s over 8 connections
#   - an abusive client (python3): partial heads, downloads and uploads cut
#     short, HTTP/2 streams reset at once, random bytes, TLS requests dropped
#   - SIGHUP every 3 s
# then samples RSS, open fds, goroutines and portico_connections_active
# every 10 s, after the load, and after 22 s idle (gnet's worker pool
# retires idle goroutines after 10-20 s).
#
# Passes (exit 0) when: no load generator saw an error; every reload
# succeeded; no connection is left active; open fds are back within the
# idle upstream pools' bound of the start; goroutines are back within 12
# of the start; RSS stayed under 256 MiB; Portico exited 0 on SIGTERM and
# logged no panic.
#
# Usage: bench/scripts/soak.sh [SECONDS]   (env: PORTICO_BIN, BENCH_BIN, PORT_BASE=26180)
# Needs: curl, openssl, python3.
set -euo pipefail
T=${1:-60}
cd "$(dirname "$0")/../.."
PORTICO_BIN=${PORTICO_BIN:-bin/portico}; BENCH_BIN=${BENCH_BIN:-bin/portico-bench}
B=${PORT_BASE:-26180}; PLAIN=$B; TLSP=$((B+3)); UP1=$((B+10)); UP2=$((B+11)); ADMIN=$((B+19))
OUT=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT
for port in $PLAIN $TLSP $UP1 $UP2 $ADMIN; do
  if ss -Hltn "sport = :$port" | grep -q .; then echo "port $port busy"; exit 1; fi
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
head -c 4000 /dev/urandom | base64 > "$OUT/upload.txt"
cat > "$OUT/portico.yaml" <<YAML
version: 1
listeners:
  - name: plain
    address: 127.0.0.1:$PLAIN
    protocols: [http1, h2c]
    limits: {header_timeout: 3s, idle_timeout: 5s, max_body_bytes: 1MiB}
  - name: tls
    address: 127.0.0.1:$TLSP
    tls:
      certificates:
        - {cert_file: cert.pem, key_file: key.pem}
    limits: {header_timeout: 3s, idle_timeout: 5s}
admin: {address: 127.0.0.1:$ADMIN}
access_log: {path: access.log}
rate_limits:
  - {name: per-ip, key: ip, rate: 100000/s}
upstreams:
  - name: fast
    targets: [{address: 127.0.0.1:$UP1}]
    max_idle_conns: 32
  - name: big
    targets: [{address: 127.0.0.1:$UP2}]
    max_idle_conns: 8
    health_check: {path: /healthz, interval: 1s, timeout: 500ms}
routes:
  - name: big
    match: {path_prefix: /big}
    upstream: big
    compress: [gzip]
  - name: fast
    match: {path_prefix: /}
    upstream: fast
    rate_limits: [per-ip]
    timeout: 2s
YAML
# max_idle_conns of both upstreams, which bounds each event loop's pool
# (one loop per core: nproc, as portico runs without GOMAXPROCS set).
IDLE_POOL_FDS=$(( 40 * $(nproc) ))

cat > "$OUT/abuse.py" <<'PY'
import random, socket, ssl, sys, time
plain, tlsp, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
end = time.time() + secs
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
def frame(t, f, sid, p): return len(p).to_bytes(3, "big") + bytes([t, f]) + sid.to_bytes(4, "big") + p
# HPACK: :method GET, :scheme http, :authority "a", :path "/big"
GET_BIG = bytes([0x82, 0x86, 0x41, 0x01, ord("a"), 0x04, 0x04]) + b"/big"
n = 0
while time.time() < end:
    k = n % 7; n += 1
    try:
        if k == 4:
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", tlsp), timeout=2), server_hostname="localhost")
        else:
            s = socket.create_connection(("127.0.0.1", plain), timeout=2)
        if k == 0:   s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nX-A: ")                   # partial head
        elif k == 1: s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n"); s.recv(1024)   # download cut short
        elif k == 2: s.sendall(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + b"x" * 5000)
        elif k == 3:                                                                    # rapid resets (under the cap)
            s.sendall(PREFACE + frame(4, 0, 0, b""))
            for sid in range(1, 40, 2):
                s.sendall(frame(1, 5, sid, GET_BIG) + frame(3, 0, sid, (8).to_bytes(4, "big")))
        elif k == 4: s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n"); s.recv(100)     # TLS, dropped mid-response
        elif k == 5: s.sendall(bytes(random.getrandbits(8) for _ in range(200)))      # junk
        elif k == 6:                                                                    # h2 download, not read
            s.sendall(PREFACE + frame(4, 0, 0, b"") + frame(1, 5, 1, GET_BIG)); s.recv(2000)
        time.sleep(0.002)
        s.close()
    except OSError:
        pass
print("abuse iterations", n)
PY

"$BENCH_BIN" upstream -addr 127.0.0.1:$UP1 > "$OUT/up1.log" 2>&1 & PIDS+=($!)
"$BENCH_BIN" upstream -addr 127.0.0.1:$UP2 -body-size 200000 -chunked -delay 2ms > "$OUT/up2.log" 2>&1 & PIDS+=($!)
sleep 0.3
(cd "$OUT" && exec "$OLDPWD/$PORTICO_BIN" run -c portico.yaml) > "$OUT/portico.log" 2>&1 & P=$!; PIDS+=($P)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PLAIN/" && break; sleep 0.1; done

metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 ~ "^"m {s+=$2} END{print s+0}'; }
declare -A S
sample() {  # LABEL: prints and stores rss/fds/goroutines/conns
  local rss fds g c
  rss=$(awk '/VmRSS/{print $2}' /proc/$P/status); fds=$(ls /proc/$P/fd | wc -l)
  g=$(metric 'go_goroutines$'); c=$(metric 'portico_connections_active')
  S[$1.rss]=$rss; S[$1.fds]=$fds; S[$1.g]=$g; S[$1.c]=$c
  printf '%-6s t=%3ss rss=%6d KiB fds=%4d goroutines=%3d connections_active=%d\n' "$1" $(( $(date +%s) - T0 )) "$rss" "$fds" "$g" "$c"
}
T0=$(date +%s); sample start
LOADS=()
load() { local name=$1; shift; "$BENCH_BIN" load "$@" -duration "${T}s" > "$OUT/$name.txt" 2>&1 & LOADS+=("$name:$!"); }
load h1      "http://127.0.0.1:$PLAIN/" -rate 3000 -conns 32
load h2c-big "http://127.0.0.1:$PLAIN/big" -h2 -rate 100 -conns 4 -streams 10 -H 'Accept-Encoding: gzip'
load tls-new "https://127.0.0.1:$TLSP/" -k -rate 50 -conns 4 -H 'Connection: close'
load tls-h2  "https://127.0.0.1:$TLSP/" -k -h2 -rate 500 -conns 4
load upload  "http://127.0.0.1:$PLAIN/" -method POST -body "$OUT/upload.txt" -rate 300 -conns 8
python3 "$OUT/abuse.py" $PLAIN $TLSP "$T" > "$OUT/abuse.txt" 2>&1 & ABUSE=$!
peak=0; end=$(( $(date +%s) + T )); i=0
while [ "$(date +%s)" -lt $end ]; do
  sleep 1; i=$((i+1))
  (( i % 3 == 0 )) && kill -HUP $P
  r=$(awk '/VmRSS/{print $2}' /proc/$P/status); (( r > peak )) && peak=$r
  (( i % 10 == 0 )) && sample load
done
fail=0
for l in "${LOADS[@]}"; do
  name=${l%%:*}; wait "${l##*:}" || true
  printf '%-8s %s | %s\n' "$name" "$(grep -m1 requests "$OUT/$name.txt" | xargs)" "$(grep -m1 errors "$OUT/$name.txt" | xargs)"
  grep -q 'errors *none' "$OUT/$name.txt" || { echo "FAIL: $name saw errors"; fail=1; }
done
wait $ABUSE || true; cat "$OUT/abuse.txt"
sleep 1; sample after
sleep 22; sample idle   # gnet's pool (ants) retires idle dial workers after 10-20 s
ok_reloads=$(metric 'portico_config_reloads_total\{result="success"'); bad_reloads=$(metric 'portico_config_reloads_total\{result="failure"')
echo "reloads: $ok_reloads succeeded, $bad_reloads failed; peak RSS $peak KiB; access log lines $(wc -l < "$OUT/access.log")"
(( bad_reloads == 0 && ok_reloads > 0 )) || { echo "FAIL: reloads"; fail=1; }
(( S[idle.c] == 0 )) || { echo "FAIL: ${S[idle.c]} connections still active"; fail=1; }
(( S[idle.fds] <= S[start.fds] + IDLE_POOL_FDS )) || { echo "FAIL: fds ${S[start.fds]} -> ${S[idle.fds]}"; fail=1; }
(( S[idle.g] <= S[start.g] + 12 )) || { echo "FAIL: goroutines ${S[start.g]} -> ${S[idle.g]}"; fail=1; }
(( peak < 256 * 1024 )) || { echo "FAIL: peak RSS $peak KiB"; fail=1; }
kill -TERM $P; rc=0; wait $P || rc=$?
(( rc == 0 )) || { echo "FAIL: portico exited $rc"; fail=1; }
if grep -q -i 'panic' "$OUT/portico.log"; then echo "FAIL: panic in the log"; grep -i -m3 panic "$OUT/portico.log"; fail=1; fi
(( fail == 0 )) && echo "soak: PASS" || echo "soak: FAIL"
exit $fail
