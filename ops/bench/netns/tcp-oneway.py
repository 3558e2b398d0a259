#!/usr/bin/env python3
"""One-way latency of TCP messages between two network namespaces, the raw-socket reference for ClusterBench's h.

    tcp-oneway.py recv PORT LABEL            (in the receiving namespace; prints one line when the sender closes)
    tcp-oneway.py send HOST PORT SIZE GAP N  (in the sending namespace)

The sender writes N messages of SIZE bytes (a 12-byte header with the send time, then random bytes), one every GAP
seconds, with TCP_NODELAY, and waits for a 1-byte reply before the next, as a pipeline stage sends one activation
frame per step. The receiver reads each whole message and takes the one-way latency on CLOCK_MONOTONIC, which both
namespaces share (one kernel). Prints p10 / p50 / p90 in milliseconds. Driven by tcp-oneway.sh under `netns.sh run`.
"""
import os
import socket
import struct
import sys
import time

HDR = struct.Struct("<Iq")


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def recv_exactly(c, n):
    buf = bytearray()
    while len(buf) < n:
        d = c.recv(min(n - len(buf), 1 << 20))
        if not d:
            return None
        buf += d
    return bytes(buf)


def receive(port, label):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(1)
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    while True:
        hdr = recv_exactly(c, HDR.size)
        if hdr is None:
            break
        size, sent = HDR.unpack(hdr)
        if recv_exactly(c, size) is None:
            break
        lat.append((now_ns() - sent) / 1e6)
        c.sendall(b"k")
    if not lat:
        sys.exit("tcp-oneway: no message received")
    lat.sort()
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    print(f"{label} n {len(lat)} one-way ms p10 {q(0.1):.3f} p50 {q(0.5):.3f} p90 {q(0.9):.3f}", flush=True)


def send(host, port, size, gap, n):
    for attempt in range(50):
        try:
            s = socket.create_connection((host, port))
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    else:
        sys.exit(f"tcp-oneway: cannot connect to {host}:{port}")
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    payload = os.urandom(size)
    for _ in range(n):
        time.sleep(gap)
        s.sendall(HDR.pack(size, now_ns()) + payload)
        if s.recv(1) != b"k":
            sys.exit("tcp-oneway: the receiver closed")
    s.close()


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 3 and a[0] == "recv":
        receive(int(a[1]), a[2])
    elif len(a) == 6 and a[0] == "send":
        send(a[1], int(a[2]), int(a[3]), float(a[4]), int(a[5]))
    else:
        sys.exit(__doc__)
