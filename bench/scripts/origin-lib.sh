# origin-lib.sh: what origin-vs-nginx.sh and origin-vs-nginx-h2c.sh share:
# a scratch folder cleaned on exit, `portico-bench upstream` and a one-worker
# nginx `return 200` started pinned to SERVER_CPU, CPU accounting from /proc,
# and the table of medians. Sourced, not run; the caller sets ROUNDS, DUR,
# PORT_A, PORT_B, SERVER_CPU, LOAD_CPU, BENCH_BIN and NAME (for messages).

# require TOOL...: exit unless every tool is on PATH.
require() {
  local t
  for t in "$@"; do
    command -v "$t" > /dev/null || { echo "$NAME: $t not found" >&2; exit 1; }
  done
}

OUT=$(mktemp -d); PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2> /dev/null || true; done
  rm -rf "$OUT"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
HZ=$(getconf CLK_TCK)
: > "$OUT/raw"

# start_servers LISTEN_OPTS CURL_FLAG...: the origin on PORT_A and nginx on
# PORT_B (its listen line gets LISTEN_OPTS, e.g. "http2" for h2c), both
# answering the same 12-byte body ("hello world\n", the origin's default
# -body-size 12); waits until each answers curl CURL_FLAG... and prints
# both heads. Sets PID_A and PID_B (nginx's master).
start_servers() {
  local listen_opts=$1 port; shift
  mkdir -p "$OUT/tmp"
  cat > "$OUT/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $OUT/nginx.pid;
error_log $OUT/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $OUT/tmp;
  proxy_temp_path $OUT/tmp;
  fastcgi_temp_path $OUT/tmp;
  uwsgi_temp_path $OUT/tmp;
  scgi_temp_path $OUT/tmp;
  default_type text/plain;
  server {
    listen 127.0.0.1:$PORT_B $listen_opts;
    location / { return 200 "hello world\n"; }
  }
}
EOF
  GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$BENCH_BIN" upstream -addr 127.0.0.1:$PORT_A -body-size 12 \
    2> "$OUT/origin.log" & PID_A=$!; PIDS+=("$PID_A")
  taskset -c "$SERVER_CPU" nginx -p "$OUT" -c "$OUT/nginx.conf" -e "$OUT/error.log" & PID_B=$!; PIDS+=("$PID_B")
  for port in $PORT_A $PORT_B; do
    for _ in $(seq 50); do curl -sf "$@" -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    curl -sf "$@" -o /dev/null "http://127.0.0.1:$port/" ||
      { echo "$NAME: nothing answers on $port" >&2; cat "$OUT"/*.log >&2; exit 1; }
  done
  echo "origin:  $(curl -s "$@" -D - -o /dev/null http://127.0.0.1:$PORT_A/ | tr -d '\r' | paste -sd'|')"
  echo "nginx:   $(curl -s "$@" -D - -o /dev/null http://127.0.0.1:$PORT_B/ | tr -d '\r' | paste -sd'|')"
}

# ticks PID: CPU ticks (utime+stime) of the process and its children (for
# nginx: master and worker).
ticks() {
  local t=0 p
  for p in $1 $(cat /proc/"$1"/task/*/children 2> /dev/null); do
    t=$((t + $(awk '{print $14+$15}' /proc/"$p"/stat)))
  done
  echo "$t"
}

# Busy and total jiffies of one CPU from /proc/stat.
cpu_jiffies() { awk -v c="cpu$1" '$1==c{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }

# print_medians LOAD_HEADER: the markdown table of medians over the runs
# kept in $OUT/raw (lines "LOAD SERVER REQ/S US/REQ SERVER_CPU%"), per load
# setting, with the ratios origin ÷ nginx.
print_medians() {
  awk -v head="$1" 'function med(a, n,   i, j, t) {
       for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
       return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { k = $1 SUBSEP $2; if (!($1 in seen)) { seen[$1] = 1; order[++nd] = $1 }
      i = ++n[k]; R[k, i] = $3; U[k, i] = $4; C[k, i] = $5 }
    END {
      for (k in n) { for (i = 1; i <= n[k]; i++) { x[i] = R[k, i]; y[i] = U[k, i]; z[i] = C[k, i] }
                     mr[k] = med(x, n[k]); mu[k] = med(y, n[k]); mc[k] = med(z, n[k]) }
      printf "\nMedians over runs (servers on one core each, in turn):\n\n"
      printf "| %s | server | runs | req/s | CPU µs/req | server CPU %% |\n|---|---|---|---|---|---|\n", head
      for (j = 1; j <= nd; j++) { d = order[j]; o = d SUBSEP "origin"; g = d SUBSEP "nginx"
        printf "| %s | portico-bench upstream | %d | %.0f | %.3f | %.0f |\n", d, n[o], mr[o], mu[o], mc[o]
        printf "| %s | nginx return 200 | %d | %.0f | %.3f | %.0f |\n", d, n[g], mr[g], mu[g], mc[g]
        if (n[o] && n[g]) printf "| %s | **origin ÷ nginx** | | **%.2f** | **%.2f** | |\n", d, mr[o] / mr[g], mu[o] / mu[g] }
    }' "$OUT/raw"
}
