#!/bin/bash
# A subject for ../shared/bench/run: the bench's own nginx (peers/nginx.conf)
# made to send the origin the fields levee sends on pass-through (Host as
# the client gave it, X-Forwarded-For, -Proto, -Host, Forwarded, Via and a
# request ID), valued as levee values them. Run beside stock nginx, it
# shows what those fields cost a server that sends them.
#
#   cd ../shared/bench && ./run --targets nginx --scenarios dyn \
#     --subject-name nginx-fwd --subject "$PWD/../../main/bench/nginx-forwarding-subject.sh"
set -eu
here=$(cd "$(dirname "$0")" && pwd)
peers=${BENCH_DIR:-$here/../../shared/bench}/peers
dir=$(mktemp -d /tmp/nginx-fwd.XXXXXX)
mkdir -p "$dir/nginx-tmp"
origin=${ORIGIN_URL#http://}
fields='proxy_set_header Host $http_host;'
fields+=' proxy_set_header X-Forwarded-For $remote_addr;'
fields+=' proxy_set_header X-Forwarded-Proto $scheme;'
fields+=' proxy_set_header X-Forwarded-Host $http_host;'
fields+=' proxy_set_header Forwarded "for=$remote_addr;proto=$scheme;host=\\"$http_host\\"";'
fields+=' proxy_set_header Via "1.1 levee";'
fields+=' proxy_set_header X-Request-Id $request_id;'
sed -e "s|@LISTEN_HOST@|${SUBJECT_ADDR%:*}|g" -e "s|@LISTEN_PORT@|${SUBJECT_ADDR##*:}|g" \
    -e "s|@ORIGIN_HOST@|${origin%:*}|g" -e "s|@ORIGIN_PORT@|${origin##*:}|g" \
    -e "s|@RUNDIR@|$dir|g" -e "s|@WORKERS@|1|g" \
    -e "s|proxy_set_header Connection \"\";|proxy_set_header Connection \"\"; $fields|" \
    "$peers/nginx.conf" >"$dir/nginx.conf"
grep -q 'X-Request-Id' "$dir/nginx.conf" || { echo "nginx.conf has no 'proxy_set_header Connection' line to extend" >&2; exit 1; }
exec nginx -c "$dir/nginx.conf" -g 'daemon off;'
