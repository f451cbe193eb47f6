#!/usr/bin/env bash
# The Go "livelock" of issue 11, reproduced (docs/setup.md): one small Go build with a fresh
# build cache, once at ordinary priority and once at SCHED_FIFO 99, the priority SVT-AV1 gave
# the test process when run as root and every child inherited. Prints both times; the
# real-time build is stopped at LIMIT seconds (default 120; it ignores SIGTERM there and is
# killed 10 s later). Needs root (chrt -f) and Go; the
# module golang.org/x/sys comes from the module cache or the Go proxy.
#
# Usage: benchmarks/realtime_go_build.sh [LIMIT]
set -u
LIMIT=${1:-120}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat >go.mod <<'MOD'
module example.com/realtime

go 1.24
MOD
cat >main.go <<'SRC'
package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

func main() { fmt.Println(unix.Getpid()) }
SRC
export GOFLAGS=-mod=mod GOTOOLCHAIN=local
go get golang.org/x/sys@v0.33.0 >/dev/null 2>&1 || { echo "could not fetch golang.org/x/sys" >&2; exit 1; }

build() {  # label, command prefix...
  local label=$1 start rc
  shift
  start=$(date +%s.%N)
  GOCACHE=$(mktemp -d -p "$work") timeout --kill-after=10 "$LIMIT" "$@" go build -o /dev/null .
  rc=$?
  printf '%-28s %6.1f s  (exit code %s%s)\n' "$label" "$(echo "$(date +%s.%N) - $start" | bc)" \
    "$rc" "$(case $rc in 124|137) echo ": still running at the ${LIMIT} s limit";; esac)"
}
build "ordinary priority" env
build "SCHED_FIFO 99 (chrt -f 99)" chrt -f 99
