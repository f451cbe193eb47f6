#!/usr/bin/env bash
# The whole test suite: set up (including the tools the tests run), lint, type-check, pytest.
# The suite itself starts the real Kafka and MinIO from .cache/infra and stops them at the end.
# Each phase prints its time; docs/setup.md has measured cold and warm runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# Python may cache compiled bytecode in .venv and the source tree: some environments set
# PYTHONDONTWRITEBYTECODE, and then every process compiles every module it imports again
# (measured: importing torch, OpenCV, transformers, librosa, FastStream 5.7 s -> 3.0 s with
# the cache, and the suite starts dozens of such processes). The images precompile instead.
unset PYTHONDONTWRITEBYTECODE
started=$SECONDS
# A watchdog over the whole run: it sets real-time processes back to the ordinary policy (a
# library had raised the test process to SCHED_FIFO 99 and its children hung: Go builds,
# Chromium) and lowers threads spinning in the kernel (docs/setup.md; spin_watchdog.py).
if command -v python3 >/dev/null; then
  python3 src/tiktok_analyzer/cli/spin_watchdog.py --root $$ &
  export TIKTOK_SPIN_WATCHDOG=$!
  trap 'kill "$TIKTOK_SPIN_WATCHDOG" 2>/dev/null || true' EXIT
fi
scripts/setup.sh --tests
phase=$SECONDS
.venv/bin/ruff check .
echo "[test] ruff: $((SECONDS - phase)) s" >&2
phase=$SECONDS
.venv/bin/mypy  # strict, over shared/, every service and the CLI (pyproject.toml [tool.mypy])
echo "[test] mypy: $((SECONDS - phase)) s" >&2
phase=$SECONDS
rc=0
if [ $# -eq 0 ] && [ "${TEST_TIERS:-2}" != 1 ]; then
  # The whole suite as two pytest processes side by side: the real-infrastructure tier
  # (`-m infra`: Kafka, MinIO, the six services; it mostly waits on them) and the rest (it
  # mostly computes). Each has its own temporary folder and prefixes its lines with its
  # name; each must pass and run tests (pytest's exit code 5, no tests, fails the run too).
  # TEST_TIERS=1 runs one process; arguments (a file, -k ...) also run one process, with them.
  # Options for both tiers: PYTEST_ADDOPTS, e.g. PYTEST_ADDOPTS=--durations=25.
  tier() {
    local name=$1 tier_rc
    shift
    set +e
    .venv/bin/pytest --basetemp=".cache/pytest/$name" "$@" 2>&1 | sed -u "s/^/[$name] /"
    tier_rc=${PIPESTATUS[0]}
    echo "[test] pytest $name tier: exit code $tier_rc after $((SECONDS - phase)) s" >&2
    return "$tier_rc"
  }
  mkdir -p .cache/pytest
  tier infra -m infra &
  infra=$!
  tier local -m "not infra" &
  local_tier=$!
  wait "$infra" || rc=$?
  local_rc=0
  wait "$local_tier" || local_rc=$?
  [ "$rc" -ne 0 ] || rc=$local_rc
else
  .venv/bin/pytest "$@" || rc=$?
fi
echo "[test] pytest: $((SECONDS - phase)) s; whole run: $((SECONDS - started)) s" >&2
exit "$rc"
