#!/usr/bin/env bash
# Long soak of the deterministic simulator: seeds FIRST..LAST with TICKS ticks each, split into
# JOBS parallel chunks (default: number of cores). Stops at the first failing chunk and prints the
# seed and the exact command that reproduces it.
#
#   scripts/soak-sim.sh [FIRST=1] [LAST=100000] [TICKS=3000] [JOBS=nproc]
set -euo pipefail
first=${1:-1}
last=${2:-100000}
ticks=${3:-3000}
jobs=${4:-$(nproc)}
cd "$(dirname "$0")/.."
span=$(( (last - first + jobs) / jobs ))
pids=()
logs=()
for (( j = 0; j < jobs; j++ )); do
  a=$(( first + j * span ))
  b=$(( a + span - 1 ))
  (( b > last )) && b=$last
  (( a > last )) && break
  log=$(mktemp)
  logs+=("$log")
  npx tsx test/sim/cli.ts --seeds "$a..$b" --ticks "$ticks" >"$log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then status=1; fi
  grep -v 'npm warn' "${logs[$i]}" || true
  rm -f "${logs[$i]}"
done
exit $status
