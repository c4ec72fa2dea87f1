"""IPFIX export benchmark (engine/flows/ipfix.py).

1. Per-sample cost of a 5-tuple definition (FlowEngine.process on decoded attribute dicts,
   CPU time): without ipfixCollectors, with them exporting bytes only (same plain-sum path,
   C when built) and exporting bytes and frames (ExportTable.update keeps the second total).
2. Export cost at the tick: N flows end at once; CPU time of the sweep that packs their
   records plus the flush that sends them to a loopback UDP socket (read by nobody but the
   kernel buffer; send errors are counted), per record.

Run: .venv/bin/python bench/bench_ipfix.py [--samples N] [--flows N]
"""

from __future__ import annotations

import argparse
import socket
import time

from engine.flows.cache import idle_timeout
from engine.flows.engine import FlowEngine

T0 = 1_700_000_000.0
KEYS = "ipsource,ipdestination,tcpsourceport,tcpdestinationport"


def attrs(i: int, flows: int) -> dict:
    f = i % flows
    return {
        "ipsource": f"10.1.{f >> 8 & 255}.{f & 255}",
        "ipdestination": "10.2.0.1",
        "tcpsourceport": 1024 + f % 50000,
        "tcpdestinationport": 443,
        "bytes": 1000,
        "frames": 1,
        "ipprotocol": 6,
    }


def per_sample(spec: dict, samples: int, flows: int) -> float:
    fe = FlowEngine(None)
    fe.set_flow("f", spec)
    batch = [attrs(i, flows) for i in range(samples)]
    process = fe.process
    t = time.process_time()
    for i, a in enumerate(batch):
        process(a, "192.0.2.1", "1", 100, T0 + i * 1e-5)
    us = (time.process_time() - t) / samples * 1e6
    fe.clear_flow("f")
    return us


def export_cost(flows: int, sink: str) -> tuple[float, dict]:
    fe = FlowEngine(None)
    fe.set_flow(
        "f", {"keys": KEYS, "value": "bytes", "values": ["frames"], "ipfixCollectors": [sink]}
    )
    for i in range(flows):
        fe.process(attrs(i, flows), "192.0.2.1", "1", 100, T0)
    t = time.process_time()
    fe.tick(T0 + idle_timeout(2) + 1)
    per = (time.process_time() - t) / flows * 1e6
    stats = fe.tables["f"].exporter.stats()
    fe.clear_flow("f")
    return per, stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--flows", type=int, default=50_000)
    args = ap.parse_args()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 20)
    sink.bind(("127.0.0.1", 0))
    addr = f"127.0.0.1:{sink.getsockname()[1]}"
    base = {"keys": KEYS, "value": "bytes"}
    rows = [
        ("no ipfixCollectors", base),
        ("ipfixCollectors, bytes", dict(base, ipfixCollectors=[addr])),
        ("ipfixCollectors, bytes + frames", dict(base, values=["frames"], ipfixCollectors=[addr])),
    ]
    print(f"per sample, 5-tuple definition, {args.samples} samples over 1000 flows (CPU us):")
    for name, spec in rows:
        best = min(per_sample(spec, args.samples, 1000) for _ in range(3))
        print(f"  {name:34s} {best:6.2f}")
    per, stats = export_cost(args.flows, addr)
    print(
        f"export at the tick, {args.flows} flows ending at once: {per:.2f} CPU us per record "
        f"(sweep + pack + send), {stats['messages']} messages, {stats['errors']} send errors"
    )
    sink.close()


if __name__ == "__main__":
    main()
