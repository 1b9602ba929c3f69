#!/usr/bin/env bash
# Runs the pubsub load tool against natrix and nats-server alternately (A B A B ...) on this
# machine and prints each run plus the median per server, with the server's CPU time.
#
#   benches/compare.sh [runs] [msgs] [size] [subs]
#
# Needs nats-server on PATH (Debian: apt-get install nats-server).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
msgs=${2:-2000000}
size=${3:-16}
subs=${4:-1}
cargo build --release --quiet
cargo bench --bench pubsub --no-run --quiet 2>/dev/null
tool=$(ls -t target/release/deps/pubsub-* | grep -v '\.d$' | head -1)
nats=$(command -v nats-server || echo /usr/sbin/nats-server)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() { # name command...
  local name=$1; shift
  local port=$((20000 + RANDOM % 20000))
  "$@" -a 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  local before; before=$(cpu_ticks "$pid")
  local out; out=$("$tool" --url "127.0.0.1:$port" --msgs "$msgs" --size "$size" --subs "$subs")
  local after; after=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local rate; rate=$(sed -E 's/.*: ([0-9]+) msgs\/s delivered.*/\1/' <<<"$out")
  local ticks=$((after - before))
  local hz; hz=$(getconf CLK_TCK)
  # Server CPU microseconds per million delivered messages.
  local cpu_per_m; cpu_per_m=$(awk -v t="$ticks" -v hz="$hz" -v m="$msgs" -v s="$subs" 'BEGIN { printf "%.0f", t / hz * 1e6 / (m * s / 1e6) }')
  echo "$name $rate $cpu_per_m"
}

results=$(mktemp)
for i in $(seq "$runs"); do
  run_one natrix target/release/natrix | tee -a "$results"
  run_one nats-server "$nats" | tee -a "$results"
done
echo "--- medians (msgs/s delivered per subscriber; server CPU us per million deliveries) size=$size msgs=$msgs subs=$subs"
for name in natrix nats-server; do
  grep "^$name " "$results" | awk '{print $2}' | sort -n | awk -v n="$name" '{a[NR]=$1} END {printf "%s rate %s\n", n, a[int((NR+1)/2)]}'
  grep "^$name " "$results" | awk '{print $3}' | sort -n | awk -v n="$name" '{a[NR]=$1} END {printf "%s cpu %s\n", n, a[int((NR+1)/2)]}'
done
rm -f "$results"
