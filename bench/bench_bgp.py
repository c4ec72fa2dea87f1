"""BGP benchmarks: full-table load through a real session over loopback TCP, memory for it,
/bgp/topprefixes latency, and the per-sample cost of traffic accounting and bgp* flow keys.

    .venv/bin/python bench/bench_bgp.py [--prefixes 1000000] [--v6-share 0.1]
                                        [--samples 200000] [--set-size 8]

The table is synthetic but shaped like the Internet's: mostly /24s and /22../16s for IPv4, /48s
and /32s for IPv6, about one distinct attribute set (AS path, next hop, communities) per
--set-size prefixes, packed into UPDATEs the way routers pack them (all prefixes sharing
attributes in as few 4096-byte messages as fit). A separate process plays the router, so its
CPU is not charged to the speaker.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing as mp
import random
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # bgp_peer

from engine import props
from engine.core import Engine
from bgp_peer import RawPeer, attrs_bytes, pack_updates


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def synthetic_table(n4: int, n6: int, seed: int = 1, set_size: int = 8):
    """{attribute bytes: [prefixes]} for IPv4 and IPv6, deterministic; about `set_size`
    prefixes share each attribute set."""
    rng = random.Random(seed)
    n_sets4, n_sets6 = max(1, n4 // set_size), max(1, n6 // set_size)
    used4: set = set()
    groups4: dict[int, list] = {}
    while len(used4) < n4:
        plen = rng.choices((24, 23, 22, 21, 20, 19, 18, 17, 16), (60, 8, 12, 4, 5, 3, 3, 2, 3))[0]
        addr = rng.randrange(0x01000000, 0xDF000000) & (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        key = (addr, plen)
        if key in used4:
            continue
        used4.add(key)
        groups4.setdefault(rng.randrange(n_sets4), []).append((struct.pack(">I", addr), plen))
    used6: set = set()
    groups6: dict[int, list] = {}
    while len(used6) < n6:
        plen = rng.choices((48, 44, 40, 36, 32, 29), (55, 10, 10, 5, 15, 5))[0]
        addr = (0x2000 << 112 | rng.getrandbits(125 - 16) << 3) & ((1 << 128) - (1 << (128 - plen)))
        key = (addr, plen)
        if key in used6:
            continue
        used6.add(key)
        groups6.setdefault(rng.randrange(n_sets6), []).append((addr.to_bytes(16, "big"), plen))

    def attrs_for(i: int, v6: bool) -> bytes:
        r = random.Random(i * 2 + v6)
        path = [65254] + [r.randrange(1, 400000) for _ in range(r.randrange(1, 6))]
        comms = [65254 << 16 | r.randrange(1, 1000) for _ in range(r.randrange(0, 4))]
        nh = None if v6 else f"192.0.2.{r.randrange(1, 9)}"
        return attrs_bytes(aspath=path, nexthop=nh, communities=comms, med=r.randrange(0, 100))

    t4: dict[bytes, list] = {}
    t6: dict[bytes, list] = {}
    for i, p in groups4.items():  # two sets may draw the same attributes: merge them
        t4.setdefault(attrs_for(i, False), []).extend(p)
    for i, p in groups6.items():
        t6.setdefault(attrs_for(i, True), []).extend(p)
    return t4, t6


def router_process(port: int, n4: int, n6: int, set_size: int, ready, go) -> None:
    """The router: build the UPDATEs (not timed), connect, send as fast as TCP allows."""
    t4, t6 = synthetic_table(n4, n6, set_size=set_size)
    nh6 = socket.inet_pton(socket.AF_INET6, "2001:db8::fe")
    msgs = []
    for a, prefixes in t4.items():
        msgs += pack_updates(prefixes, a)
    for a, prefixes in t6.items():
        msgs += pack_updates(prefixes, a, family=6, nexthop6=nh6)
    blob = b"".join(msgs)
    peer = RawPeer("127.0.0.1", port, 65254, "10.0.0.254", hold=180, timeout=600)
    peer.handshake()
    ready.put((len(msgs), len(blob)))
    go.wait()
    peer.send(blob)
    ready.put("sent")
    time.sleep(3600)  # keep the session open until the parent is done


class Loop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(600)

    def call(self, fn, *a):
        async def c():
            return fn(*a)

        return self.run(c())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefixes", type=int, default=1_000_000)
    ap.add_argument("--v6-share", type=float, default=0.1)
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument(
        "--set-size",
        type=int,
        default=8,
        help="prefixes per distinct attribute set (real tables: ~2-10)",
    )
    args = ap.parse_args()
    n6 = int(args.prefixes * args.v6_share)
    n4 = args.prefixes - n6

    values = dict(props.DEFAULTS)
    values.update({"bgp.start": "yes", "bgp.port": "0", "bgp.hostname": "127.0.0.1"})
    engine = Engine(props.Properties(values))
    bgp = engine.subsystems["bgp"]
    loop = Loop()
    loop.run(engine.start())
    loop.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162")
    gc.collect()
    rss0 = rss_mb()

    ctx = mp.get_context("fork")
    ready, go = ctx.Queue(), ctx.Event()
    router = ctx.Process(
        target=router_process, args=(bgp.listen_port, n4, n6, args.set_size, ready, go), daemon=True
    )
    router.start()
    n_msgs, n_bytes = ready.get(timeout=900)
    n = bgp.neighbors["127.0.0.1"]
    cpu0, t0 = time.process_time(), time.perf_counter()
    go.set()
    while len(n.rib4) + len(n.rib6) < args.prefixes:
        time.sleep(0.005)
        if time.perf_counter() - t0 > 900:
            raise SystemExit("table load did not finish")
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    gc.collect()
    rss1 = rss_mb()
    print(
        f"table load: {args.prefixes} prefixes ({n4} IPv4, {n6} IPv6) in {n_msgs} UPDATEs "
        f"({n_bytes / 1e6:.1f} MB) over loopback TCP"
    )
    print(
        f"  {elapsed:.2f} s wall, {cpu:.2f} s CPU -> {args.prefixes / elapsed:,.0f} prefixes/s "
        f"wall, {args.prefixes / cpu:,.0f} prefixes per CPU second "
        f"({n_msgs / elapsed:,.0f} UPDATEs/s wall)"
    )
    print(
        f"  memory: RSS +{rss1 - rss0:.0f} MB for the table "
        f"({(rss1 - rss0) * 1e6 / args.prefixes:.0f} bytes/prefix), "
        f"{len(bgp.intern)} distinct attribute sets"
    )

    # -- traffic accounting and bgp* keys per sample -------------------------------------------
    from engine.sflow import decode_datagram, encode as e

    rng = random.Random(7)
    keys4 = list(n.rib4.trie.keys())
    dests = []
    for _ in range(20000):
        base = keys4[int(len(keys4) * rng.random() ** 3)]  # a few prefixes carry most traffic
        net, plen = base.split("/")
        a = struct.unpack(">I", socket.inet_aton(net))[0] + rng.randrange(1 << (32 - int(plen)))
        dests.append(socket.inet_ntoa(struct.pack(">I", a)))
    samples = []
    for i in range(0, args.samples, 100):
        recs = []
        for j in range(min(100, args.samples - i)):
            src = dests[rng.randrange(len(dests))]
            dst = dests[rng.randrange(len(dests))]
            rec = e.encode_flow_record(
                {
                    "flowBlock_tag": "0:3",
                    "sampledPacketSize": 1500,
                    "IPProtocol": 6,
                    "srcIP": src,
                    "dstIP": dst,
                }
            )
            recs.append(e.flow_sample(i + j, 0, 3, 1000, 1000, 0, 1, 2, [rec]))
        samples += decode_datagram(e.datagram("10.0.0.253", i, 0, recs)).samples
    for s in samples:
        s.attributes()  # decoding is the sFlow module's cost, not ours
    loop.call(bgp.add_source, "10.0.0.253", "127.0.0.1", 60, "bytes")

    def timed(fn):
        """(wall, CPU of this thread) seconds: the machine is shared, CPU time is steadier."""

        def run():
            t, c = time.perf_counter(), time.thread_time()
            fn()
            return time.perf_counter() - t, time.thread_time() - c

        return loop.call(run)

    def per_sample(label, fn):
        wall, cpu = timed(fn)
        print(
            f"{label}: {cpu / len(samples) * 1e6:.2f} us CPU/sample "
            f"({len(samples) / cpu:,.0f} samples/s; wall {wall / len(samples) * 1e6:.2f} us)"
        )

    def account():
        now = time.time()
        for s in samples:
            bgp.on_flow_sample(s, now)

    for label in ("first pass, cold LPM cache", "second pass, warm cache"):
        per_sample(
            f"traffic accounting (bgpAddSource, LPM on source and destination), {label}", account
        )

    def keys():
        for s in samples:
            bgp.flow_attributes(s.agent, s.attributes())

    per_sample("bgp* flow keys (all 12 for one sample), warm cache", keys)
    for rib in (n.rib4, n.rib6):
        rib.cache.clear()
    per_sample("bgp* flow keys, cold cache", keys)
    for s in samples:
        s.agent = "10.0.0.1"

    def other_agent():
        now = time.time()
        for s in samples:
            bgp.on_flow_sample(s, now)

    per_sample("  samples from agents without a source", other_agent)
    for s in samples:
        s.agent = "10.0.0.253"

    for maxp, extra in (
        (100, {}),
        (1000, {}),
        (10000, {}),
        (1000, {"include_covered": True, "prune_covered": True}),
    ):
        reps = 5
        result = {}

        def query():
            for _ in range(reps):
                result["out"] = bgp.top_prefixes(
                    "127.0.0.1",
                    maxp,
                    0,
                    "destination",
                    extra.get("include_covered", False),
                    0,
                    extra.get("prune_covered", False),
                )

        wall, cpu = timed(query)
        out = result["out"]
        print(
            f"topprefixes maxPrefixes={maxp}{' includeCovered+pruneCovered' if extra else ''}: "
            f"{cpu / reps * 1000:.1f} ms CPU (wall {wall / reps * 1000:.1f} ms; "
            f"{len(out['topPrefixes'])} entries, "
            f"{out['valuePercentCoverage']:.1f}% coverage, "
            f"{len(bgp.sources['10.0.0.253'][0].acc4.by_prefix[1])} prefixes with traffic)"
        )

    # -- wildcard sources: ALL, and EDGE following a topology (the samples' agent is a switch
    # whose ifIndex 3 is an edge port, then a link port) -----------------------------------
    loop.call(bgp.remove_source, "10.0.0.253")
    topo = engine.subsystems["topology"]

    def fabric(link_port: str):
        loop.call(
            topo.set,
            {
                "nodes": {
                    "sw": {
                        "agent": "10.0.0.253",
                        "ports": {"p3": {"ifindex": "3"}, "p9": {"ifindex": "9"}},
                    }
                },
                "links": {"l": {"node1": "sw", "port1": link_port, "node2": "spine", "port2": "x"}},
            },
        )

    for kind, link_port, label in (
        ("ALL", "p9", "ALL source"),
        ("EDGE", "p9", "EDGE source, samples on an edge port"),
        ("EDGE", "p3", "EDGE source, samples on a link port (skipped)"),
    ):
        fabric(link_port)
        loop.call(bgp.add_source, kind, "127.0.0.1", 60, "bytes")
        account()  # warm the LPM cache and take the topology's selection
        per_sample(f"traffic accounting, {label}, warm cache", account)
        loop.call(bgp.remove_source, kind)

    router.terminate()
    router.join(5)
    loop.run(engine.stop())


if __name__ == "__main__":
    main()
