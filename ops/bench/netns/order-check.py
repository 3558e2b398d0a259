#!/usr/bin/env python3
"""Checks the delay netns.sh adds on a worker namespace's egress: order kept, nothing released early, one-way delay.

Run under netns.sh, which sets STRATA_NETNS, STRATA_NETNS_ZK and STRATA_DELAY_MS:
    ops/bench/netns.sh run -- python3 ops/bench/netns/order-check.py [COUNT=2000]
A sender in the first worker namespace sends COUNT numbered UDP datagrams to this process (root namespace) in bursts
of 50 back to back with 20 ms pauses, each carrying its CLOCK_MONOTONIC send time (one clock for every namespace of
the machine), so the one-way delay is measured directly. Prints one JSON line; exits 1 when a datagram arrived out of
order, was lost, or arrived sooner than STRATA_DELAY_MS after it was sent.
"""
import json
import os
import socket
import struct
import subprocess
import sys
import time

FMT = "!QQ"  # sequence number, send time (ns, CLOCK_MONOTONIC)


def send(host, port, count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(count):
        s.sendto(struct.pack(FMT, i, time.clock_gettime_ns(time.CLOCK_MONOTONIC)), (host, port))
        if i % 50 == 49:
            time.sleep(0.02)


def main():
    if len(sys.argv) == 5 and sys.argv[1] == "--send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return 0
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    try:
        ns = os.environ["STRATA_NETNS"].split(",")[0].split(":")[0]
        host = os.environ["STRATA_NETNS_ZK"]
        delay_ms = float(os.environ["STRATA_DELAY_MS"])
    except KeyError as e:
        print(f"order-check.py: {e.args[0]} not set: run it under ops/bench/netns.sh run -- ...", file=sys.stderr)
        return 2
    r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    r.bind((host, 0))
    r.settimeout(2.0)
    sender = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--send", host,
                               str(r.getsockname()[1]), str(count)])
    seqs, delays = [], []
    try:
        while len(seqs) < count:
            data = r.recv(64)
            now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            seq, sent = struct.unpack(FMT, data)
            seqs.append(seq)
            delays.append((now - sent) / 1e6)
    except socket.timeout:
        pass
    sender.wait()
    out_of_order = sum(1 for a, b in zip(seqs, seqs[1:]) if b <= a)
    lost = count - len(set(seqs))
    early = sum(1 for d in delays if d < delay_ms)
    d = sorted(delays)
    pct = lambda p: round(d[min(len(d) - 1, round(p / 100 * (len(d) - 1)))], 3) if d else None
    print(json.dumps({"namespace": ns, "delay_ms": delay_ms, "sent": count, "received": len(seqs), "lost": lost,
                      "out_of_order": out_of_order, "sooner_than_delay": early, "one_way_min_ms": pct(0),
                      "one_way_p50_ms": pct(50), "one_way_p99_ms": pct(99), "one_way_max_ms": pct(100)}))
    return 1 if out_of_order or lost or early else 0


if __name__ == "__main__":
    sys.exit(main())
