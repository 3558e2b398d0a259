#!/usr/bin/env bash
# netns.sh — the cluster benchmark with every worker in its own network namespace, and a one-way delay added on
# each worker namespace's egress (issue #4: "h at most 0.3 ms plus the added one-way delay").
#
#   ops/bench/netns.sh bench MODEL [TOKENS=64] [REPS=3]   ClusterBench over N = 1..WORKERS at each delay in DELAYS
#   ops/bench/netns.sh run -- COMMAND [ARGS...]           any command at each delay, with the environment below
#   ops/bench/netns.sh ping                               only set up and measure the added delay at each delay
#   ops/bench/netns.sh clean                              remove what a killed run left behind (every run does this first)
#
# Settings (environment): WORKERS=4, DELAYS="0 0.1 1" (one-way, ms), PINGS=200 (per path, 10 ms apart),
# SPACED=50 (pings 100 ms apart into the first worker namespace: the delayer idle between packets, as between decode steps),
# FIFO=1 (SCHED_FIFO priority of the delayer; 0 = ordinary process), OUT=bench-out/netns, SUBNET=10.231.0 (a /24).
#
# Topology. A hub namespace (strata-hub) holds a bridge; each worker namespace strata-nsK has one veth whose other
# end is a port of that bridge, address SUBNET.(11+K); the root namespace (ZooKeeper and the coordinator, i.e. the
# ClusterBench JVM) joins the bridge through one more veth pair, address SUBNET.1 on its side. The bridge lives in its
# own namespace so that bridged traffic between workers does not pass the host's netfilter hooks (br_netfilter is
# built in and net.bridge.bridge-nf-call-iptables is 1 in the root namespace; it is set to 0 in the hub), no host
# sysctl is touched, and deleting the namespaces removes every interface: the only thing created in the root
# namespace is the veth end strata-hub0, which disappears with the hub.
#
# The delay. The kernel here is built without sch_netem (and without sch_fq and loadable modules), so `tc netem`
# cannot run; when /proc/config.gz says CONFIG_NET_SCH_NETEM is available, this script uses
# `tc qdisc add dev eth0 root netem delay D` in each worker namespace. Otherwise it uses an NFQUEUE delayer, NOT netem:
# an iptables rule in each worker namespace (mangle POSTROUTING -o eth0 -j NFQUEUE; nftables' `queue` needs
# CONFIG_NFT_QUEUE, which is not set, while the xtables NFQUEUE target is built in) hands every outgoing IPv4 packet
# to ops/bench/netns/nfq-delay.c, running in that namespace, which holds it for D from the moment it reads it and
# releases packets in arrival order (timerfd at the absolute release time, timer slack 1 ns, no busy-waiting). Being
# a user-space process it adds its own wake-ups to D, so before each delay's run the script measures the delay
# actually added: `ping -c PINGS -i 0.01` from the root namespace to each worker namespace (only the reply crosses a
# delayed egress) and between the first two worker namespaces (both directions delayed), without and with the delay,
# and SPACED pings 100 ms apart (a delayer that slept for 100 ms wakes up more slowly than one fed every 10 ms).
# Each boundary of the pipeline is one message one way (the last stage answers the coordinator directly), so the
# expectation is h ≈ h(no delay) + the effective one-way delay.
#
# The environment of `run`'s command: STRATA_NETNS=strata-ns0:SUBNET.11,... STRATA_NETNS_ZK=SUBNET.1
# STRATA_DELAY_MS (nominal) STRATA_DELAY_EFFECTIVE_MS (median over the worker namespaces) STRATA_DELAYER
# (none|netem|nfqueue). Results: OUT/pings.jsonl (one object per delay and path), OUT/delayer.jsonl (the delayers'
# own lateness summaries), OUT/clusterbench.jsonl (ClusterBench's rows with the delay fields added), and for `bench`
# a markdown table on stdout. Needs root, iproute2; installs iptables, iputils-ping and libnetfilter-queue-dev with
# apt-get when missing, and builds nfq-delay with cc into ops/target/nfq-delay.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
workers=${WORKERS:-4}
delays=${DELAYS:-"0 0.1 1"}
pings=${PINGS:-200}
spaced=${SPACED:-50}
fifo=${FIFO:-1}
out=${OUT:-$root/bench-out/netns}
subnet=${SUBNET:-10.231.0}
hub=strata-hub
nsprefix=strata-ns
state=/run/strata-netns
delayer_bin=$root/ops/target/nfq-delay
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java

