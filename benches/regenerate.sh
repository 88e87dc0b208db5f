#!/usr/bin/env bash
# Takes every run behind BENCHMARKS.md, one after the other, then writes it with report.py.
# About 35 minutes on a 2-core machine; needs redis-server (a private one is started on port
# 6399, without persistence, and refused if something already listens there: the benchmarks
# empty the database they are given) and about 10 GB free beside the target directory. Each
# run's criterion output is copied aside, since criterion keeps only the latest run of a group.
set -euo pipefail
cd "$(dirname "$0")/.."

port=6399
if redis-cli -p "$port" ping >/dev/null 2>&1; then
  echo "something already answers on port $port; stop it first (the benchmarks empty it)" >&2
  exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
pidfile="$(realpath "$target")/regenerate-redis.pid"
redis-server --port "$port" --save '' --appendonly no --daemonize yes --pidfile "$pidfile" >/dev/null
trap 'kill "$(cat "$pidfile")" 2>/dev/null || true' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/"

criterion="$target/criterion"
runs="$target/benchmark-runs"
rm -rf "$runs"
mkdir -p "$runs"

# run NAME COMMAND...: the command's output goes to $runs/NAME.log, and the criterion output
# it leaves (every run but reopen's leaves one) to $runs/NAME.
run() {
  local name="$1"
  shift
  echo "== $(date +%T) $name: $*"
  rm -rf "$criterion"
  "$@" >"$runs/$name.log" 2>&1 || {
    tail -20 "$runs/$name.log"
    echo "$name failed; its output is in $runs/$name.log" >&2
    exit 1
  }
  if [ -d "$criterion" ]; then
    cp -r "$criterion" "$runs/$name"
  elif [ "$name" != reopen ]; then
    echo "$name left no criterion output in $criterion" >&2
    exit 1
  fi
}

# Every table of operations, the first run of the store and Redis groups, sweeps, durable
# writers, loads during a sweep, codec and the disk's own write: one invocation.
run main env BENCH_SIZES=10000,100000,1000000 cargo bench --bench storage --all-features
# sled's write latency and Redis's round trips vary between invocations: more runs of those.
for n in 2 3; do
  run "repeat$n" env BENCH_SIZES=10000 cargo bench --bench storage --all-features \
    -- '^(store_(upsert|new)-10000/|redis-10000/)'
done
for n in 4 5; do
  run "repeat$n" env BENCH_SIZES=10000 cargo bench --bench storage --all-features -- '^redis-10000/'
done
run reopen cargo bench --bench reopen --all-features
run refresh cargo bench --bench refresh --all-features
for n in 1 2 3; do
  run "encryption$n" cargo bench --bench encryption --all-features
done

echo "== $(date +%T) report"
REOPEN_LOG="$runs/reopen.log" REFRESH_CRITERION="$runs/refresh" \
  ENCRYPTION_CRITERION="$runs/encryption1:$runs/encryption2:$runs/encryption3" \
  python3 benches/report.py "$runs/main" "$runs/repeat2" "$runs/repeat3" "$runs/repeat4" "$runs/repeat5" \
  >"$runs/BENCHMARKS.md"
mv "$runs/BENCHMARKS.md" BENCHMARKS.md
