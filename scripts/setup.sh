#!/usr/bin/env bash
# One set-up for both README commands. Installs what is missing (system tools, uv), syncs the
# workspace into .venv from uv.lock, and with --tests also builds the pinned tools the test
# suite runs (Kafka jars, MinIO, the deploy checks' Go tools) into .cache/infra.
#
# Every step has a time limit and is retried once; a step still running prints a line a
# minute; a failed step names itself, its log and the command to run by hand. Safe to run
# again and safe to interrupt: tools are built under a temporary name and renamed when done.
# Step times go to stderr and to .cache/setup/times.tsv (docs/setup.md has measured ones).
#
# Usage: scripts/setup.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."

unset PYTHONDONTWRITEBYTECODE  # let Python cache bytecode (why: scripts/test.sh)
FOR_TESTS=0
[ "${1:-}" = "--tests" ] && FOR_TESTS=1
UV_VERSION=0.13.9
LOGS=.cache/setup
mkdir -p "$LOGS"
: > "$LOGS/times.tsv"
SETUP_START=$SECONDS

say() { echo "[setup] $*" >&2; }

# step NAME LIMIT_S COMMAND...: run with a time limit (GNU timeout kills the whole process
# group), retry once, print a line a minute while it runs and its time when it ends.
step() {
  local name=$1 limit=$2
  shift 2
  local log="$LOGS/$name.log" start=$SECONDS attempt pid rc next
  for attempt in 1 2; do
    if [ "$attempt" -eq 1 ]; then say "$name: started"; else say "$name: retrying"; fi
    timeout --kill-after=15 "$limit" "$@" >"$log" 2>&1 &
    pid=$!
    next=$((SECONDS + 60))
    while kill -0 "$pid" 2>/dev/null; do
      sleep 1
      if [ "$SECONDS" -ge "$next" ]; then
        say "$name: still running ($((SECONDS - start)) s)"
        next=$((next + 60))
      fi
    done
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -eq 0 ]; then
      say "$name: done in $((SECONDS - start)) s"
      printf '%s\t%s\n' "$name" "$((SECONDS - start))" >>"$LOGS/times.tsv"
      return 0
    fi
    [ "$rc" -eq 124 ] && say "$name: over its ${limit} s limit" || say "$name: exited with $rc"
    tail -n 15 "$log" | sed 's/^/    /' >&2
  done
  say "FAILED: step '$name' failed twice. Log: $log"
  say "to run it by hand: $*"
  return 1
}

# --- system tools, only those missing ------------------------------------------------------
need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ "$FOR_TESTS" = 1 ]; then
  command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || need_apt+=(maven)
  command -v go >/dev/null || need_apt+=(golang-go)  # MinIO needs Go >= 1.24
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  step apt-update 300 apt-get update -qq
  step apt-install 900 apt-get install -y -qq "${need_apt[@]}"
fi
# The HTML report's browser tests drive Debian's Chromium (no browser download is possible);
# where it cannot be installed they skip and say so, so its failure does not stop the set-up.
if [ "$FOR_TESTS" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  { step apt-update-chromium 300 apt-get update -qq &&
    step chromium-install 900 apt-get install -y -qq chromium; } ||
    say "chromium could not be installed: the browser tests will be skipped"
fi

# A guard against threads spinning in the kernel (src/tiktok_analyzer/cli/spin_watchdog.py):
# cold Go builds were held 20+ minutes by it. scripts/test.sh starts one for its whole run.
if [ -z "${TIKTOK_SPIN_WATCHDOG:-}" ]; then
  python3 src/tiktok_analyzer/cli/spin_watchdog.py --root $$ &
  TIKTOK_SPIN_WATCHDOG=$!
  trap 'kill "$TIKTOK_SPIN_WATCHDOG" 2>/dev/null || true' EXIT
fi

if ! python3 -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  step uv-install 300 python3 -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

# --- the workspace, and beside it the stack's tools (they need only the standard library) ---
export UV_PYTHON_DOWNLOADS=never
tools_pid=""
if [ "$FOR_TESTS" = 1 ]; then
  # Kafka jars and the MinIO build: the slowest step on a cold machine, so it starts first
  # and runs while uv syncs. toolchain.py applies its own time and stall limits and retry;
  # the outer limit here only backstops it.
  step stack-tools 3600 python3 src/tiktok_analyzer/cli/toolchain.py &
  tools_pid=$!
fi
step uv-sync 1200 python3 -m uv sync --all-packages --frozen --python "$(command -v python3)"

if [ "$FOR_TESTS" = 1 ]; then
  # The deploy checks' Go tools (kustomize, compose-config, dockerfile-lint, KEDA and Compose
  # schemas), built here rather than inside a test so that no test waits on a compiler.
  deploy_rc=0
  step deploy-tools 3600 .venv/bin/python tests/deploy_tools.py || deploy_rc=$?
  # The official weights a package registry ships (OCR, MediaPipe): the tests check real
  # output on real media with them. Where no source answers, those tests skip and say so.
  step test-weights 600 env TIKTOK_MODEL_STORE=.cache/test-models \
    .venv/bin/tiktok-analyzer models pull ocr faces hands pose ||
    say "the registry weights could not be pulled: their tests will be skipped"
  tools_rc=0
  wait "$tools_pid" || tools_rc=$?
  [ "$deploy_rc" -eq 0 ] && [ "$tools_rc" -eq 0 ] || exit 1
fi

say "set-up done in $((SECONDS - SETUP_START)) s (per step: $LOGS/times.tsv)"
