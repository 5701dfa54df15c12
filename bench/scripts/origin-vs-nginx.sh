#!/usr/bin/env bash
# origin-vs-nginx.sh: does `portico-bench upstream` serve more requests/s
# than nginx's `return 200` on one core?
# Both servers run pinned to CPU 0: the origin with GOMAXPROCS=1 (one event
# loop), nginx with one worker answering `return 200` with the same 12-byte
# body ("hello world\n"), access log off. wrk -t1 runs on CPU 1. With
# HTTP/1.1 pipelining (a generated Lua script writes DEPTH requests at a
# time; wrk counts every response) wrk's cost per request drops far below a
# server's, so the server's core, not wrk's, is the limit; depth 1 (plain
# keep-alive, no script) is measured too, where wrk's core is the limit.
# Servers alternate A B A B for ROUNDS rounds of DUR seconds, each run after
# a 1 s warm-up. Per run: req/s; the server's CPU µs per request
# (utime+stime of its process and children from /proc over the run,
# divided by wrk's completed requests); the server's and wrk's CPU share of
# the run (~100% shows who was the bottleneck; CPU0 busy% above the
# server's share is other load on that core); and 1e6 / (µs/req), the
# req/s the server's CPU cost allows on a whole core. Ends with a markdown
# table of medians and the ratios origin / nginx.
# Usage: flock -o /tmp/bench.lock bench/scripts/origin-vs-nginx.sh [ROUNDS]
#   (-o: the servers this script starts must not inherit the lock)
#   env: BENCH_BIN (default bin/portico-bench), DUR=5, DEPTHS="16 1",
#        CONNS=64, PORT_A=32001, PORT_B=32002, SERVER_CPU=0, LOAD_CPU=1
set -euo pipefail
ROUNDS=${1:-3}; DUR=${DUR:-5}; DEPTHS=${DEPTHS:-16 1}; CONNS=${CONNS:-64}
PORT_A=${PORT_A:-32001}; PORT_B=${PORT_B:-32002}
SERVER_CPU=${SERVER_CPU:-0}; LOAD_CPU=${LOAD_CPU:-1}
cd "$(dirname "$0")/../.."
BENCH_BIN=${BENCH_BIN:-bin/portico-bench}; NAME=origin-vs-nginx
. bench/scripts/origin-lib.sh
require "$BENCH_BIN" nginx wrk curl taskset
start_servers ""

wrk_run() {  # PORT SECONDS DEPTH -> wrk's output, then a line "wrkcpu TICKS"
  local script=()
  if (($3 > 1)); then
    # DEPTH pipelined GETs per write; wrk counts every response.
    printf 'init = function(args)\n  local r = {}\n  for i = 1, %d do r[i] = wrk.format() end\n  req = table.concat(r)\nend\nrequest = function() return req end\n' \
      "$3" > "$OUT/pipeline.lua"
    script=(-s "$OUT/pipeline.lua")
  fi
  taskset -c "$LOAD_CPU" sh -c 'port=$1 conns=$2 dur=$3; shift 3
    wrk -t1 -c"$conns" -d"$dur"s "$@" "http://127.0.0.1:$port/" 2>&1
    echo "wrkcpu $(awk "{print \$16+\$17}" /proc/$$/stat)"' _ "$1" "$CONNS" "$2" "${script[@]}"
}

for depth in $DEPTHS; do
  printf '\nwrk -t1 -c%s -d%ss, pipelining depth %s, on CPU %s; servers on CPU %s\n' "$CONNS" "$DUR" "$depth" "$LOAD_CPU" "$SERVER_CPU"
  printf '%-6s %-7s %10s %9s %12s %11s %10s %13s\n' round server req/s "µs/req" "server CPU%" "CPU$SERVER_CPU busy%" "wrk CPU%" "1e6/(µs/req)"
  for r in $(seq "$ROUNDS"); do
    for s in origin nginx; do
      if [[ $s == origin ]]; then pid=$PID_A; port=$PORT_A; else pid=$PID_B; port=$PORT_B; fi
      wrk_run "$port" 1 "$depth" > /dev/null
      c0=$(ticks "$pid"); read -r b0 t0 < <(cpu_jiffies "$SERVER_CPU"); w0=$(date +%s.%N)
      wrk_run "$port" "$DUR" "$depth" > "$OUT/wrk.txt"
      c1=$(ticks "$pid"); read -r b1 t1 < <(cpu_jiffies "$SERVER_CPU"); w1=$(date +%s.%N)
      n=$(awk '/requests in/{print $1}' "$OUT/wrk.txt")
      rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/wrk.txt")
      wcpu=$(awk '/^wrkcpu/{print $2}' "$OUT/wrk.txt")
      if [[ -z $n || -z $rps ]]; then
        echo "origin-vs-nginx: $s: no result:" >&2; cat "$OUT/wrk.txt" >&2; exit 1
      fi
      if err=$(grep -E 'Non-2xx|Socket errors' "$OUT/wrk.txt"); then
        # A starved server times requests out: the run says nothing about
        # its capacity, so it is shown but left out of the medians.
        printf '%-6s %-7s run left out: %s\n' "$r" "$s" "$(echo $err)"
        continue
      fi
      awk -v d="$depth" -v s="$s" -v r="$r" -v n="$n" -v rps="$rps" -v c=$((c1 - c0)) -v hz="$HZ" -v wc="$wcpu" \
        -v bd=$((b1 - b0)) -v td=$((t1 - t0)) -v w0="$w0" -v w1="$w1" -v dur="$DUR" -v raw="$OUT/raw" 'BEGIN{
          us = c / hz * 1e6 / n; wall = w1 - w0
          printf "%-6s %-7s %10.0f %9.3f %12.0f %11.0f %10.0f %13.0f\n", r, s, rps, us, 100 * c / hz / wall, 100 * bd / td, 100 * wc / hz / dur, 1e6 / us
          printf "%s %s %.0f %.4f %.1f\n", d, s, rps, us, 100 * c / hz / wall >> raw
        }'
    done
  done
done
print_medians "pipelining depth"
