#!/bin/bash
# Runs levee's Go benchmarks on the working tree and on a git ref, and
# compares them with benchstat. Runnable from any clone: it needs only Go
# and git (benchstat is fetched by `go run` the first time).
#
#   bench/go-bench.sh main                 # this tree against main
#   COUNT=5 PKGS=./internal/h1server bench/go-bench.sh HEAD~1
#
# COUNT runs per benchmark (default 10: benchstat wants several);
# PKGS the packages (default every package with benchmarks); BENCH a -bench
# pattern (default .). Results go to $OUT (default a temp dir) as old.txt
# and new.txt. Loopback only; nothing outlives the script.
set -euo pipefail
REF=${1:?usage: bench/go-bench.sh GIT_REF}
COUNT=${COUNT:-10}
BENCH=${BENCH:-.}
PKGS=${PKGS:-"./internal/app ./internal/cache ./internal/dns ./internal/h1server ./internal/pool ./internal/proxy ./internal/shield"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d)}
OLD=$(mktemp -d)
trap 'git -C "$ROOT" worktree remove --force "$OLD" >/dev/null 2>&1 || true' EXIT
git -C "$ROOT" worktree add --detach "$OLD" "$REF" >/dev/null
run() { (cd "$1" && go test -run '^$' -bench "$BENCH" -benchmem -count "$COUNT" $PKGS) | tee "$2" | grep -E '^(Benchmark|ok|FAIL)' || true; }
echo "== $REF"; run "$OLD" "$OUT/old.txt"
echo "== working tree"; run "$ROOT" "$OUT/new.txt"
go run golang.org/x/perf/cmd/benchstat@latest "$OUT/old.txt" "$OUT/new.txt"
echo "raw results: $OUT"
