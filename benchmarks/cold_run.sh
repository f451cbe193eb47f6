#!/usr/bin/env bash
# A cold run of the README's test command, as docs/setup.md reports them: a fresh clone of
# this checkout with every cache empty (the project's .cache, Go's build and module caches,
# uv's cache, a fresh Maven repository). The set-up needs the network, so it runs first on
# the host; then .ci/run (which runs the set-up again: seconds, everything present) runs in a
# network namespace of its own with only loopback, so that its Kafka, MinIO and services
# cannot meet another test run's on the same machine. Needs root (ip netns).
#
# Usage: benchmarks/cold_run.sh N   (works in /tmp/coldN; prints and keeps the times there)
set -u
N=$1
ROOT=/tmp/cold$N
rm -rf "$ROOT"
mkdir -p "$ROOT"
export GOCACHE=$ROOT/gocache GOMODCACHE=$ROOT/gomod UV_CACHE_DIR=$ROOT/uv \
       MAVEN_OPTS="-Dmaven.repo.local=$ROOT/m2" CI=true
git clone -q "$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)" "$ROOT/repo"
cd "$ROOT/repo"
start=$SECONDS
scripts/setup.sh --tests >"$ROOT/setup.out" 2>&1
rc=$?
echo "set-up exit code $rc after $((SECONDS - start)) s" | tee "$ROOT/result"
ip netns add "cold$N" 2>/dev/null
ip netns exec "cold$N" ip link set lo up
phase=$SECONDS
ip netns exec "cold$N" env PYTEST_ADDOPTS="--durations=25" .ci/run >"$ROOT/ci.out" 2>&1
rc=$?
ip netns del "cold$N"
pkill -f "$ROOT/" 2>/dev/null  # anything of this clone still running after the namespace
echo ".ci/run exit code $rc after $((SECONDS - phase)) s; whole: $((SECONDS - start)) s" |
  tee -a "$ROOT/result"
grep -E '^\[(setup|test)\]' "$ROOT/setup.out" "$ROOT/ci.out" | grep -E 'done in|: [0-9]+ s|tier' |
  tee -a "$ROOT/result"
