#!/usr/bin/env bash
# The whole test suite: set up, then pytest. The suite itself starts the real Kafka and MinIO
# (fetched and built into .cache/infra on the first run) and stops them at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check .
exec .venv/bin/pytest "$@"
