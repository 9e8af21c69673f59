#!/usr/bin/env bash
# Compile time of `cnnc compile` with an empty kernel cache (cold) and again
# with the cache it filled (warm). Targets for ResNet-50 on our 2-core
# machines: cold <= 90 s, warm <= 5 s.
#
#   bench/compile_time.sh [NET.json] [extra cnnc compile flags]
#   CNNC=path/to/cnnc bench/compile_time.sh examples/vgg16.json --target host
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cnnc=${CNNC:-$root/build/release/tools/cnnc}
net=${1:-$root/examples/resnet50.json}
shift || true
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

seconds() {  # runs the command, prints its wall time in seconds
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

compile=("$cnnc" compile "$net" -o "$work/lib.so" --cache-dir "$work/cache" --quiet "$@")
cold=$(seconds "${compile[@]}")
warm=$(seconds "${compile[@]}")
kernels=$(ls "$work/cache/kernels" | grep -c '\.a$')
printf '%s: %d kernels, %s cores\n' "$(basename "$net")" "$kernels" "$(nproc)"
verdict() { awk -v t="$1" -v limit="$2" 'BEGIN { print (t <= limit) ? "met" : "MISSED" }'; }
printf 'cold (empty cache): %6.1f s   target <= 90 s: %s\n' "$cold" "$(verdict "$cold" 90)"
printf 'warm (cached):      %6.1f s   target <=  5 s: %s\n' "$warm" "$(verdict "$warm" 5)"
