#!/usr/bin/env bash
# compress-cost.sh: what route `compress` costs on the proxy's CPU.
# An nginx origin (CPU 1) serves a 16 KiB JSON catalog; Portico (CPU 0,
# GOMAXPROCS=1) proxies it on a plain route and on a `compress: [zstd, gzip]`
# route; wrk (CPU 1) asks for identity, gzip and zstd in alternating rounds.
# Prints per round: req/s, bytes/s on the wire, Portico CPU µs per request.
# Usage: bench/scripts/compress-cost.sh [ROUNDS]   (env: PORTICO_BIN, DUR=5)
set -euo pipefail
ROUNDS=${1:-3}; DUR=${DUR:-5}
cd "$(dirname "$0")/../.."
PORTICO_BIN=${PORTICO_BIN:-bin/portico}
OUT=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT
chmod 755 "$OUT"   # mktemp makes it 0700; the origin reads as its worker user
HZ=$(getconf CLK_TCK)
mkdir -p "$OUT/www"
# A catalog of ~16 KiB with varied values (deterministic), like an API page.
awk 'BEGIN{ split("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu", w, " ");
  srand(7); s="{\"items\":["; for(i=0; length(s)<16000; i++){ if(i) s=s ",";
  s=s sprintf("{\"id\":%d,\"sku\":\"SKU-%06d\",\"name\":\"%s %s %s\",\"price\":%.2f,\"stock\":%d,\"tags\":[\"%s\",\"%s\"],\"updated\":\"2026-11-%02dT%02d:%02d:%02dZ\"}",
    1000+i, int(rand()*1e6), w[int(rand()*26)+1], w[int(rand()*26)+1], w[int(rand()*26)+1], rand()*500, int(rand()*1000),
    w[int(rand()*26)+1], w[int(rand()*26)+1], int(rand()*27)+1, int(rand()*24), int(rand()*60), int(rand()*60)) }
  printf "%s]}", s }' > "$OUT/www/catalog.json"
cat > "$OUT/origin.conf" <<NGINX
worker_processes 1;
pid $OUT/origin.pid;
error_log $OUT/origin.err;
events { worker_connections 4096; }
http {
  access_log off;
  types { application/json json; }
  server { listen 127.0.0.1:29210; keepalive_requests 1000000; location / { root $OUT/www; etag off; } }
}
NGINX
cat > "$OUT/portico.yaml" <<YAML
version: 1
listeners: [{name: plain, address: "127.0.0.1:29200", protocols: [http1]}]
access_log: {path: "off"}
upstreams:
  - {name: origin, max_idle_conns: 64, targets: [{address: 127.0.0.1:29210}]}
routes:
  - {name: zipped, match: {path_prefix: /z/}, rewrite: {strip_prefix: /z}, upstream: origin, compress: [zstd, gzip]}
  - {name: all, match: {path_prefix: /}, upstream: origin}
YAML
taskset -c 1 nginx -c "$OUT/origin.conf" -p "$OUT/" -g 'daemon off;' > /dev/null 2>&1 & PIDS+=($!)
GOMAXPROCS=1 taskset -c 0 "$PORTICO_BIN" run -c "$OUT/portico.yaml" 2> /dev/null & P=$!; PIDS+=($P)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:29200/catalog.json && break; sleep 0.1; done
echo "body: $(wc -c < "$OUT/www/catalog.json") bytes"
printf '| round | coding | req/s | wire bytes/s | Portico CPU µs/req |\n|---|---|---|---|---|\n'
for r in $(seq "$ROUNDS"); do for v in identity gzip zstd; do
  path=/z/catalog.json; [ "$v" = identity ] && path=/catalog.json
  t0=$(awk '{print $14+$15}' /proc/$P/stat)
  taskset -c 1 wrk -t1 -c64 -d"${DUR}s" -H "Accept-Encoding: $v" "http://127.0.0.1:29200$path" > "$OUT/wrk.txt" 2>&1
  t1=$(awk '{print $14+$15}' /proc/$P/stat)
  n=$(awk '/requests in/{print $1}' "$OUT/wrk.txt"); rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/wrk.txt")
  rx=$(awk '/Transfer\/sec/{print $2}' "$OUT/wrk.txt")
  echo "| $r | $v | $rps | $rx | $(awk -v c=$((t1-t0)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.1f", c/hz*1e6/n}') |"
done; done
