#!/bin/bash
# HTTP/3 against HTTP/2 over TLS on levee's cache hits, in one run: one
# levee (TLS listener with http3 on, cache on) in front of the shared bench
# origin on CPU 0, and cmd/levee-h3load on CPU 1 running h2 then h3 against
# the same URLs (1 KiB and 100 KiB objects). h2load does not speak HTTP/3
# in Debian's build, hence levee-h3load. Loopback only; every phase bounded.
#
#   bench/h3-vs-h2.sh /tmp/levee        # DUR=10s C=50 by default
set -u
LEVEE=${1:?usage: $0 PATH-TO-LEVEE}
DUR=${DUR:-10s} C=${C:-50}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; rm -rf "$W"; }
trap cleanup EXIT
(cd "$HERE/../../shared/bench/origin" && go build -o "$W/origin" .) || exit 1
(cd "$HERE/.." && go build -o "$W/h3load" ./cmd/levee-h3load) || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=localhost -days 2 \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$W/key.pem" -out "$W/cert.pem" >/dev/null 2>&1
OPORT=19485 LPORT=19486
cat >"$W/levee.yaml" <<Y
admin: {listen: "off"}
log: {access: false}
listeners:
  - listen: 127.0.0.1:$LPORT
    http3: true
    tls:
      certificates: [{cert: $W/cert.pem, key: $W/key.pem}]
sites:
  - name: bench
    hosts: ["*"]
    routes:
      - path: /
        origins: [{url: "http://127.0.0.1:$OPORT"}]
        cache: {}
Y
taskset -c 0 "$W/origin" -addr 127.0.0.1:$OPORT >/dev/null 2>&1 & pids+=($!)
taskset -c 0 "$LEVEE" serve -c "$W/levee.yaml" --data-dir "$W/data" >"$W/levee.out" 2>&1 & pids+=($!)
for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$LPORT") 2>/dev/null && break; sleep 0.1; done
echo "### levee cache hits, HTTP/2 over TLS vs HTTP/3, $C workers on one connection, $DUR per protocol"
echo "levee: $("$LEVEE" version 2>/dev/null | head -1); UDP buffer note from levee's log below if any"
grep -i 'udp\|buffer' "$W/levee.out" | head -2
for obj in 1k 100k; do
    u="https://localhost:$LPORT/obj/$obj"
    for _ in 1 2; do curl -sk -o /dev/null "$u"; done
    taskset -c 1 "$W/h3load" -url "$u" -connect 127.0.0.1:$LPORT -insecure -proto h2,h3 -c "$C" -d 2s >/dev/null 2>&1
    echo "/obj/$obj:"
    taskset -c 1 "$W/h3load" -url "$u" -connect 127.0.0.1:$LPORT -insecure -proto h2,h3 -c "$C" -d "$DUR"
done
