#!/usr/bin/env bash
# Runs the pubsub load tool against natrix (tokio and mio runtimes) and nats-server
# alternately (A B C A B C ...) on this machine and prints each run plus the median per server:
# messages per second (per subscriber; or taken by the server with subs=0) and the server's CPU
# time (user + system) per million messages delivered (or published, with subs=0).
#
#   benches/compare.sh [runs] [msgs] [size] [subs]
#
# Needs nats-server on PATH or in /usr/sbin (Debian: apt-get install nats-server).
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
  local rate; rate=$(sed -E 's/.*: ([0-9]+) msgs\/s,.*/\1/' <<<"$out")
  local ticks=$((after - before))
  local hz; hz=$(getconf CLK_TCK)
  local deliveries=$(( subs > 0 ? msgs * subs : msgs ))
  local cpu_ms; cpu_ms=$(awk -v t="$ticks" -v hz="$hz" -v d="$deliveries" 'BEGIN { printf "%.0f", t / hz * 1e3 / (d / 1e6) }')
  echo "$name $rate $cpu_ms"
}

results=$(mktemp)
for _ in $(seq "$runs"); do
  run_one natrix-tokio target/release/natrix --runtime tokio | tee -a "$results"
  run_one natrix-mio target/release/natrix --runtime mio | tee -a "$results"
  run_one nats-server "$nats" | tee -a "$results"
done
echo "--- size=$size msgs=$msgs subs=$subs: median msgs/s, median server CPU ms per million messages"
for name in natrix-tokio natrix-mio nats-server; do
  rate=$(grep "^$name " "$results" | awk '{print $2}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  cpu=$(grep "^$name " "$results" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$name $rate $cpu"
done
rm -f "$results"
