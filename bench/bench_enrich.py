"""Cost per sample of the enrichment key functions (no I/O).

    .venv/bin/python bench/bench_enrich.py [--seconds 1]

For each key function, the extractor is compiled once (as a flow definition does) and called
on sample attribute dicts. "cached" cycles through 1000 addresses/MACs that are all in the
cache (the steady state: the same hosts keep talking); "miss" uses a new address every call
(country:/asn: read the .mmdb; dns: queues the address and returns at once). A plain
attribute key (ipsource) is the baseline. Geo lookups use the bundled databases.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine.flows.keyfuncs  # noqa: F401  built-in key functions (or:, if:, ...)
from engine.dns.service import DnsService
from engine.flows.keys import compile_key
from engine.geo import GeoService


class BenchEngine:
    def __init__(self, props):
        self.props = props
        self.subsystems = {"dns": DnsService(props), "geo": GeoService(props)}


def per_call(fn, samples, seconds: float) -> float:
    """ns per call of fn over the samples, best of 3 rounds."""
    n = len(samples)
    best = float("inf")
    for _ in range(3):
        count, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for a in samples:
                fn(a)
            count += n
            now = time.perf_counter()
            if now >= deadline:
                break
        best = min(best, (now - start) / count)
    return best * 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = ap.parse_args(argv)
    rng = random.Random(1)

    # public-looking addresses spread over the space, so the databases have answers
    v4 = [
        f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        for _ in range(1000)
    ]
    v6 = [
        f"2a0{rng.randint(0, 9)}:{rng.randint(0, 0xFFFF):x}::{rng.randint(1, 0xFFFF):x}"
        for _ in range(1000)
    ]
    ouis = ["00000C", "080027", "3C5AB4", "001B21", "F0DEF1", "B827EB", "000D3A", "00155D"]
    macs = [rng.choice(ouis) + "%06X" % rng.getrandbits(24) for _ in range(1000)]
    samples = [
        {"ipsource": a, "ip6source": b, "macsource": m, "stack": "eth.ip.tcp"}
        for a, b, m in zip(v4, v6, macs)
    ]

    eng = BenchEngine({"dns.queue.size": "1000000"})
    dns = eng.subsystems["dns"]
    for i, a in enumerate(v4):  # pre-answered names: the cached steady state
        dns.cache.put(a, f"host{i}.example.com.", 3600, time.monotonic())

    keys = [
        "ipsource",
        "dns:ipsource",
        "or:[dns:ipsource]:ipsource",
        "country:ipsource",
        "country:ip6source",
        "country:ipsource:both",
        "asn:ipsource",
        "asn:ipsource:both",
        "oui:macsource",
        "oui:macsource:number",
        "if:[first:stack:.:ip:ip6]:ip:[country:ipsource]:[country:ip6source]",
    ]
    print(f"{'key':70s} {'cached ns/sample':>17s}")
    for k in keys:
        fn = compile_key(k, eng).extract
        for a in samples:  # warm the caches
            fn(a)
        print(f"{k:70s} {per_call(fn, samples, args.seconds):17.0f}")

    print(f"\n{'miss (a new address every call)':70s} {'ns/sample':>17s}")
    fresh = [
        {
            "ipsource": f"{rng.randint(1, 223)}.{rng.randint(0, 255)}."
            f"{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        }
        for _ in range(200000)
    ]
    for k in ("country:ipsource", "asn:ipsource", "dns:ipsource"):
        fresh_eng = BenchEngine({"dns.queue.size": "1000000", "geo.cache.size": "1000000"})
        fn = compile_key(k, fresh_eng).extract
        start = time.perf_counter()
        for a in fresh:
            fn(a)
        ns = (time.perf_counter() - start) / len(fresh) * 1e9
        print(f"{k:70s} {ns:17.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
