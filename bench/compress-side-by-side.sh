#!/bin/bash
# Compressed cache hits side by side, in one run: levee (--cache --compress)
# and NGINX in front of the same origin, both serving a 100 KiB HTML page
# from their caches, measured with the client asking for br, gzip and zstd.
#
# Why this script and not ../shared/bench/run: that harness's origin serves
# only application/octet-stream objects (nothing a server compresses) and
# its wrk runs cannot send Accept-Encoding. This script follows its layout:
# the origin and the server under test on CPU 0, wrk on CPU 1, loopback
# only, every phase bounded by wrk's -d.
#
# Peers (nginx 1.22 from Debian has gzip, not brotli or zstd):
#   nginx-gzip         proxy_cache + "gzip on" at gzip_comp_level 6: what an
#                      nginx edge does, compressing each hit again;
#   nginx-gzip-static  the page and its .gz made ahead of time, served from
#                      disk with gzip_static (the upper bound for a server
#                      that compresses nothing per request).
#
#   bench/compress-side-by-side.sh /tmp/levee          # DUR=5 REPS=3 by default
set -u
LEVEE=${1:?usage: $0 PATH-TO-LEVEE}
DUR=${DUR:-5} REPS=${REPS:-3}
command -v nginx >/dev/null && command -v wrk >/dev/null && command -v python3 >/dev/null || {
    echo "needs nginx, wrk and python3" >&2; exit 1; }
W=$(mktemp -d); chmod 755 "$W"; pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; sleep 0.3; rm -rf "$W"; }
trap cleanup EXIT

# The page: the repository's README as HTML paragraphs, repeated to 100 KiB.
mkdir -p "$W/root" "$W/static" "$W/cache" "$W/tmp"; chmod -R a+rwX "$W"
python3 - "$(dirname "$0")/../README.md" "$W/root/page.html" <<'PY'
import html, sys
text = open(sys.argv[1]).read().split("\n\n")
out, i = ["<!doctype html><html><head><title>levee</title></head><body>"], 0
while sum(map(len, out)) < 100 * 1024:
    out.append("<p class=\"para-%d\">%s</p>\n" % (i, html.escape(text[i % len(text)])))
    i += 1
body = "".join(out)[: 100 * 1024 - len("</body></html>")] + "</body></html>"
open(sys.argv[2], "w").write(body)
PY
cp "$W/root/page.html" "$W/static/page.html"; gzip -9 -k "$W/static/page.html"

OPORT=19480 NPORT=19481 SPORT=19482 LPORT=19483
cat >"$W/nginx.conf" <<N
worker_processes 1; pid $W/nginx.pid; error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http { access_log off; sendfile on; tcp_nodelay on; keepalive_requests 1000000; server_tokens off;
  client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p; fastcgi_temp_path $W/tmp/f;
  uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
  types { text/html html; }
  proxy_cache_path $W/cache levels=1:2 keys_zone=edge:16m max_size=256m inactive=60m use_temp_path=off;
  upstream origin { server 127.0.0.1:$OPORT; keepalive 64; }
  server { listen 127.0.0.1:$OPORT; root $W/root; add_header Cache-Control "public, max-age=3600"; }
  server { listen 127.0.0.1:$NPORT;
    gzip on; gzip_types text/html; gzip_comp_level 6; gzip_min_length 256; gzip_vary on; gzip_proxied any;
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_cache edge; proxy_cache_lock on; } }
  server { listen 127.0.0.1:$SPORT; root $W/static; gzip_static on; add_header Cache-Control "public, max-age=3600"; } }
N
# One nginx process (one worker on CPU 0) plays the origin and both peers;
# only the peer being measured has load, as in ../shared/bench/run.
taskset -c 0 nginx -c "$W/nginx.conf" -g 'daemon off;' >"$W/nginx.out" 2>&1 & pids+=($!)
taskset -c 0 "$LEVEE" reverse-proxy --from 127.0.0.1:$LPORT --to http://127.0.0.1:$OPORT --cache --compress \
    >"$W/levee.out" 2>&1 & pids+=($!)
for p in $OPORT $NPORT $SPORT $LPORT; do
    for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done

# Fill every cache (levee makes its stored variants in the background) and
# check each target really answers with the coding asked for.
declare -A PORT=([levee]=$LPORT [nginx-gzip]=$NPORT [nginx-gzip-static]=$SPORT)
for t in levee nginx-gzip nginx-gzip-static; do
    for enc in identity gzip br zstd; do
        for _ in 1 2 3; do curl -s -o /dev/null -H "Accept-Encoding: $enc" "http://127.0.0.1:${PORT[$t]}/page.html"; done
    done
done
sleep 1
row() { # TARGET ENCODING
    local u="http://127.0.0.1:${PORT[$1]}/page.html" got size out rps p99 all=()
    got=$(curl -s -D - -o "$W/body" -H "Accept-Encoding: $2" "$u" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
    size=$(stat -c %s "$W/body")
    [ "${got:-identity}" = "$2" ] || { printf '| %s | %s | - | - | - | answered with %s |\n' "$1" "$2" "${got:-identity}"; return; }
    for ((r = 0; r < REPS; r++)); do
        out=$(taskset -c 1 wrk -t1 -c50 -d"${DUR}s" --latency -H "Accept-Encoding: $2" "$u" 2>&1)
        all+=("$(echo "$out" | awk '/Requests\/sec/{r=$2} /^ +99%/{p=$2} END{print r, p}')")
    done
    read -r rps p99 < <(printf '%s\n' "${all[@]}" | sort -n | sed -n "$(((REPS + 1) / 2))p")
    printf '| %s | %s | %s | %s | %s | |\n' "$1" "$2" "$rps" "$p99" "$size"
}
echo "### compressed 100 KiB HTML hits: median of $REPS x ${DUR}s, wrk -t1 -c50, server CPU 0 / client CPU 1"
echo "levee: $("$LEVEE" version 2>/dev/null | head -1); $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
echo
echo "| target | Accept-Encoding | req/s (median run) | p99 | body bytes | note |"
echo "|---|---|--:|--:|--:|---|"
for enc in identity gzip br zstd; do
    for t in levee nginx-gzip nginx-gzip-static; do
        [ "$enc" = br ] || [ "$enc" = zstd ] && [ "$t" != levee ] && continue
        row "$t" "$enc"
    done
done
