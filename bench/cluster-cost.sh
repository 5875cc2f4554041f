#!/bin/bash
# What --cluster costs a node (issue 15's bar: at most 5% of hit
# throughput), from ../shared/bench/run, which takes one subject per run:
# the same quick-mode node without and with --cluster, run alternately
# (A B A B ...), each run with nginx beside it as the common reference, so
# the cluster/no-cluster ratio can be read raw and normalised by each run's
# own nginx. A redis-server of its own on a free loopback port serves the
# cluster runs (stopped by PID on exit); every node gets a fresh --data-dir,
# so the two subjects differ only by --cluster.
#
#   bench/cluster-cost.sh                 # 2 pairs, --reps 3 --duration 5
#   bench/cluster-cost.sh --pairs 3 --reps 3 --duration 5 --levee /tmp/levee
#
# Prints one markdown table: per scenario and pair, each subject's median
# req/s, its ratio to its own run's nginx, and cluster/no-cluster raw and
# nginx-normalised; then the medians over the pairs. Figures taken while
# other work loads the machine are not quotable.
set -u
PAIRS=2 REPS=3 DUR=5 LEVEE=
while [ $# -gt 0 ]; do
    case "$1" in
    --pairs) PAIRS=$2; shift ;;
    --reps) REPS=$2; shift ;;
    --duration) DUR=$2; shift ;;
    --levee) LEVEE=$2; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (want --pairs N, --reps N, --duration S, --levee BIN)" >&2; exit 2 ;;
    esac
    shift
done
for n in "$PAIRS" "$REPS" "$DUR"; do
    [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "--pairs, --reps and --duration take a positive whole number, not '$n'" >&2; exit 2; }
done
HERE=$(cd "$(dirname "$0")" && pwd)
RUN="$HERE/../../shared/bench/run"
[ -x "$RUN" ] || { echo "the shared harness is not at $RUN" >&2; exit 1; }
for c in redis-server python3; do
    command -v "$c" >/dev/null || { echo "needs $c (redis-server: Debian package redis-server)" >&2; exit 1; }
