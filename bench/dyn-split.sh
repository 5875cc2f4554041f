#!/bin/bash
# Where the server core's time goes on pass-through (GET /dyn): req/s, p99
# and CPU per request of the server and of the origin, and with --switches
# the scheduler's switches per request of each. Like ../shared/bench/run,
# the origin, nginx and each levee binary run in sessions of their own
# (so each is its own scheduling group), all pinned to CPU 0, and wrk -c50
# runs on CPU 1; one long-lived origin serves every target, which are run
# in turn, --reps times. Loopback only; every run ends by itself.
#
#   bench/dyn-split.sh nginx /tmp/levee-before /tmp/levee-after
#   bench/dyn-split.sh --reps 5 --switches /tmp/levee
#
# A target is "nginx" (the harness's own nginx.conf) or a levee binary,
# run as `BIN reverse-proxy --cache`. Figures taken while other work loads
# the machine are not quotable.
set -u
REPS=3 DUR=5 SWITCHES=0 TARGETS=()
while [ $# -gt 0 ]; do
    case "$1" in
    --reps) REPS=$2; shift ;;
    --duration) DUR=$2; shift ;;
    --switches) SWITCHES=1 ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) echo "unknown option $1 (want --reps N, --duration S, --switches)" >&2; exit 2 ;;
    *) TARGETS+=("$1") ;;
    esac
    shift
done
[ ${#TARGETS[@]} -gt 0 ] || { echo "name at least one target: nginx or a levee binary" >&2; exit 2; }
for n in "$REPS" "$DUR"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "--reps and --duration take a positive whole number, not '$n'" >&2; exit 2; }
done
for c in wrk taskset setsid bc curl; do
    command -v "$c" >/dev/null || { echo "needs $c" >&2; exit 1; }
done
[ "$SWITCHES" = 0 ] || command -v perf >/dev/null || { echo "--switches needs perf (Debian package linux-perf)" >&2; exit 1; }
SHARED="$(cd "$(dirname "$0")" && pwd)/../../shared/bench"
W=$(mktemp -d); OP=; SP=
cleanup() {
    [ -n "$SP" ] && kill "$SP" 2>/dev/null
    [ -n "$OP" ] && kill "$OP" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
(cd "$SHARED/origin" && CGO_ENABLED=0 go build -buildvcs=false -o "$W/origin" .) || exit 1
mkdir -p "$W/run/nginx-tmp"
sed -e "s|@LISTEN_HOST@|127.0.0.1|g" -e "s|@LISTEN_PORT@|18320|g" -e "s|@ORIGIN_HOST@|127.0.0.1|g" \
    -e "s|@ORIGIN_PORT@|19310|g" -e "s|@RUNDIR@|$W/run|g" -e "s|@WORKERS@|1|g" -e "s|@NAME@|nginx|g" \
    "$SHARED/peers/nginx.conf" >"$W/nginx.conf"

setsid taskset -c 0 "$W/origin" -addr 127.0.0.1:19310 >/dev/null 2>&1 </dev/null & OP=$!
sleep 0.5
tick=$(getconf CLK_TCK)
cpu() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo "$s"; }
per() { echo "scale=1; $1 / $2" | bc -l; }
for r in $(seq 1 "$REPS"); do
    for t in "${TARGETS[@]}"; do
        if [ "$t" = nginx ]; then
            setsid taskset -c 0 nginx -c "$W/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 </dev/null & SP=$!; PORT=18320
        else
            setsid taskset -c 0 "$t" reverse-proxy --from 127.0.0.1:18310 --to http://127.0.0.1:19310 --cache >/dev/null 2>&1 </dev/null & SP=$!; PORT=18310
        fi
        sleep 1
        URL=http://127.0.0.1:$PORT/dyn
        if ! curl -fsS -o /dev/null --max-time 5 "$URL"; then
            echo "rep $r $(basename "$t"): does not answer $URL; skipped" >&2
            kill "$SP" 2>/dev/null; wait "$SP" 2>/dev/null; SP=
            continue
        fi
        taskset -c 1 wrk -t1 -c50 -d2s --timeout 5s "$URL" >/dev/null 2>&1
        P="$SP $(pgrep -P "$SP" | tr '\n' ' ')"
        if [ "$SWITCHES" = 1 ]; then
            perf stat -e context-switches -p "$(echo $P | tr ' ' ,)" -x, -o "$W/sw-server" -- sleep "$DUR" &
            PS1=$!
            perf stat -e context-switches -p "$OP" -x, -o "$W/sw-origin" -- sleep "$DUR" &
            PS2=$!
        fi
        a=$(cpu $P); o=$(cpu "$OP")
        out=$(taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --timeout 5s --latency "$URL")
        b=$(cpu $P); p=$(cpu "$OP")
        n=$(echo "$out" | awk '/requests in/{print $1}')
        line=$(printf "rep %s %-24s req/s %6.0f  p99 %-8s server %5.1f us/req  origin %5.1f us/req" "$r" "$(basename "$t")" \
            "$(echo "$out" | awk '/Requests\/sec/{print $2}')" "$(echo "$out" | awk '$1=="99%"{print $2}')" \
            "$(per "($b-$a)*1000000/$tick" "$n")" "$(per "($p-$o)*1000000/$tick" "$n")")
        if [ "$SWITCHES" = 1 ]; then
            wait "$PS1" "$PS2"
            # perf's window is the run's length, so switches are divided by the run's requests.
            s1=$(awk -F, '/context-switches/{print $1}' "$W/sw-server"); s2=$(awk -F, '/context-switches/{print $1}' "$W/sw-origin")
            line="$line  switches/req server $(per "$s1*100" "$n" | awk '{printf "%.2f", $1/100}') origin $(per "$s2*100" "$n" | awk '{printf "%.2f", $1/100}')"
        fi
        echo "$line"
        kill "$SP"; wait "$SP" 2>/dev/null; SP=
        sleep 0.3
    done
done
