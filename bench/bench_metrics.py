"""Counter-metrics benchmark: update cost per counter sample, memory per agent, query latency.

    .venv/bin/python bench/bench_metrics.py [--agents 1000,10000] [--repeat 20]

Each simulated agent is a host (host_descr, cpu, memory, disk, net io, adapters: data source
2.1) with 4 switch-style interfaces (generic + ethernet counters), polled twice by the
generator; datagrams are decoded by the real decoder and fed to MetricStore.update(), so the
store holds what it holds in production (latest values and the previous records for rates).
Memory is tracemalloc's count of what the store keeps after both polls, divided by agents.
Times are CPU time of this process (time.process_time), so other load on a shared machine
stretches them less than wall-clock time would; wall-clock medians are printed alongside.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.metrics import MetricStore
from engine.sflow import decode_datagram
from engine.sflow.gen import Scenario, TrafficGenerator

QUERIES = [
    ("metric avg:load_one", lambda s, now: s.query_metric("ALL", "avg:load_one", now=now)),
    (
        "metric avg:load_one,max:cpu_utilization,avg:mem_utilization,sum:ifinoctets",
        lambda s, now: s.query_metric(
            "ALL", "avg:load_one,max:cpu_utilization,avg:mem_utilization,sum:ifinoctets", now=now
        ),
    ),
    (
        "metric avg:load_one,max:cpu_utilization filter host_name=vx1*",
        lambda s, now: s.query_metric(
            "ALL", "avg:load_one,max:cpu_utilization", {"host_name": ["vx1*"]}, now=now
        ),
    ),
    (
        "metric sum:ifinoctets filter host_name=vx1*,ifspeed=10e9",
        lambda s, now: s.query_metric(
            "ALL", "sum:ifinoctets", {"host_name": ["vx1*"], "ifspeed": ["10e9"]}, now=now
        ),
    ),
    (
        "metric med:ifinutilization",
        lambda s, now: s.query_metric("ALL", "med:ifinutilization", now=now),
    ),
    (
        "table sort:ifinutilization:-10,ifspeed,host_name",
        lambda s, now: s.query_table("ALL", "sort:ifinutilization:-10,ifspeed,host_name", now=now),
    ),
    ("dump one agent ALL", lambda s, now: s.query_dump("192.0.2.7", "ALL", now=now)),
    ("metric_names()", lambda s, now: s.metric_names(now=now)),
]


def polls(n_agents: int) -> list[list[bytes]]:
    gen = TrafficGenerator(
        Scenario(
            agents=n_agents,
            hosts=True,
            ports=4,
            flows=1,
            samples_per_second=0.001,
            polling_interval=20.0,
        )
    )
    return [gen.step(20.0), gen.step(20.0)]


def feed(store: MetricStore, datagrams: list[bytes], now: float) -> tuple[int, float]:
    n = 0
    t0 = time.process_time()
    for data in datagrams:
        dg = decode_datagram(data)
        for s in dg.samples:
            if s.kind == "counter":
                store.update(
                    dg.agent, s.data_source, s.ds_class, s.seq, s.records(), now, dg.uptime
                )
                n += 1
    return n, time.process_time() - t0


def run(n_agents: int, repeat: int) -> None:
    print(f"\n== {n_agents} agents (each: host 2.1 + 4 interfaces) ==")
    first, second = polls(n_agents)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    store = MetricStore(timeout=600)
    now = time.time()
    feed(store, first, now - 20)
    gc.collect()
    mem = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    # the second poll again without tracemalloc, for timing (it replaces the first's records)
    store = MetricStore(timeout=600)
    feed(store, first, now - 20)
    n, secs = feed(store, second, now)
    print(
        f"update: {n} counter samples, {secs / n * 1e6:.1f} us per sample "
        f"(decode + records() + update)"
    )
    print(
        f"memory: {mem / n_agents / 1024:.1f} KiB per agent "
        f"({store.memory_stats()['dataSources'] // n_agents} data sources, "
        f"{len(store.agents['192.0.2.7'].sources['2.1'].values)} host metrics)"
    )
    for label, fn in QUERIES:
        cpu, wall = [], []
        for _ in range(repeat):
            w0, c0 = time.perf_counter(), time.process_time()
            fn(store, now + 1)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        print(
            f"{label:62s} cpu median {statistics.median(cpu) * 1000:7.2f} ms  "
            f"min {min(cpu) * 1000:7.2f} ms  (wall median {statistics.median(wall) * 1000:7.2f} ms)"
        )
    res = store.query_metric("ALL", "avg:load_one", now=now + 1)[0]
    assert res["metricN"] == n_agents, res


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--agents", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    for n in (int(x) for x in args.agents.split(",")):
        run(n, args.repeat)


if __name__ == "__main__":
    main()
