#!/bin/bash
# Server CPU time per request (utime+stime of the levee process over the
# requests of a 5 s wrk -c50 run), for `levee reverse-proxy --cache` on
# one path: a measure that scheduling noise on a shared machine moves
# much less than req/s or p99. Loopback only; the run ends by itself.
#
#   bench/cpu-per-request.sh NAME ./levee /obj/1k
set -u
NAME=$1; BIN=$2; P=$3
ORIGIN=${ORIGIN:-/tmp/levee-bench-origin}
[ -x "$ORIGIN" ] || (cd "$(dirname "$0")/../../shared/bench/origin" && go build -o "$ORIGIN" .)
taskset -c 0 "$ORIGIN" -addr 127.0.0.1:9000 >/dev/null 2>&1 & OP=$!
taskset -c 0 "$BIN" reverse-proxy --from 127.0.0.1:8090 --to http://127.0.0.1:9000 --cache >/dev/null 2>&1 & LP=$!
sleep 1; curl -s -o /dev/null "http://127.0.0.1:8090$P"
taskset -c 1 wrk -t1 -c50 -d2s "http://127.0.0.1:8090$P" >/dev/null
t0=$(awk '{print $14+$15}' /proc/$LP/stat)
out=$(taskset -c 1 wrk -t1 -c50 -d5s --latency "http://127.0.0.1:8090$P")
t1=$(awk '{print $14+$15}' /proc/$LP/stat)
req=$(echo "$out" | awk '/requests in/{print $1}')
tick=$(getconf CLK_TCK)
echo "$NAME $P cpu_us_per_req=$(echo "($t1-$t0)*1000000/$tick/$req" | bc -l | cut -c1-5) rps=$(echo "$out" | awk '/Requests\/sec/{print $2}') p99=$(echo "$out" | awk '/ 99%/{print $2}')"
kill "$LP" "$OP"; wait "$LP" "$OP" 2>/dev/null
