#!/usr/bin/env bash
# origin-vs-nginx-h2c.sh: the h2c counterpart of origin-vs-nginx.sh. Does
# `portico-bench upstream` serve more h2c requests/s than nginx's
# `return 200` on one core?
# Both servers run pinned to CPU 0: the origin with GOMAXPROCS=1 (one event
# loop), nginx with one worker and `listen ... http2` without ssl (h2c with
# prior knowledge), answering `return 200` with the same 12-byte body
# ("hello world\n"), access log off. h2load runs on CPU 1:
#   taskset -c 1 h2load -c16 -m10 -D DUR http://127.0.0.1:PORT/
# Servers alternate A B A B for ROUNDS rounds, each run after a 1 s
# warm-up. Per run: req/s (h2load's); the server's CPU µs per request
# (utime+stime from /proc/PID/stat over the run: the origin's process, for
# nginx its master and worker, divided by h2load's succeeded requests); the
# server's and h2load's CPU share of the run (~100% shows the bottleneck).
# Ends with a markdown table of medians and the ratios origin / nginx.
# Usage: flock -o /tmp/bench.lock bench/scripts/origin-vs-nginx-h2c.sh [ROUNDS]
#   (-o: the servers this script starts must not inherit the lock)
#   env: BENCH_BIN (default bin/portico-bench), DUR=5, CONNS=16, STREAMS=10,
#        PORT_A=33101, PORT_B=33102, SERVER_CPU=0, LOAD_CPU=1
set -euo pipefail
ROUNDS=${1:-3}; DUR=${DUR:-5}; CONNS=${CONNS:-16}; STREAMS=${STREAMS:-10}
PORT_A=${PORT_A:-33101}; PORT_B=${PORT_B:-33102}
SERVER_CPU=${SERVER_CPU:-0}; LOAD_CPU=${LOAD_CPU:-1}
cd "$(dirname "$0")/../.."
BENCH_BIN=${BENCH_BIN:-bin/portico-bench}; NAME=origin-vs-nginx-h2c
. bench/scripts/origin-lib.sh
require "$BENCH_BIN" nginx h2load curl taskset
# nginx's `listen ... http2` without ssl is h2c with prior knowledge.
start_servers http2 --http2-prior-knowledge

h2load_run() {  # PORT SECONDS -> h2load's output, then a line "loadcpu TICKS"
  taskset -c "$LOAD_CPU" sh -c 'port=$1 conns=$2 streams=$3 dur=$4
    h2load -c"$conns" -m"$streams" -D "$dur" "http://127.0.0.1:$port/" 2>&1
    echo "loadcpu $(awk "{print \$16+\$17}" /proc/$$/stat)"' _ "$1" "$CONNS" "$STREAMS" "$2"
}

printf '\ntaskset -c %s h2load -c%s -m%s -D %s; servers on CPU %s\n' "$LOAD_CPU" "$CONNS" "$STREAMS" "$DUR" "$SERVER_CPU"
printf '%-6s %-7s %10s %9s %12s %12s\n' round server req/s "µs/req" "server CPU%" "h2load CPU%"
for r in $(seq "$ROUNDS"); do
  for s in origin nginx; do
    if [[ $s == origin ]]; then pid=$PID_A; port=$PORT_A; else pid=$PID_B; port=$PORT_B; fi
    h2load_run "$port" 1 > /dev/null
    c0=$(ticks "$pid"); w0=$(date +%s.%N)
    h2load_run "$port" "$DUR" > "$OUT/h2load.txt"
    c1=$(ticks "$pid"); w1=$(date +%s.%N)
    n=$(awk '/^requests:/{for (i = 1; i <= NF; i++) if ($i ~ /^succeeded/) print $(i-1)}' "$OUT/h2load.txt")
    rps=$(awk '/^finished in/{print $4}' "$OUT/h2load.txt")
    fails=$(awk '/^requests:/{for (i = 1; i <= NF; i++) if ($i ~ /^(failed|errored|timeout)/) t += $(i-1); print t + 0}' "$OUT/h2load.txt")
    lcpu=$(awk '/^loadcpu/{print $2}' "$OUT/h2load.txt")
    if [[ -z $n || -z $rps || $n == 0 ]]; then
      echo "origin-vs-nginx-h2c: $s: no result:" >&2; cat "$OUT/h2load.txt" >&2; exit 1
    fi
    if ((fails > 0)); then
      printf '%-6s %-7s run left out: %s failed/errored/timed out\n' "$r" "$s" "$fails"
      continue
    fi
    awk -v s="$s" -v r="$r" -v n="$n" -v rps="$rps" -v c=$((c1 - c0)) -v hz="$HZ" -v lc="$lcpu" \
      -v w0="$w0" -v w1="$w1" -v dur="$DUR" -v raw="$OUT/raw" 'BEGIN{
        us = c / hz * 1e6 / n; wall = w1 - w0
        printf "%-6s %-7s %10.0f %9.3f %12.0f %12.0f\n", r, s, rps, us, 100 * c / hz / wall, 100 * lc / hz / dur
        printf "h2c %s %.0f %.4f %.1f\n", s, rps, us, 100 * c / hz / wall >> raw
      }'
  done
done
print_medians load
