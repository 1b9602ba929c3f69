#!/usr/bin/env bash
# Runs the load tool against natrix (tokio and mio runtimes) and nats-server alternately
# (A B C A B C ...) on this machine, and prints each run and the medians per server:
# the tool's headline figure (msgs/s, or req/s and p99 latency), the server's CPU time
# (user + system) per million messages, and the server's resident memory at the end.
#
#   benches/compare.sh RUNS [load tool arguments]
#   benches/compare.sh 5 --msgs 2000000 --size 16 --subs 1
#   benches/compare.sh 5 --mode reqrep --msgs 20000 --size 16
#   benches/compare.sh 3 --mode idle --conns 10000 --hold 4
#
# Needs nats-server on PATH or in /usr/sbin (Debian: apt-get install nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
args=("$@")
cargo build --release --quiet
cargo bench --bench pubsub --no-run --quiet 2>/dev/null
tool=$(ls -t target/release/deps/pubsub-* | grep -v '\.d$' | head -1)
nats=$(command -v nats-server || echo /usr/sbin/nats-server)
ulimit -n 65536 2>/dev/null || true

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# How many messages the run moves, for CPU per million (defaults as in the tool).
msgs=1000000; subs=1; pubs=1; mode=pubsub; queue=0
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --msgs) msgs=${args[i+1]} ;; --subs) subs=${args[i+1]} ;; --pubs) pubs=${args[i+1]} ;;
    --mode) mode=${args[i+1]} ;; --queue) queue=1 ;;
  esac
done
deliveries=$((msgs * pubs))
if [ "$mode" = pubsub ] && [ "$subs" -gt 0 ] && [ "$queue" = 0 ]; then deliveries=$((msgs * pubs * subs)); fi
if [ "$mode" = reqrep ]; then deliveries=$((msgs * 2)); fi

run_one() { # name command...
  local name=$1; shift
  local log; log=$(mktemp)
  "$@" -a 127.0.0.1 -p -1 >"$log" 2>&1 &
  local pid=$!
  local port=""
  for _ in $(seq 100); do
    port=$(sed -nE 's/.*Listening for client connections on 127\.0\.0\.1:([0-9]+).*/\1/p' "$log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  rm -f "$log"
  local before; before=$(cpu_ticks "$pid")
  local out rss
  if [ "$mode" = idle ]; then
    "$tool" --url "127.0.0.1:$port" "${args[@]}" > /tmp/compare.$$ &
    local tool_pid=$!
    sleep "$(awk -v a="${args[*]}" 'BEGIN { n = split(a, f, " "); for (i = 1; i < n; i++) if (f[i] == "--hold") { print f[i+1] - 1; exit } print 4 }')"
    rss=$(rss_kib "$pid")
    wait "$tool_pid"
    out=$(cat /tmp/compare.$$); rm -f /tmp/compare.$$
  else
    out=$("$tool" --url "127.0.0.1:$port" "${args[@]}")
    rss=$(rss_kib "$pid")
  fi
  local after; after=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local figure
  case "$mode" in
    reqrep) figure=$(sed -E 's/.*: ([0-9]+) req\/s, p50 ([0-9.]+) us.*p99 ([0-9.]+) us.*/\1 req\/s p99=\3us p50=\2us/' <<<"$out") ;;
    idle) figure="$(sed -E 's/idle: ([0-9]+) connections.*/\1 conns/' <<<"$out")" ;;
    *) figure="$(sed -E 's/.*: ([0-9]+) msgs\/s,.*/\1/' <<<"$out") msgs/s" ;;
  esac
  local hz; hz=$(getconf CLK_TCK)
  local cpu_ms; cpu_ms=$(awk -v t="$((after - before))" -v hz="$hz" -v d="$deliveries" 'BEGIN { printf "%.0f", t / hz * 1e3 / (d / 1e6) }')
  echo "$name | $figure | cpu_ms_per_million=$cpu_ms | rss_kib=$rss"
}

results=$(mktemp)
for _ in $(seq "$runs"); do
  run_one natrix-tokio target/release/natrix --runtime tokio | tee -a "$results"
  run_one natrix-mio target/release/natrix --runtime mio | tee -a "$results"
  run_one nats-server "$nats" | tee -a "$results"
done
echo "--- medians: ${args[*]}"
for name in natrix-tokio natrix-mio nats-server; do
  grep "^$name " "$results" | awk -F' [|] ' -v n="$name" '
    { split($2, f, " "); rate[NR] = f[1]; p99[NR] = f[3]; p50[NR] = f[4]
      gsub(/p99=|us/, "", p99[NR]); gsub(/p50=|us/, "", p50[NR])
      sub("cpu_ms_per_million=", "", $3); cpu[NR] = $3; sub("rss_kib=", "", $4); rss[NR] = $4 }
    function median(a, k,   i, j, t) { for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((k + 1) / 2)] }
    END { printf "%s rate %s %s cpu_ms_per_million %s rss_kib %s\n", n, median(rate, NR), (p99[1] != "" ? "p99us " median(p99, NR) " p50us " median(p50, NR) : ""), median(cpu, NR), median(rss, NR) }'
done
# Ratios against nats-server (rate: higher is better; CPU and memory: lower is better).
awk -F' [|] ' '
  { split($2, f, " "); name = $1; n[name]++; r[name, n[name]] = f[1];
    q99 = f[3]; gsub(/p99=|us/, "", q99); l99[name, n[name]] = q99; q50 = f[4]; gsub(/p50=|us/, "", q50); l50[name, n[name]] = q50;
    c = $3; sub("cpu_ms_per_million=", "", c); cp[name, n[name]] = c; m = $4; sub("rss_kib=", "", m); mem[name, n[name]] = m }
  function median(name, arr,   k, i, j, t, a) { k = n[name]; for (i = 1; i <= k; i++) a[i] = arr[name, i];
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t } return a[int((k + 1) / 2)] }
  END { for (s in n) if (s != "nats-server")
    printf "%s / nats-server: rate %.2fx, cpu %.2fx, rss %.2fx\n", s, median(s, r) / median("nats-server", r),
      median(s, cp) / median("nats-server", cp), median(s, mem) / median("nats-server", mem)
    for (s in n) if (s != "nats-server" && median("nats-server", l99) + 0 > 0)
      printf "%s / nats-server: p99 latency %.2fx, p50 latency %.2fx\n", s, median(s, l99) / median("nats-server", l99),
        median(s, l50) / median("nats-server", l50) }' "$results"
rm -f "$results"
