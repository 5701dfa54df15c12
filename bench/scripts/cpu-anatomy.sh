#!/usr/bin/env bash
# cpu-anatomy.sh: where a proxy's CPU per request goes: user vs system time
# (utime/stime from /proc over one load run) and system calls per request
# (perf stat on raw_syscalls), for Portico, HAProxy or nginx set up as in
# bench/peers/ (a copy of the shared peers folder; proxy on CPU 0, load and origin on CPU 1).
# Usage: bench/scripts/cpu-anatomy.sh TARGET SCENARIO
#   TARGET: portico | haproxy | nginx    SCENARIO: h1 | h1tls | h2c | h2tls
#   env: PORTICO_BIN (default bin/portico), PEERS (default bench/peers),
#        PORT_BASE (default 27280), DUR (seconds, default 5), SYSCALLS=1 to count calls
set -euo pipefail
T=${1:?target}; SC=${2:?scenario}; DUR=${DUR:-5}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${PORTICO_BIN:-$ROOT/bin/portico}; [[ $BIN = /* ]] || BIN=$ROOT/$BIN
PEERS=${PEERS:-$ROOT/bench/peers}
cd "$PEERS"
OUT=$(mktemp -d); mkdir -p "$OUT/certs" "$OUT/tmp" "$OUT/www"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout "$OUT/certs/key.pem" \
  -out "$OUT/certs/cert.pem" -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost 2>/dev/null
cat "$OUT/certs/cert.pem" "$OUT/certs/key.pem" > "$OUT/haproxy.pem"
B=${PORT_BASE:-27280}; P1=$B; P2=$((B+2)); P3=$((B+3)); PO=$((B+10))
for f in upstream.conf portico.yaml haproxy.cfg nginx.conf; do
  sed -e "s/18080/$P1/g; s/18082/$P2/g; s/18443/$P3/g; s/19001/$PO/g; s/19002/$((PO+1))/g; s/19443/$((PO+2))/g" \
      -e "s#run/haproxy.pem#$OUT/haproxy.pem#; s#run/tmp/#$OUT/tmp/#g; s#pid run/#pid $OUT/#; s#error_log run/#error_log $OUT/#" \
      -e "s#certs/#$OUT/certs/#g; s#alias www/#alias $OUT/www/#" "$f" > "$OUT/$f"
done
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$OUT"' EXIT
taskset -c 1 nginx -p "$OUT/" -c "$OUT/upstream.conf" -g 'daemon off;' & PIDS+=($!)
case $T in
  portico) env GOMAXPROCS=1 taskset -c 0 "$BIN" run -c "$OUT/portico.yaml" > "$OUT/p.log" 2>&1 & ;;
  haproxy) taskset -c 0 haproxy -db -f "$OUT/haproxy.cfg" > "$OUT/p.log" 2>&1 & ;;
  nginx)   taskset -c 0 nginx -p "$OUT/" -c "$OUT/nginx.conf" -g 'daemon off;' > "$OUT/p.log" 2>&1 & ;;
  *) echo "unknown target $T"; exit 2 ;;
esac
PP=$!; PIDS+=($PP)
for _ in $(seq 80); do curl -sk -o /dev/null "http://127.0.0.1:$P1/" && break; sleep 0.1; done
sleep 0.3
W=$PP; [[ $T == nginx ]] && W=$(pgrep -P "$PP" | head -1)   # nginx's worker
case $SC in
  h1)    LOAD="wrk -t1 -c64 -d${DUR}s http://127.0.0.1:$P1/" ;;
  h1tls) LOAD="wrk -t1 -c64 -d${DUR}s https://127.0.0.1:$P3/" ;;
  h2c)   LOAD="h2load -c16 -m10 -D $DUR http://127.0.0.1:$P2/" ;;
  h2tls) LOAD="h2load -c16 -m10 -D $DUR https://127.0.0.1:$P3/" ;;
  *) echo "unknown scenario $SC"; exit 2 ;;
esac
if [[ ${SYSCALLS:-0} == 1 ]]; then
  perf stat -e 'raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl' \
    -p "$W" -o "$OUT/stat.txt" -- sleep $((DUR - 1)) &
  SP=$!
fi
read -ra a < /proc/"$W"/stat
taskset -c 1 $LOAD > "$OUT/load.txt" 2>&1
read -ra b < /proc/"$W"/stat
[[ ${SYSCALLS:-0} == 1 ]] && wait $SP
if [[ $LOAD == wrk* ]]; then n=$(awk '/requests in/{print $1}' "$OUT/load.txt"); rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/load.txt")
else n=$(awk '/^requests:/{print $8}' "$OUT/load.txt"); rps=$(awk '/^finished in/{gsub(",","");print $4}' "$OUT/load.txt"); fi
HZ=$(getconf CLK_TCK)
awk -v u=$((b[13]-a[13])) -v s=$((b[14]-a[14])) -v n="$n" -v hz="$HZ" -v t="$T" -v sc="$SC" \
  'BEGIN{printf "%s %s: user %.1f + system %.1f = %.1f us/request (%d requests)\n", t, sc, u/hz*1e6/n, s/hz*1e6/n, (u+s)/hz*1e6/n, n}'
if [[ ${SYSCALLS:-0} == 1 ]]; then
  awk -v r="$rps" -v d=$((DUR - 1)) '/raw_syscalls|syscalls:/{gsub(",","",$1); if ($1+0 > 0) printf "  %-34s %.2f per request\n", $2, $1/(r*d)}' "$OUT/stat.txt"
fi
