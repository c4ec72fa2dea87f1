"""Decode-only micro-benchmark (no I/O): CPU µs per datagram and per flow sample (best run;
process time, so other processes on a shared machine disturb it less).

    .venv/bin/python bench/bench_decode.py [--seconds 2]

Three levels, each on akvorado/data-1140.pcap (Akvorado's BenchmarkDecodeSflow input; Go
reference ~9 µs per 5-sample datagram) and overflowd/sflow.pcap (1000 real datagrams):
  walk        decode_datagram(): datagram + sample headers
  attributes  walk + attributes() of every flow sample (what the flow engine needs)
  attributes_cold  the same with the address/record caches emptied before every datagram
  records     walk + records() of every sample (full sflowtool-style decode)
"""

from __future__ import annotations

import os
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.sflow import decode_datagram
from engine.sflow.pcap import read_pcap

DATA = (
    Path(os.environ.get("FLOWRT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "testdata/sflow"
)


def walk(payloads):
    for p in payloads:
        decode_datagram(p)


def attributes(payloads):
    for p in payloads:
        for s in decode_datagram(p).samples:
            if s.kind == "flow":
                s.attributes()


def clear_caches():
    from engine.sflow import attributes as at
    from engine.sflow import datagram as dg
    from engine.sflow import header as hd

    for c in (hd._A4, hd._A6, hd._MAC, hd._IP6C, dg._AGENTS, *hd._ETHC, *hd._IPC):
        c.clear()
    for fn in at._HANDLERS.values():
        if hasattr(fn, "cache"):
            fn.cache.clear()
    if at.accel is not None:
        at.accel.clear_caches()


def attributes_cold(payloads):
    """attributes() with every address/record cache emptied before each datagram: the worst
    case, where no address, MAC pair or BGP record was seen before (includes clearing)."""
    for p in payloads:
        clear_caches()
        for s in decode_datagram(p).samples:
            if s.kind == "flow":
                s.attributes()


def records(payloads):
    for p in payloads:
        for s in decode_datagram(p).samples:
            s.records()


def bench(fn, payloads, seconds):
    fn(payloads)  # warm up
    n = 0
    best = float("inf")
    t_end = time.process_time() + seconds
    while time.process_time() < t_end or n < 3:
        t0 = time.process_time()
        fn(payloads)
        best = min(best, time.process_time() - t0)
        n += 1
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    from engine.sflow import attributes as at

    print(
        "C accelerator" if at.accel is not None else "pure Python (FLOWRT_NO_ACCEL=1 or not built)",
        "- bench_accel.py compares both",
    )
    for name in ("akvorado/data-1140.pcap", "overflowd/sflow.pcap"):
        payloads = [p.payload for p in read_pcap(DATA / name)]
        reps = max(1, 2000 // len(payloads))
        payloads = payloads * reps
        nd = len(payloads)
        nflow = sum(1 for p in payloads for s in decode_datagram(p).samples if s.kind == "flow")
        nsamp = sum(len(decode_datagram(p).samples) for p in payloads)
        print(
            f"{name}: {nd // reps} datagrams x{reps}, {nflow / nd:.2f} flow samples and "
            f"{nsamp / nd:.2f} samples per datagram"
        )
        for fn in (walk, attributes, attributes_cold, records):
            t = bench(fn, payloads, args.seconds)
            per_dg = t / nd * 1e6
            per_fs = t / nflow * 1e6
            print(
                f"  {fn.__name__:15s} {per_dg:7.2f} µs/datagram  {per_fs:6.2f} µs/flow sample  "
                f"{nflow / t / 1000:7.1f} k flow samples/s"
            )


if __name__ == "__main__":
    main()
