#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: system tools (only if missing), uv, and
# the whole workspace into .venv from the lockfile. Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.9
need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v go >/dev/null || need_apt+=(golang-go)  # MinIO needs Go >= 1.24; see README
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[setup] installing ${need_apt[*]} with apt-get" >&2
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! python3 -m uv --version 2>/dev/null | grep -q "$UV_VERSION"; then
  echo "[setup] installing uv $UV_VERSION from PyPI" >&2
  python3 -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi

export UV_PYTHON_DOWNLOADS=never
echo "[setup] syncing the workspace into .venv (first run downloads torch: a few minutes)" >&2
python3 -m uv sync --all-packages --frozen --python "$(command -v python3)" -q