done
W=$(mktemp -d); RPID=
cleanup() {
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
if [ -z "$LEVEE" ]; then
    LEVEE="$W/levee"
    (cd "$HERE/.." && go build -o "$LEVEE" ./cmd/levee) || exit 1
fi
LEVEE=$(cd "$(dirname "$LEVEE")" && pwd)/$(basename "$LEVEE")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

RPORT=$(free_port)
mkdir -p "$W/redis"
redis-server --bind 127.0.0.1 --port "$RPORT" --save '' --appendonly no --dir "$W/redis" >"$W/redis.log" 2>&1 &
RPID=$!
for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$RPORT") 2>/dev/null && break; sleep 0.1; done
(exec 3<>"/dev/tcp/127.0.0.1/$RPORT") 2>/dev/null || { echo "redis-server did not start:" >&2; cat "$W/redis.log" >&2; exit 1; }
STORE="redis://127.0.0.1:$RPORT/0"

# run PAIR MODE: one harness run, its JSON in $W/MODE-PAIR.json.
run() {
    local pair=$1 mode=$2 name=levee data="$W/data-$2-$1" subject
    mkdir -p "$data"
    subject="$(printf '%q' "$LEVEE") reverse-proxy --from \"\$SUBJECT_ADDR\" --to \"\$ORIGIN_URL\" --cache --data-dir $(printf '%q' "$data")"
    if [ "$mode" = cluster ]; then
        name=levee-cluster
        subject="$subject --cluster $STORE"
    fi
    echo "pair $pair, $name: $subject" >&2
    "$RUN" --targets nginx --scenarios hit-1k,dyn --reps "$REPS" --duration "$DUR" \
        --subject-addr "127.0.0.1:$(free_port)" --origin-addr "127.0.0.1:$(free_port)" \
        --subject-name "$name" --subject "$subject" --json "$W/$mode-$pair.json" >"$W/$mode-$pair.log" 2>&1 || {
        echo "the harness failed (pair $pair, $name); its output:" >&2
        tail -20 "$W/$mode-$pair.log" >&2
        exit 1
    }
}
# store_commands: the commands the store has served, so a cluster run that
# never reached it (a typo in the flag, a node that did not join) shows.
store_commands() {
    command -v redis-cli >/dev/null || { echo "?"; return; }
    redis-cli -h 127.0.0.1 -p "$RPORT" info stats | tr -d '\r' | awk -F: '$1 == "total_commands_processed" {print $2}'
}
STORE_CMDS=()
for ((p = 1; p <= PAIRS; p++)); do
    run "$p" plain
    before=$(store_commands)
    run "$p" cluster
    after=$(store_commands)
    if [ "$before" = "?" ]; then
        STORE_CMDS+=("?")
        continue
    fi
    if [ $((after - before)) -lt 10 ]; then
        echo "pair $p: the cluster node sent the store $((after - before)) commands: it did not join" >&2
        tail -20 "$W/cluster-$p.log" >&2
        exit 1
    fi
    STORE_CMDS+=("$((after - before))")
done

echo "### What --cluster costs: ../shared/bench/run, $PAIRS pair(s) run alternately (without, then with --cluster), each run median of $REPS x ${DUR}s with nginx beside it"
echo
echo "command: bench/cluster-cost.sh --pairs $PAIRS --reps $REPS --duration $DUR --levee $LEVEE"
echo "each run: ../shared/bench/run --targets nginx --scenarios hit-1k,dyn --reps $REPS --duration $DUR --subject-name levee[-cluster] \\"
echo "  --subject 'levee reverse-proxy --from \"\$SUBJECT_ADDR\" --to \"\$ORIGIN_URL\" --cache --data-dir DIR [--cluster $STORE]'"
echo "levee: $("$LEVEE" version 2>/dev/null | head -1); $(redis-server --version | cut -d' ' -f1-3)"
echo "store commands served during each cluster run: ${STORE_CMDS[*]}"
echo
python3 - "$W" "$PAIRS" <<'PY'
import json, statistics, sys
w, pairs = sys.argv[1], int(sys.argv[2])

def load(mode, pair):
    with open(f"{w}/{mode}-{pair}.json") as f:
        return json.load(f)

def row(doc, target, scenario):
    for r in doc["results"]:
        if r["target"] == target and r["scenario"] == scenario:
            return r
    raise SystemExit(f"no {target} row for {scenario} in the harness output")

docs = {(m, p): load(m, p) for m in ("plain", "cluster") for p in range(1, pairs + 1)}
v = docs[("plain", 1)]["versions"]
print(f"nginx: {v.get('nginx', '?')}; wrk: {v.get('wrk', '?')}")
print()
print("| scenario | pair | levee req/s | vs its nginx | levee --cluster req/s | vs its nginx | cluster / plain (raw) | cluster / plain (nginx-normalised) | notes |")
print("|---|--:|--:|--:|--:|--:|--:|--:|---|")
for s in ("hit-1k", "dyn"):
    raw, norm, a_rps, b_rps, a_ref, b_ref = [], [], [], [], [], []
    for p in range(1, pairs + 1):
        a, b = row(docs[("plain", p)], "levee", s), row(docs[("cluster", p)], "levee-cluster", s)
        na, nb = row(docs[("plain", p)], "nginx", s), row(docs[("cluster", p)], "nginx", s)
        ra, rb = a["rps"] / na["rps"], b["rps"] / nb["rps"]
        notes = [f"{t}: {r['errors']} errors, {r['non2xx']} non-2xx" for t, r in (("levee", a), ("levee --cluster", b)) if r["errors"] or r["non2xx"]]
        raw.append(b["rps"] / a["rps"]); norm.append(rb / ra)
        a_rps.append(a["rps"]); b_rps.append(b["rps"]); a_ref.append(ra); b_ref.append(rb)
        print(f"| {s} | {p} | {a['rps']:.0f} | {ra:.3f}× | {b['rps']:.0f} | {rb:.3f}× | {raw[-1]:.3f}× | {norm[-1]:.3f}× | {'; '.join(notes)} |")
    m = statistics.median
    print(f"| {s} | median | {m(a_rps):.0f} | {m(a_ref):.3f}× | {m(b_rps):.0f} | {m(b_ref):.3f}× | {m(raw):.3f}× | {m(norm):.3f}× | |")
print()
print("vs its nginx: the subject's median req/s over nginx's in the same harness run. The bar: cluster / plain at least 0.95× on hit-1k.")
PY
