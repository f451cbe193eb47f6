#!/usr/bin/env bash
# The main job: set up, then analyze a video in one process (a generated sample if none given).
# Usage: scripts/demo.sh [VIDEO] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/tiktok-analyzer demo "$@"
