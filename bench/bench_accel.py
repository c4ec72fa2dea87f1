"""C accelerator vs pure Python: attributes() and end-to-end ingest, both paths in one run.

    .venv/bin/python bench/bench_accel.py [--seconds 2] [--samples 100000]

CPU time (time.process_time), best run, so a shared machine disturbs it less.
  attributes only   flow_attributes(sample) on already-walked samples (no cache)
  subset            flow_attributes_subset(sample, wanted) for what bench_flows.py's 5
                    definitions read (no cache), as FlowEngine.on_flow_sample asks for it
  walk + attributes decode_datagram() + attributes() of every flow sample, per datagram
  Engine.ingest     decode + attributes + flow caches with 0 and 5 definitions
                    (bench_flows.py's generator traffic and definitions)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine.sflow import attributes as at
from engine.sflow import decode_datagram
from engine.sflow.pcap import read_pcap

DATA = (
    Path(os.environ.get("FLOWRT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "testdata/sflow"
)
CAPTURES = ("akvorado/data-1140.pcap", "overflowd/sflow.pcap")


def best_of(fn, seconds: float) -> float:
    fn()  # warm up (caches, allocator)
    best = float("inf")
    n = 0
    t_end = time.process_time() + seconds
    while time.process_time() < t_end or n < 3:
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
        n += 1
    return best


def paths():
    yield "python", at.python_flow_attributes
    if at.accel is not None:
        yield "C", at.accel.flow_attributes


def subset_paths():
    yield "python", at.python_flow_attributes_subset
    if at.accel is not None:
        yield "C", getattr(at.accel, "flow_attributes_subset", at.python_flow_attributes_subset)


def wanted_5() -> frozenset:
    """The attribute names FlowEngine decodes for bench_flows.py's 5 definitions."""
    import bench_flows
    from engine.flows.engine import FlowEngine

    fe = FlowEngine(None)
    bench_flows.define(fe, 5)
    return frozenset().union(*(t.spec.referenced_names() for t in fe.tables.values()))


def uncached(fn, samples):
    def run():
        for s in samples:
            s._attrs = None
            fn(s)

    return run


def captures(seconds: float) -> None:
    for name in CAPTURES:
        payloads = [p.payload for p in read_pcap(DATA / name)]
        payloads = payloads * max(1, 2000 // len(payloads))
        samples = [s for p in payloads for s in decode_datagram(p).samples if s.kind == "flow"]
        nd, nf = len(payloads), len(samples)
        print(f"{name}: {nd} datagrams, {nf / nd:.2f} flow samples/datagram")
        wanted = wanted_5()
        for (label, fn), (_, sub) in zip(paths(), subset_paths()):
            at.use_accelerator(label == "C")  # the Python subset builds the full dict first
            t_attr = best_of(lambda: [fn(s) for s in samples], seconds)
            t_sub = best_of(uncached(lambda s: sub(s, wanted), samples), seconds)
            t_base = best_of(uncached(lambda s: None, samples), seconds)
            at.use_accelerator(label == "C")

            def walk_attrs():
                for p in payloads:
                    for s in decode_datagram(p).samples:
                        if s.kind == "flow":
                            s.attributes()

            t_all = best_of(walk_attrs, seconds)
            print(
                f"  {label:6s} attributes only {t_attr / nf * 1e6:6.2f} µs/flow sample   "
                f"walk + attributes {t_all / nd * 1e6:6.2f} µs/datagram = "
                f"{t_all / nf * 1e6:5.2f} µs/flow sample ({nf / t_all / 1000:6.1f} k/s)"
            )
            print(
                f"  {'':6s} subset for 5 definitions ({len(wanted)} names) "
                f"{max(0.0, t_sub - t_base) / nf * 1e6:6.2f} µs/flow sample"
            )
    at.use_accelerator(True)


def generator_attributes(n_samples: int, seconds: float) -> None:
    import bench_flows

    dgs = bench_flows.datagrams(n_samples)
    samples = [s for d in dgs for s in decode_datagram(d).samples if s.kind == "flow"]
    wanted = wanted_5()
    print(f"bench_flows.py generator traffic, {len(samples)} flow samples, per flow sample:")
    for (label, fn), (_, sub) in zip(paths(), subset_paths()):
        at.use_accelerator(label == "C")
        t_base = best_of(uncached(lambda s: None, samples), seconds)
        t_full = best_of(uncached(fn, samples), seconds)
        t_sub = best_of(uncached(lambda s: sub(s, wanted), samples), seconds)
        print(
            f"  {label:6s} full dict {max(0.0, t_full - t_base) / len(samples) * 1e6:5.2f} µs   "
            f"subset for 5 definitions {max(0.0, t_sub - t_base) / len(samples) * 1e6:5.2f} µs"
        )
    at.use_accelerator(True)


def end_to_end(n_samples: int) -> None:
    import bench_flows

    dgs = bench_flows.datagrams(n_samples)
    print(f"Engine.ingest, generator traffic ({len(dgs)} datagrams), one core:")
    for n in (0, 5):
        for label, _ in paths():
            at.use_accelerator(label == "C")
            best = None
            for _ in range(3):
                dt, count = bench_flows.bench_ingest(dgs, n)
                best = dt if best is None or dt < best else best
            print(
                f"  {n} definitions, {label:6s}: {count / best:9,.0f} samples/s  "
                f"({best / count * 1e6:.2f} µs/sample)"
            )
    at.use_accelerator(True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--samples", type=int, default=100_000)
    args = ap.parse_args()
    if at.accel is None:
        print("C accelerator not available (not built, or FLOWRT_NO_ACCEL set): Python only")
    captures(args.seconds)
    generator_attributes(args.samples // 2, args.seconds)
    end_to_end(args.samples)


if __name__ == "__main__":
    main()
