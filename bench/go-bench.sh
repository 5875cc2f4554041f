#!/bin/bash
# Runs levee's Go benchmarks on the working tree and on a git ref, and
# compares them with benchstat. Runnable from any clone: it needs Go, git
# and tar; benchstat is installed with `go install` the first time, only
# when it is not already on PATH or in $(go env GOPATH)/bin.
#
#   bench/go-bench.sh main                 # this tree against main
#   COUNT=5 PKGS=./internal/h1server bench/go-bench.sh HEAD~1
#   SHORT=1 PKGS=./internal/pool bench/go-bench.sh HEAD   # a check that it runs
#
# COUNT runs per benchmark (default 10: benchstat wants several);
# PKGS the packages (default every package with benchmarks); BENCH a -bench
# pattern (default .); BENCHTIME a -benchtime (default Go's 1s); SHORT=1
# means COUNT=1 BENCHTIME=1x, to check the driver, not to measure. Results
# go to $OUT (default a temp dir) as old.txt and new.txt. The ref is
# exported with `git archive` into a temp dir (the repository's worktrees
# are left alone); nothing outlives the script.
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") usage >&2; exit 2 ;;
esac
REF=$1
if [ "${SHORT:-0}" = 1 ]; then COUNT=1 BENCHTIME=1x; fi
COUNT=${COUNT:-10}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
PKGS=${PKGS:-"./internal/app ./internal/cache ./internal/dns ./internal/h1server ./internal/pool ./internal/proxy ./internal/shield"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d)}
OLD=$(mktemp -d)
trap 'rm -rf "$OLD"' EXIT

BENCHSTAT=$(command -v benchstat || true)
if [ -z "$BENCHSTAT" ]; then
  BENCHSTAT="$(go env GOPATH)/bin/benchstat"
  [ -x "$BENCHSTAT" ] || go install golang.org/x/perf/cmd/benchstat@latest
fi

git -C "$ROOT" archive "$REF" | tar -x -C "$OLD"
run() { (cd "$1" && go test -run '^$' -bench "$BENCH" -benchtime "$BENCHTIME" -benchmem -count "$COUNT" $PKGS) | tee "$2" | grep -E '^(Benchmark|ok|FAIL)' || true; }
echo "== $REF"; run "$OLD" "$OUT/old.txt"
echo "== working tree"; run "$ROOT" "$OUT/new.txt"
"$BENCHSTAT" "$OUT/old.txt" "$OUT/new.txt"
echo "raw results: $OUT"
