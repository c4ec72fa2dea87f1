"""sFlow workers (docs/ingest.md, "Workers"): what a worker costs per datagram next to the
in-process engine, and what a query round trip to the workers costs.

1. Per core. A flowrt engine process (``python -m engine.main``) with ``-Dsflow.workers=N`` is
   fed the overflowd replay rewritten to come from many agents (each datagram's agent address
   changed, so the kernel spreads them over the workers) by a separate sender at a fixed rate,
   with the 5 flow definitions of issue 13 (f1-f5). Per step: datagrams processed (the engine's
   /analyzer/json), lost, and CPU seconds of each worker process (its receive thread
   included; with N=1 the engine process itself). "per core" is flow samples per CPU second
   of one worker; "share" is that figure over the N=1 figure of the same run: at least 85 %
   means N workers do at least 0.85 N times the work of one.
2. Round trips (this process, engines started in process with 1 and with 2 workers, 200
   agents of generator traffic): wall time per call of the engine functions REST and
   scripts call - a worker ping, metric() over all agents and over one, table(),
   activeFlows() - and, for 2 workers, the IPC share (the same call in process).

CPU time is what to compare on a busy machine; rates and losses depend on what else runs.

    .venv/bin/python bench/bench_workers.py [--workers 1,2] [--rate 8000] [--seconds 8]
        [--agents 1000] [--rounds 2] [--skip-ingest] [--skip-queries]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_ingest import (  # noqa: E402
    OVERFLOWD,
    analyzer,
    cpu_seconds,
    socket_drops,
    start_engine,
)
from engine.sflow.gen import TrafficGenerator, open_sender, send_paced  # noqa: E402
from engine.sflow.pcap import read_pcap  # noqa: E402

DEFINITIONS = {
    "f1": (
        (
            "ipsource,ipdestination,ipprotocol,or:tcpsourceport:udpsourceport,"
            "or:tcpdestinationport:udpdestinationport"
        ),
        "frames",
    ),
    "f2": ("ipsource,ipdestination", "bytes"),
    "f3": ("macsource,macdestination,vlan", "frames"),
    "f4": ("or:tcpdestinationport:udpdestinationport,ipprotocol", "bytes"),
    "f5": ("agent,inputifindex,outputifindex", "frames"),
}


def replay(agents: int) -> tuple[list[bytes], float]:
    """The overflowd datagrams, cycled over `agents` IPv4 agent addresses 10.x.y.z."""
    base = [p.payload for p in read_pcap(OVERFLOWD)]
    out = []
    i = 0
    while len(out) < max(len(base), agents * 4):
        for dg in base:
            if dg[4:8] != b"\0\0\0\1":
                continue
            a = i % agents
            out.append(dg[:8] + struct.pack("!I", (10 << 24) | (1 << 16) | a) + dg[12:])
            i += 1
    return out, 5855 / len(base)


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def worker_pids(pid: int) -> list[int]:
    """The engine's worker processes: forked by its zygote (a child of the engine), or its
    own children when they were started as interpreters."""
    out = []
    for child in children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"engine.workers.zygote" in cmd:
            out += children(child)
        elif b"engine.workers.worker" in cmd:
            out.append(child)
    return sorted(out)


def put(http: int, path: str, body) -> None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{http}{path}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).read()


def ingest_step(n: int, dgs: list, per_dg: float, rate: float, seconds: float) -> dict:
    proc, http, sflow = start_engine([f"-Dsflow.workers={n}", "-Dsflow.rcvpktsbuffer=16000000"])
    try:
        for name, (keys, value) in DEFINITIONS.items():
            put(http, f"/flow/{name}/json", {"keys": keys, "value": value})
        pids = worker_pids(proc.pid) if n > 1 else [proc.pid]
        # warm up: every agent seen once, caches filled
        sock = open_sender("127.0.0.1", sflow)
        send_paced(sock, dgs, rate, count=len(dgs))
        time.sleep(1.0)
        before = analyzer(http)
        cpu0 = [cpu_seconds(p) for p in pids]
        front0 = cpu_seconds(proc.pid)
        drops0 = socket_drops(sflow)
        start = time.perf_counter()
        sent = send_paced(sock, dgs, rate, count=int(rate * seconds))
        send_time = time.perf_counter() - start
        last, stable = -1, 0
        while stable < 3:
            time.sleep(0.2)
            now = analyzer(http)["sFlowDatagramsReceived"]
            stable = stable + 1 if now == last else 0
            last = now
        after = analyzer(http)
        cpu = [cpu_seconds(p) - c for p, c in zip(pids, cpu0)]
        front = cpu_seconds(proc.pid) - front0 if n > 1 else 0.0
        sock.close()
    finally:
        proc.terminate()
        proc.wait(30)
    received = after["sFlowDatagramsReceived"] - before["sFlowDatagramsReceived"]
    samples = after["sFlowFlowSamples"] - before["sFlowFlowSamples"]
    return {
        "workers": n,
        "rate": rate,
        "sent": sent,
        "send_rate": sent / send_time,
        "received": received,
        "lost": sent - received,
        "socket_drops": socket_drops(sflow) - drops0,
        "samples": samples,
        "cpu": cpu,
        "front_cpu": front,
        "per_core": samples / max(sum(cpu), 1e-9),  # flow samples per worker CPU second
        "us_per_dg": sum(cpu) / max(received, 1) * 1e6,
    }


def bench_ingest(args) -> None:
    dgs, per_dg = replay(args.agents)
    print(
        f"overflowd replay over {args.agents} agents ({per_dg:.2f} flow samples/datagram), "
        f"5 definitions f1-f5, {args.rate:g} datagrams/s "
        f"({args.rate * per_dg:,.0f} flow samples/s){' per worker' if args.per_worker else ''}"
        f" for {args.seconds:g} s"
    )
    # each worker count measured `rounds` times, alternating (1, 2, 1, 2, ...): the best of
    # each (the least disturbed by whatever else the machine ran meanwhile) is compared
    counts = [int(w) for w in args.workers.split(",")]
    runs = [
        ingest_step(n, dgs, per_dg, args.rate * (n if args.per_worker else 1), args.seconds)
        for _ in range(args.rounds)
        for n in counts
    ]
    rows = [
        max((r for r in runs if r["workers"] == n), key=lambda r: r["per_core"]) for n in counts
    ]
    one = next((r["per_core"] for r in rows if r["workers"] == 1), None)
    print(
        f"{'workers':>7} {'dgram/s':>7} {'sent':>7} {'received':>8} {'lost':>6} {'flow samples/s':>14} "
        f"{'CPU s per worker':>20} {'front CPU s':>11} {'us CPU/dgram':>12} "
        f"{'per core (samples/CPU s)':>24} {'share':>6}"
    )
    for r in rows:
        share = f"{r['per_core'] / one:6.0%}" if one else "     -"
        print(
            f"{r['workers']:7d} {r['rate']:7.0f} {r['sent']:7d} {r['received']:8d} {r['lost']:6d} "
            f"{r['samples'] / args.seconds:14,.0f} {' '.join(f'{c:.2f}' for c in r['cpu']):>20} "
            f"{r['front_cpu']:11.2f} {r['us_per_dg']:12.1f} {r['per_core']:24,.0f} {share}"
        )


def bench_queries(args) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    os.environ.setdefault("FLOWRT_WORKERS", "1")
    from conftest import RunningEngine

    gen = TrafficGenerator(agents=200, flows=50, samples_per_second=20, hosts=True, seed=2)
    feeds = [(time.time() - 10 + sim, dgs) for sim, dgs in gen.run(10, 1.0)]
    calls = {
        "ping (one round trip)": lambda e: e.gather(None, "ping"),
        "metric(ALL, sum:ifinoctets)": lambda e: e.subsystems["metrics"].query_metric(
            "ALL", "sum:ifinoctets"
        ),
        "metric(1 agent, ifinoctets)": lambda e: e.subsystems["metrics"].query_metric(
            "192.0.2.7", "ifinoctets"
        ),
        "table(ALL, sort:ifinoctets:-10)": lambda e: e.subsystems["metrics"].query_table(
            "ALL", "ifindex,sort:ifinoctets:-10"
        ),
        "activeFlows(ALL, pair, 10)": lambda e: e.subsystems["flows"].active_flows(
            "ALL", "pair", 10
        ),
        "activeFlows(ALL, proto, 10, sum)": lambda e: e.subsystems["flows"].active_flows(
            "ALL", "proto", 10, None, "sum"
        ),
    }
    results = {}
    for n in (1, 2):
        eng = RunningEngine({"sflow.workers": n}).start()
        try:
            flows = eng.engine.subsystems["flows"]
            eng.call(flows.set_flow, "pair", {"keys": "ipsource,ipdestination", "value": "bytes"})
            eng.call(flows.set_flow, "proto", {"keys": "ipprotocol", "value": "frames"})

            def feed():
                for now, dgs in feeds:
                    for dg in dgs:
                        eng.engine.ingest(dg, "127.0.0.1", now)

            total = sum(len(d) for _, d in feeds)
            eng.call(feed)
            eng.wait_for(lambda: eng.engine.stats.datagrams >= total, 60)
            for name, fn in calls.items():
                if n == 1 and name.startswith("ping"):
                    continue

                def timed(fn=fn):
                    times = []
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        fn(eng.engine)
                        times.append(time.perf_counter() - t0)
                    return statistics.median(times)

                results[(name, n)] = eng.call(timed)
        finally:
            eng.stop()
    print(
        f"query round trips, 200 agents, median of {args.repeat} calls on the engine's loop "
        f"thread (wall time: indicative)"
    )
    print(f"{'call':<34} {'1 worker (in process)':>22} {'2 workers':>10}")
    for name in calls:
        one = results.get((name, 1))
        two = results[(name, 2)]
        print(
            f"{name:<34} {('-' if one is None else f'{one * 1e6:.0f} us'):>22} {two * 1e6:8.0f} us"
        )


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--workers", default="1,2", help="worker counts to measure (first: 1)")
    ap.add_argument("--rate", type=float, default=6000, help="datagrams/s offered")
    ap.add_argument(
        "--per-worker",
        action="store_true",
        help="offer --rate per worker (N workers: N x rate), so that each worker "
        "has the load one worker alone has",
    )
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=2, help="measurements per worker count")
    ap.add_argument("--repeat", type=int, default=200, help="calls per query timing")
    ap.add_argument("--skip-ingest", action="store_true")
    ap.add_argument("--skip-queries", action="store_true")
    args = ap.parse_args()
    if not args.skip_queries:
        bench_queries(args)
        print()
    if not args.skip_ingest:
        bench_ingest(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
