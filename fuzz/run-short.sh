#!/usr/bin/env bash
# Runs every fuzz target for a short time (default 30 s each) from the committed corpus; new
# inputs go to a scratch directory, so the committed corpus stays as it is. Needs nightly and
# cargo-fuzz. Usage: fuzz/run-short.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in $(cargo +nightly fuzz list); do
  mkdir -p "$scratch/$target"
  echo "fuzz: $target for ${seconds}s"
  cargo +nightly fuzz run "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|Done|==[0-9]+==|SUMMARY|thread .* panicked)" || true
  # A crash leaves an artifact: fail with its name.
  if ls artifacts/"$target"/crash-* artifacts/"$target"/timeout-* >/dev/null 2>&1; then
    echo "fuzz: $target found a failing input: $(ls artifacts/"$target"/)"
    exit 1
  fi
done
