#!/usr/bin/env bash
# feature-cost.sh: what a feature costs on the proxy's CPU, end to end.
# Runs Portico pinned to CPU 0 (GOMAXPROCS=1) with route-file variants of one
# route, wrk and the origins on CPU 1, in alternating rounds, and prints the
# median CPU µs per request of each variant and its ratio to the baseline:
#   base      a plain proxied route
#   jwt       the same route behind JWT auth (HS256, one repeated token: cache hits)
#   limits    the same route with two rate limits too high to reject
#   rr3 / lr3 round_robin vs least_request over three origins
# Usage: bench/scripts/feature-cost.sh [ROUNDS]   (env: PORTICO_BIN, BENCH_BIN, DUR=5)
set -euo pipefail
ROUNDS=${1:-3}; DUR=${DUR:-5}
cd "$(dirname "$0")/../.."
PORTICO_BIN=${PORTICO_BIN:-bin/portico}; BENCH_BIN=${BENCH_BIN:-bin/portico-bench}
OUT=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"; }
trap cleanup EXIT
HZ=$(getconf CLK_TCK)
for port in 29101 29102 29103; do
  taskset -c 1 "$BENCH_BIN" upstream -addr 127.0.0.1:$port > /dev/null 2>&1 & PIDS+=($!)
done
sleep 0.5
printf 'portico-bench-secret-0123456789abcdef\n' > "$OUT/hs.key"
b64() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
H=$(printf '{"alg":"HS256","typ":"JWT"}' | b64)
P=$(printf '{"iss":"https://bench/","aud":"api","sub":"bench-user","scope":"read","exp":%d}' $(( $(date +%s) + 86400 )) | b64)
S=$(printf '%s.%s' "$H" "$P" | openssl dgst -sha256 -mac HMAC -macopt key:portico-bench-secret-0123456789abcdef -binary | b64)
TOKEN="$H.$P.$S"
route() {  # VARIANT -> route file on stdout
  local extra="" targets="[{address: 127.0.0.1:29101}]" bal=round_robin
  case $1 in
    jwt) extra="    auth: [users]" ;;
    limits) extra="    rate_limits: [per-ip, global]" ;;
    rr3) targets="[{address: 127.0.0.1:29101}, {address: 127.0.0.1:29102}, {address: 127.0.0.1:29103}]" ;;
    lr3) targets="[{address: 127.0.0.1:29101}, {address: 127.0.0.1:29102}, {address: 127.0.0.1:29103}]"; bal=least_request ;;
  esac
  cat <<YAML
version: 1
listeners: [{name: plain, address: "127.0.0.1:28480", protocols: [http1]}]
access_log: {path: "off"}
upstreams:
  - {name: origin, balancer: $bal, max_idle_conns: 64, targets: $targets}
auth:
  - {name: users, type: jwt, issuer: "https://bench/", audiences: [api], algorithms: [HS256], hmac_secret_file: "$OUT/hs.key"}
rate_limits:
  - {name: per-ip, key: ip, rate: 10000000/s}
  - {name: global, key: global, rate: 10000000/s}
routes:
  - name: all
    match: {path_prefix: /}
    upstream: origin
$extra
YAML
}
VARIANTS="base jwt limits rr3 lr3"
for v in $VARIANTS; do route "$v" > "$OUT/$v.yaml"; "$PORTICO_BIN" validate -c "$OUT/$v.yaml" > /dev/null; done
: > "$OUT/raw"
for r in $(seq "$ROUNDS"); do for v in $VARIANTS; do
  GOMAXPROCS=1 taskset -c 0 "$PORTICO_BIN" run -c "$OUT/$v.yaml" 2> /dev/null & P=$!
  for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:28480/ && break; sleep 0.1; done
  HDR=(); [[ $v == jwt ]] && HDR=(-H "Authorization: Bearer $TOKEN")
  taskset -c 1 wrk -t1 -c64 -d1s "${HDR[@]}" http://127.0.0.1:28480/ > /dev/null 2>&1
  c0=$(awk '{print $14+$15}' /proc/$P/stat)
  taskset -c 1 wrk -t1 -c64 -d${DUR}s --latency "${HDR[@]}" http://127.0.0.1:28480/ > "$OUT/wrk.txt" 2>&1
  c1=$(awk '{print $14+$15}' /proc/$P/stat)
  kill $P; wait $P 2>/dev/null || true
  n=$(awk '/requests in/{print $1}' "$OUT/wrk.txt"); bad=$(awk '/Non-2xx/{print $NF}' "$OUT/wrk.txt")
  us=$(awk -v c=$((c1-c0)) -v hz="$HZ" -v n="$n" 'BEGIN{printf "%.2f", c/hz*1e6/n}')
  echo "round $r $v: $n requests, ${bad:-0} non-2xx, $us µs/req"
  echo "$v $us" >> "$OUT/raw"
done; done
awk 'function med(a,n, i,j,t){for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(a[j]<a[i]){t=a[i];a[i]=a[j];a[j]=t};return (n%2)?a[(n+1)/2]:(a[n/2]+a[n/2+1])/2}
  {k=$1; v[k,++n[k]]=$2} END{for(k in n){for(i=1;i<=n[k];i++)x[i]=v[k,i]; m[k]=med(x,n[k])}
  printf "\n| variant | CPU µs/req (median) | ratio |\n|---|---|---|\n"
  printf "| base | %.2f | 1.00 |\n| jwt | %.2f | %.2f vs base |\n| limits | %.2f | %.2f vs base |\n| rr3 | %.2f | 1.00 |\n| lr3 | %.2f | %.2f vs rr3 |\n",
    m["base"], m["jwt"], m["jwt"]/m["base"], m["limits"], m["limits"]/m["base"], m["rr3"], m["lr3"], m["lr3"]/m["rr3"]}' "$OUT/raw"
