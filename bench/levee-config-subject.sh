#!/bin/bash
# A subject for ../shared/bench/run: `levee serve` with the config the quick
# mode (`levee reverse-proxy --from ... --to ... --cache`) builds, and a
# shield section of your own, to compare a setting side by side. LEVEE is
# the binary (default: levee on PATH); LEVEE_SHIELD a YAML flow mapping.
#
#   cd ../shared/bench && LEVEE=/tmp/levee LEVEE_SHIELD='{admission: {enabled: false}}' \
#     ./run --targets nginx --scenarios dyn --origin-latency 2ms \
#     --subject-name levee-noadm --subject "$PWD/../../main/bench/levee-config-subject.sh"
set -eu
dir=$(mktemp -d /tmp/levee-subject.XXXXXX)
cat >"$dir/levee.yaml" <<Y
admin: {listen: "off"}
log: {access: false}
listeners: [{listen: "$SUBJECT_ADDR"}]
sites: [{name: quick, hosts: ["*"], routes: [{path: /, origins: [{url: "$ORIGIN_URL"}], cache: {}}]}]
shield: ${LEVEE_SHIELD:-{\}}
Y
exec "${LEVEE:-levee}" serve -c "$dir/levee.yaml" --data-dir "$dir/data"
