#!/bin/bash
# Informal A/B of HTTP servers on one path: the full wrk latency
# distribution (p50/p75/p90/p99) of each, one after another, with the
# server and a bench origin on CPU 0 and wrk on CPU 1. The side-by-side
# figures that count come from ../shared/bench/run; this is for quick
# comparisons while working. Loopback only; every run ends by itself.
#
#   bench/ab-latency.sh /obj/1k "base:/tmp/levee-a reverse-proxy --from 127.0.0.1:8090 --to http://127.0.0.1:9000 --cache" \
#                               "new:/tmp/levee-b reverse-proxy --from 127.0.0.1:8090 --to http://127.0.0.1:9000 --cache"
#
# Servers must listen on 127.0.0.1:8090; the origin listens on :9000.
# DUR sets the measured seconds (default 6).
set -u
P=$1; shift
ORIGIN=${ORIGIN:-/tmp/levee-bench-origin}
[ -x "$ORIGIN" ] || (cd "$(dirname "$0")/../../shared/bench/origin" && go build -o "$ORIGIN" .)
taskset -c 0 "$ORIGIN" -addr 127.0.0.1:9000 >/dev/null 2>&1 & OP=$!
sleep 0.5
for spec in "$@"; do
  name=${spec%%:*}; cmd=${spec#*:}
  taskset -c 0 bash -c "exec $cmd" >/dev/null 2>&1 & SP=$!
  sleep 1
  taskset -c 1 wrk -t1 -c50 -d2s "http://127.0.0.1:8090$P" >/dev/null 2>&1
  out=$(taskset -c 1 wrk -t1 -c50 -d"${DUR:-6}"s --latency "http://127.0.0.1:8090$P" 2>&1)
  echo "$name $P $(echo "$out" | awk '/Requests\/sec/{print $2}') $(echo "$out" | awk '/^ +(50|75|90|99)%/{printf "%s=%s ", $1, $2}')"
  kill "$SP"; wait "$SP" 2>/dev/null; sleep 0.5
done
kill "$OP"; wait "$OP" 2>/dev/null