die() { echo "netns.sh: $*" >&2; exit 1; }
log() { echo "netns.sh: $*" >&2; }

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# ---- checks and tools -------------------------------------------------------------------------------------------
[ $# -ge 1 ] || usage
mode=$1; shift
case $mode in bench|run|ping|clean) ;; *) usage ;; esac
[ "$(id -u)" = 0 ] || die "must run as root (creates network namespaces, veth pairs and iptables rules)"
command -v ip >/dev/null || die "iproute2's 'ip' is not installed (apt-get install iproute2)"
[[ $workers =~ ^[1-9][0-9]?$ ]] && [ "$workers" -le 50 ] || die "WORKERS must be 1..50, got '$workers'"
[[ $subnet =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "SUBNET must be the first three octets of a /24, e.g. 10.231.0, got '$subnet'"
[[ $pings =~ ^[1-9][0-9]*$ ]] || die "PINGS must be a positive integer, got '$pings'"
[[ $spaced =~ ^[0-9]+$ ]] || die "SPACED must be a non-negative integer, got '$spaced'"
[[ $fifo =~ ^[0-9]+$ ]] && [ "$fifo" -le 99 ] || die "FIFO must be 0..99, got '$fifo'"
for d in $delays; do
  [[ $d =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DELAYS must be non-negative numbers of milliseconds, got '$d'"
done

netem_available() {
  [ -r /proc/config.gz ] && zcat /proc/config.gz | grep -Eq '^CONFIG_NET_SCH_NETEM=(y|m)$' && {
    zcat /proc/config.gz | grep -q '^CONFIG_NET_SCH_NETEM=y$' || [ -d "/lib/modules/$(uname -r)" ]; }
}

apt_install() {
  command -v apt-get >/dev/null || die "$1 is missing and there is no apt-get to install it"
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 || die "apt-get install $* failed"
}

need_tools() {
  command -v ping >/dev/null || apt_install iputils-ping
  command -v python3 >/dev/null || apt_install python3
  if [ "$delayer" = nfqueue ]; then
    command -v iptables >/dev/null || apt_install iptables
    [ -f /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || apt_install libnetfilter-queue-dev
    local src=$root/ops/bench/netns/nfq-delay.c
    if [ ! -x "$delayer_bin" ] || [ "$src" -nt "$delayer_bin" ]; then
      local cc; cc=$(command -v cc || command -v clang || command -v gcc) || die "no C compiler (cc, clang or gcc) to build $src"
      mkdir -p "$(dirname "$delayer_bin")"
      "$cc" -O2 -Wall -Wextra -o "$delayer_bin" "$src" -lnetfilter_queue -lnfnetlink || die "building $src failed"
    fi
  fi
}

# ---- setup and teardown -----------------------------------------------------------------------------------------
ours() { ip netns list | awk '{print $1}' | grep -E "^(${nsprefix}[0-9]+|${hub})\$" || true; }

kill_pids() {  # TERM, then KILL after 3 s, the given pids (processes we started)
  [ $# -gt 0 ] || return 0
  kill -TERM "$@" 2>/dev/null || true
  local i
  for i in $(seq 30); do
    local alive=0 p
    for p in "$@"; do [ -d /proc/$p ] && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1
  done
  kill -KILL "$@" 2>/dev/null || true
}

stop_delayers() {
  local f
  for f in "$state"/delayer-*.pid; do
    [ -e "$f" ] || continue
    local pid; pid=$(cat "$f")
    # only a process that is still our delayer (the pid may have been reused after a killed run)
    if [ -r /proc/$pid/cmdline ] && tr '\0' ' ' < /proc/$pid/cmdline | grep -q "^$delayer_bin "; then kill_pids "$pid"; fi
    rm -f "$f"
  done
}

starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' /proc/$1/stat 2>/dev/null; }

cleanup() {
  set +e
  # the measured command of this run, or of a killed run (pid and start time recorded, so a reused pid is left alone)
  if [ -f "$state/cmd.pid" ]; then
    local cpid cstart; read -r cpid cstart < "$state/cmd.pid"
    [ -n "$cpid" ] && [ "$(starttime "$cpid")" = "$cstart" ] && kill_pids "$cpid"
    rm -f "$state/cmd.pid"
  fi
  stop_delayers
  local ns
  for ns in $(ours); do
    # whatever still runs inside our namespaces was started by this script (delayers, workers of a killed run)
    local pids; pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] && kill_pids $pids
    ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
  done
  ip link del ${hub}0 2>/dev/null   # normally gone with the hub namespace
  if [ -n "$(ours)" ] || ip link show ${hub}0 >/dev/null 2>&1; then log "cleanup incomplete: $(ours) $(ip -br link show ${hub}0 2>/dev/null)"; fi
  set -e
}

setup() {
  if ip -4 route show | grep -qE "^${subnet//./\\.}\.0/24|^${subnet//./\\.}\."; then
    die "SUBNET $subnet.0/24 is already routed in the root namespace ($(ip -4 route show | grep -E "^${subnet//./\\.}\." | head -1)); pick another SUBNET"
  fi
  ip netns add $hub
  ip -n $hub link set lo up
  ip netns exec $hub sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n $hub link add br0 type bridge forward_delay 0 stp_state 0
  [ -e /proc/sys/net/bridge ] && ip netns exec $hub sh -c 'for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ -w "$f" ] && echo 0 > "$f"; done; true'
  ip -n $hub link set br0 up
  # the root namespace's port
  ip link add ${hub}0 type veth peer name r0 netns $hub
  sysctl -qw net.ipv6.conf.${hub}0.disable_ipv6=1
  ip -n $hub link set r0 master br0 up
  ip addr add $subnet.1/24 dev ${hub}0
  ip link set ${hub}0 up
  local k
  for k in $(seq 0 $((workers - 1))); do
    local ns=$nsprefix$k
    ip netns add $ns
    ip -n $ns link set lo up
    ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    ip -n $hub link add p$k type veth peer name eth0 netns $ns
    ip -n $hub link set p$k master br0 up
    ip -n $ns addr add $subnet.$((11 + k))/24 dev eth0
    ip -n $ns link set eth0 up
  done
}

start_delay() {  # $1 = one-way delay in ms, on every worker namespace's egress
  local ms=$1 us k
  us=$(awk -v m="$ms" 'BEGIN { printf "%d", m * 1000 + 0.5 }')
  for k in $(seq 0 $((workers - 1))); do
    local ns=$nsprefix$k
    if [ "$delayer" = netem ]; then
      ip netns exec $ns tc qdisc add dev eth0 root netem delay "${ms}ms"
      continue
    fi
    local fifo_arg=(); [ "$fifo" -gt 0 ] && fifo_arg=(--fifo "$fifo")
    local ready=$state/delayer-$k.out
    : > "$ready"
    ip netns exec $ns "$delayer_bin" --queue 0 --delay-us "$us" "${fifo_arg[@]}" > "$ready" 2>> "$state/delayer-$k.err" &
    echo $! > "$state/delayer-$k.pid"
    local i
    for i in $(seq 100); do grep -q '^READY ' "$ready" && break; [ -d /proc/$! ] || break; sleep 0.05; done
    grep -q '^READY ' "$ready" || die "nfq-delay did not start in $ns: $(cat "$state/delayer-$k.err")"
    ip netns exec $ns iptables -t mangle -A POSTROUTING -o eth0 -j NFQUEUE --queue-num 0
  done
}

stop_delay() {
  local k
  for k in $(seq 0 $((workers - 1))); do
    local ns=$nsprefix$k
    if [ "$delayer" = netem ]; then
      ip netns exec $ns tc qdisc del dev eth0 root 2>/dev/null || true
      continue
    fi
    ip netns exec $ns iptables -t mangle -F POSTROUTING 2>/dev/null || true
  done
  if [ "$delayer" = nfqueue ]; then
    stop_delayers
    for k in $(seq 0 $((workers - 1))); do
      [ -s "$state/delayer-$k.err" ] && tail -1 "$state/delayer-$k.err" | grep '^{' >> "$out/delayer.jsonl"
      rm -f "$state/delayer-$k.err" "$state/delayer-$k.out"
    done
  fi
}

# ping_paths LABEL: one JSON line per path into $out/pings.jsonl; prints the median over worker namespaces of the
# root → namespace median RTT in ms
ping_paths() {
  local label=$1 k
  local tmp=$state/ping
  : > "$tmp.all"
  for k in $(seq 0 $((workers - 1))); do
    ping -n -c "$pings" -i 0.01 -W 1 $subnet.$((11 + k)) > "$tmp" 2>&1 || die "ping $subnet.$((11 + k)) ($nsprefix$k) failed: $(tail -2 "$tmp")"
    echo "root->$nsprefix$k $pings $(grep -o 'time=[0-9.]*' "$tmp" | cut -d= -f2 | tr '\n' ' ')" >> "$tmp.all"
  done
  if [ "$workers" -ge 2 ]; then
    ip netns exec ${nsprefix}0 ping -n -c "$pings" -i 0.01 -W 1 $subnet.12 > "$tmp" 2>&1 || die "ping ${nsprefix}0 -> ${nsprefix}1 failed: $(tail -2 "$tmp")"
    echo "${nsprefix}0->${nsprefix}1 $pings $(grep -o 'time=[0-9.]*' "$tmp" | cut -d= -f2 | tr '\n' ' ')" >> "$tmp.all"
  fi
  if [ "$spaced" -gt 0 ]; then
    ping -n -c "$spaced" -i 0.1 -W 1 $subnet.11 > "$tmp" 2>&1 || die "ping $subnet.11 (${nsprefix}0, 100 ms apart) failed: $(tail -2 "$tmp")"
    echo "spaced:root->${nsprefix}0 $spaced $(grep -o 'time=[0-9.]*' "$tmp" | cut -d= -f2 | tr '\n' ' ')" >> "$tmp.all"
  fi
  python3 - "$tmp.all" "$label" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/pings.jsonl" <<'PY'
import json, sys
label = json.loads(sys.argv[2])
for line in open(sys.argv[1]):
    path, sent, *v = line.split()
    v = sorted(float(x) for x in v)
    pct = lambda p: v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))]
    print(json.dumps({**label, "path": path, "sent": int(sent), "received": len(v), "rtt_p10_ms": pct(10),
                      "rtt_p50_ms": pct(50), "rtt_p90_ms": pct(90), "rtt_max_ms": v[-1], "loadavg": sys.argv[3]}))
PY
}

# effective DELAY: median over worker namespaces of (root → ns RTT median with the delay − without), ms
effective() {
  python3 - "$out/pings.jsonl" "$1" "$run_id" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
rows = [r for r in rows if r["run"] == sys.argv[3] and r["delay_ms"] == float(sys.argv[2]) and r["path"].startswith("root->")]
base = {r["path"]: r["rtt_p50_ms"] for r in rows if r["phase"] == "without"}
with_ = {r["path"]: r["rtt_p50_ms"] for r in rows if r["phase"] == "with"}
spaced = [r for r in json.loads("[" + ",".join(open(sys.argv[1])) + "]") if r["run"] == sys.argv[3]
          and r["delay_ms"] == float(sys.argv[2]) and r["path"].startswith("spaced:")]
sb = [r["rtt_p50_ms"] for r in spaced if r["phase"] == "without"]
sw = [r["rtt_p50_ms"] for r in spaced if r["phase"] == "with"]
print("%.3f %s" % (statistics.median(with_[p] - base[p] for p in with_) if with_ else 0.0,
                   "%.3f" % (sw[0] - sb[0]) if sb and sw else "null"))
PY
}

# ---- main -------------------------------------------------------------------------------------------------------
mkdir -p "$state"
# One run at a time. A pid file rather than flock: the children (ping, the delayers) would inherit a lock descriptor
# and hold it after the script itself was killed.
if [ -f "$state/owner" ]; then
  owner=$(cat "$state/owner")
  if [ "$owner" != $$ ] && [ -r /proc/$owner/cmdline ] && tr '\0' ' ' < /proc/$owner/cmdline | grep -q 'netns\.sh'; then
    die "another netns.sh is running (pid $owner, $state/owner)"
  fi
fi
echo $$ > "$state/owner"
if netem_available; then delayer=netem; else delayer=nfqueue; fi
cleanup   # what a killed run left behind
[ "$mode" = clean ] && { rm -f "$state/owner"; log "clean: no strata namespaces left"; exit 0; }
trap 'cleanup; rm -rf "$state"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

netns_list=$(for k in $(seq 0 $((workers - 1))); do printf '%s%s:%s.%s,' $nsprefix $k $subnet $((11 + k)); done)
netns_list=${netns_list%,}
case $mode in
  bench)
    [ $# -ge 1 ] || die "bench needs MODEL (a GGUF file)"
    model=$(realpath "$1") || die "model $1 not found"
    [ -f "$model" ] || die "model $model is not a file"
    tokens=${2:-64}; reps=${3:-3}
    [ -f "$root/ops/target/strata-ops.jar" ] && [ -d "$root/ops/target/lib" ] \
      || die "ops/target/strata-ops.jar or ops/target/lib missing: ./mvnw -B -q -o -pl ops -am install -DskipTests"
    [ -x "$java" ] || die "no Java 25 at $java (set JAVA_HOME)"
    cmd=("$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC
         -Dstrata.bench.netns="$netns_list" -Dstrata.bench.zk=$subnet.1 -cp "$root/ops/target/strata-ops.jar:$root/ops/target/lib/*" io.strata.ops.cluster.ClusterBench "$model" "$workers" "$tokens" "$reps")
    ;;
  run)
    [ "${1:-}" = -- ] && shift
    [ $# -ge 1 ] || die "run needs a command after --"
    cmd=("$@")
    ;;
  ping) cmd=() ;;
esac

need_tools
mkdir -p "$out"
run_id=$(date -u +%Y-%m-%dT%H:%M:%SZ)
if [ "$delayer" = netem ]; then log "delays with tc netem"; else
  log "delays with the NFQUEUE delayer $delayer_bin (user space; NOT netem: this kernel has no sch_netem), SCHED_FIFO priority $fifo"
fi
setup

for d in $delays; do
  if awk -v m="$d" 'BEGIN{exit !(m > 0)}'; then kind=$delayer; else kind=none; fi
  label_base=$(printf '{"run":"%s","delay_ms":%s,"delayer":"%s","fifo":%s' "$run_id" "$(awk -v m="$d" 'BEGIN{print m+0}')" "$kind" "$fifo")
  ping_paths "$label_base,\"phase\":\"without\"}"
  eff=0.000
  eff_spaced=null
  active=none
  if [ "$kind" != none ]; then
    start_delay "$d"
    active=$delayer
    ping_paths "$label_base,\"phase\":\"with\"}"
    read -r eff eff_spaced < <(effective "$(awk -v m="$d" 'BEGIN{print m+0}')")
  fi
  log "delay $d ms ($active): effective one-way delay added (median RTT root -> namespace, with - without) $eff ms, $eff_spaced ms with pings 100 ms apart; load $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ ${#cmd[@]} -gt 0 ]; then
    load0=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$mode" = bench ]; then
      "${cmd[@]}" > "$state/bench.out" &
    else
      STRATA_NETNS=$netns_list STRATA_NETNS_ZK=$subnet.1 STRATA_DELAY_MS=$d STRATA_DELAY_EFFECTIVE_MS=$eff STRATA_DELAY_EFFECTIVE_SPACED_MS=$eff_spaced STRATA_DELAYER=$active \
        "${cmd[@]}" &
    fi
    cmd_pid=$!
    echo "$cmd_pid $(starttime $cmd_pid)" > "$state/cmd.pid"
    wait $cmd_pid || die "the command failed at delay $d ms (exit $?)"
    rm -f "$state/cmd.pid"
    if [ "$mode" = bench ]; then
      python3 - "$state/bench.out" "$label_base" "$active" "$eff" "$load0" "$eff_spaced" >> "$out/clusterbench.jsonl" <<'PY'
import json, sys
base = json.loads(sys.argv[2] + "}")
for line in open(sys.argv[1]):
    if line.startswith("{"):
        r = json.loads(line)
        print(json.dumps({**base, "delayer": sys.argv[3], "delay_effective_ms": float(sys.argv[4]),
                          "delay_effective_spaced_ms": json.loads(sys.argv[6]), "loadavg_start": float(sys.argv[5]), **r}))
PY
      cat "$state/bench.out"
    fi
  fi
  [ "$active" = none ] || stop_delay
done

if [ "$mode" = bench ]; then
  python3 - "$out/clusterbench.jsonl" "$run_id" <<'PY'
import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r["run"] == sys.argv[2]]
f = lambda v: "—" if v is None else "%.3f" % v
print("| delay ms (delayer) | effective one-way ms (pings 10 ms / 100 ms apart) | N | TPOT ms | network p10 ms | h network p10 ms | h network p50 ms | h empty steps ms | h after sleep ms | load avg start / end |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['delay_ms']} ({r['delayer']}) | {r['delay_effective_ms']:.3f} / {f(r.get('delay_effective_spaced_ms'))} | {r['stages']} | {r['tpot_ms']:.1f} | {r['network_p10_ms']:.2f} | "
          f"{f(r['h_network_p10_ms'])} | {f(r['h_network_ms'])} | {f(r['h_empty_ms'])} | {f(r['h_empty_after_sleep_ms'])} | {r['loadavg_start']:.1f} / {r['loadavg']:.1f} |")
PY
fi
