"""Tenants (engine/tenants.py): what selecting and re-sending samples adds to Engine.ingest.
In-process, no receive socket; the tenant datagrams really go out over UDP to a loopback
socket nobody reads (its overflow is dropped by the kernel, after sendto has been paid).
CPU µs per datagram and per sample, best run (process time, so other processes disturb it less).

    .venv/bin/python bench/bench_tenants.py [--seconds 3]

Scenarios: no tenant (the baseline), tenants whose filters select nothing (the cost of
evaluating them), and tenants that select part or all of the traffic (plus building and
sending the datagrams).
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import props
from engine.core import Engine
from engine.sflow import decode_datagram
from engine.sflow.pcap import read_pcap

DATA = (
    Path(os.environ.get("FLOWRT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "testdata/sflow"
)


def scenarios(port: int, agent: str, addr: str, mac: str, ifindex: int) -> list[tuple[str, dict]]:
    dest = {"collectorAddress": "127.0.0.1", "collectorPort": port}
    return [
        ("no tenant", {}),
        ("1 tenant, cidr, selects nothing", {"a": {**dest, "filters": {"cidr": ["10.99.0.0/16"]}}}),
        (
            "1 tenant, ifindex, selects nothing",
            {"a": {**dest, "filters": {"ifindex": [f"{agent}_99999"]}}},
        ),
        (
            "3 tenants (cidr, mac, ifindex+ifname), select nothing",
            {
                "a": {**dest, "filters": {"cidr": ["10.99.0.0/16", "2001:db8:99::/48"]}},
                "b": {**dest, "filters": {"mac": ["0200000000FF"]}},
                "c": {
                    **dest,
                    "filters": {"ifindex": [f"{agent}_99999"], "ifname": [f"{agent}_x9"]},
                },
            },
        ),
        (
            "100 tenants (a /24, a MAC and a port each), select nothing",
            {
                f"t{i}": {
                    **dest,
                    "filters": {
                        "cidr": [f"10.{i}.0.0/24"],
                        "mac": [f"0200000001{i:02X}"],
                        "ifindex": [f"{agent}_{10000 + i}"],
                    },
                }
                for i in range(100)
            },
        ),
        (
            "1 tenant, cidr, selects the flow samples of one address",
            {"a": {**dest, "filters": {"cidr": [addr]}}},
        ),
        ("1 tenant, mac, selects one MAC", {"a": {**dest, "filters": {"mac": [mac]}}}),
        (
            "1 tenant, ifindex, selects one port",
            {"a": {**dest, "filters": {"ifindex": [f"{agent}_{ifindex}"]}}},
        ),
        (
            "1 tenant, cidr 0.0.0.0/0 + ::/0, selects every flow sample",
            {"a": {**dest, "filters": {"cidr": ["0.0.0.0/0", "::/0"]}}},
        ),
    ]


def run(dgs: list[bytes], tenants: dict, seconds: float) -> float:
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    t = eng.subsystems["tenants"]
    for name, spec in tenants.items():
        t.set_tenant(name, spec)
    ingest = eng.ingest
    best = float("inf")
    n = 0
    t_end = time.process_time() + seconds
    gc.collect()
    while time.process_time() < t_end or n < 3:
        t0 = time.process_time()
        for dg in dgs:
            ingest(dg, "127.0.0.1", 0.0)
        best = min(best, time.process_time() - t0)
        n += 1
    t._flush()
    return best


def describe(dgs: list[bytes]):
    """An address, a MAC and an ifIndex that select part of the traffic, from its first sample."""
    for dg in dgs:
        for s in decode_datagram(dg).samples:
            if s.kind == "flow":
                a = s.attributes()
                return (
                    s.agent,
                    a.get("ipsource") or a.get("ip6source"),
                    a.get("macsource", "000000000000"),
                    s.input,
                )
    raise SystemExit("no flow sample")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    port = sink.getsockname()[1]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_flows import datagrams

    inputs = [
        ("overflowd/sflow.pcap", [d.payload for d in read_pcap(DATA / "overflowd/sflow.pcap")]),
        ("generator, 4 agents, 1000 flows", datagrams(20000)),
    ]
    for label, dgs in inputs:
        decoded = [decode_datagram(d) for d in dgs]
        nsamples = sum(len(d.samples) for d in decoded)
        nflow = sum(1 for d in decoded for s in d.samples if s.kind == "flow")
        print(f"{label}: {len(dgs)} datagrams, {nsamples} samples ({nflow} flow)")
        base = None
        for name, tenants in scenarios(port, *describe(dgs)):
            dt = run(dgs, tenants, args.seconds)
            per_dg = dt / len(dgs) * 1e6
            per_s = dt / nsamples * 1e6
            extra = "" if base is None else f"  (+{per_s - base:.2f} µs/sample)"
            if base is None:
                base = per_s
            print(f"  {name:60s} {per_dg:7.2f} µs/datagram {per_s:6.3f} µs/sample{extra}")
    sink.close()


if __name__ == "__main__":
    main()
