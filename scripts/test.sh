#!/usr/bin/env bash
# The whole test suite: set up (including the tools the tests run), lint, type-check, pytest.
# The suite itself starts the real Kafka and MinIO from .cache/infra and stops them at the end.
# Each phase prints its time; docs/setup.md has measured cold and warm runs.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
scripts/setup.sh --tests
phase=$SECONDS
.venv/bin/ruff check .
echo "[test] ruff: $((SECONDS - phase)) s" >&2
phase=$SECONDS
.venv/bin/mypy  # strict, over shared/, every service and the CLI (pyproject.toml [tool.mypy])
echo "[test] mypy: $((SECONDS - phase)) s" >&2
phase=$SECONDS
rc=0
# Two workers: the real-infrastructure tests on one (they share one stack, see
# tests/conftest.py), everything else on the other; TEST_WORKERS=0 runs in one process.
workers=(-n "${TEST_WORKERS:-2}" --dist loadgroup)
[ "${TEST_WORKERS:-2}" = 0 ] && workers=()
.venv/bin/pytest "${workers[@]}" "$@" || rc=$?
echo "[test] pytest: $((SECONDS - phase)) s; whole run: $((SECONDS - started)) s" >&2
exit "$rc"
