#!/usr/bin/env bash
# tcp-oneway.sh — raw TCP one-way latency from the first worker namespace to the second, for 8 KiB and 64 KiB
# messages (the 1B's and a 405B-wide activation frame), 50 ms and 500 ms apart: the reference ClusterBench's h is
# compared with when a delay is added. Run it under netns.sh, which sets up the namespaces and the delay:
#
#   DELAYS="0 0.1 1" WORKERS=2 ops/bench/netns.sh run -- ops/bench/netns/tcp-oneway.sh
set -euo pipefail
[ -n "${STRATA_NETNS:-}" ] || { echo "tcp-oneway.sh: run it under ops/bench/netns.sh run --" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
IFS=, read -r first second _ <<< "$STRATA_NETNS,"
[ -n "$second" ] || { echo "tcp-oneway.sh: needs WORKERS >= 2" >&2; exit 2; }
ns0=${first%%:*}; ns1=${second%%:*}; addr1=${second#*:}
for size in 8192 65536; do
  for gap in 0.05 0.5; do
    ip netns exec "$ns1" python3 "$here/tcp-oneway.py" recv 7777 "delay ${STRATA_DELAY_MS:-?} ms (added ${STRATA_DELAY_EFFECTIVE_MS:-?}), $size bytes, ${gap} s apart:" &
    receiver=$!
    ip netns exec "$ns0" python3 "$here/tcp-oneway.py" send "$addr1" 7777 "$size" "$gap" 60
    wait "$receiver"
  done
done
