"""Port-level agent selectors: query cost of TOPOLOGY / EDGE / CORE against ALL and an explicit
agent list, and of activeFlows aggMode edge / core.

    .venv/bin/python bench/bench_selectors.py [--leaves 200] [--ports 48] [--flows 100000]

A leaf-spine fabric: `--leaves` leaf switches with `--ports` interfaces each (the last two are
uplinks to two spines), every port polled twice (generic counters + ifName) straight into the
metric store of an in-process Engine; the topology names the links by port name, so the
link-port mapping is learned from the ifName counters as in production. The flow cache of one
definition holds `--flows` entries spread over every leaf port. Times are CPU medians.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.core import Engine
from engine.props import DEFAULTS, Properties


def agent(i: int) -> str:
    return f"10.{i // 250}.{i % 250}.1"


def build(leaves: int, ports: int, flows: int):
    eng = Engine(Properties(dict(DEFAULTS)))
    store, fe, topo = (eng.subsystems[k] for k in ("metrics", "flows", "topology"))
    now = time.time()
    switches = [(agent(i), f"leaf{i}", ports) for i in range(leaves)]
    switches += [(agent(leaves + s), f"spine{s}", leaves) for s in range(2)]
    for poll in (0, 1):
        t = now - 20 + 20 * poll
        for address, name, n in switches:
            store.update(
                address,
                "2.1",
                2,
                poll + 1,
                [{"counterBlock_tag": "0:2000", "hostname": name}],
                t,
                1000 + poll * 20000,
            )
            for p in range(1, n + 1):
                store.update(
                    address,
                    str(p),
                    0,
                    poll + 1,
                    [
                        {
                            "counterBlock_tag": "0:1",
                            "ifIndex": p,
                            "ifSpeed": 10**10,
                            "ifInOctets": (poll + 1) * p * 1000,
                            "ifOutOctets": 0,
                        },
                        {"counterBlock_tag": "0:1005", "ifName": f"eth{p}"},
                    ],
                    t,
                    1000 + poll * 20000,
                )
    links = {}
    for i in range(leaves):
        for s in range(2):
            links[f"l{i}s{s}"] = {
                "node1": f"leaf{i}",
                "port1": f"eth{ports - 1 + s}",
                "node2": f"spine{s}",
                "port2": f"eth{i + 1}",
            }
    topo.set({"links": links})
    fe.set_flow("f", {"keys": "ipsource,ipdestination", "value": "frames", "t": 10})
    table = fe.tables["f"]
    for k in range(flows):
        i = k % leaves
        table.entries[
            (agent(i), str(1 + k % ports), f"10.9.{k // 250 % 250}.{k % 250}", "10.8.0.1")
        ] = [1.0 + k % 7, now, 1.0, now]
    return eng, store, fe, topo, now


def timed(fn, repeat: int) -> float:
    cpu = []
    for _ in range(repeat):
        c0 = time.process_time()
        fn()
        cpu.append(time.process_time() - c0)
    return statistics.median(cpu) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--leaves", type=int, default=200)
    ap.add_argument("--ports", type=int, default=48)
    ap.add_argument("--flows", type=int, default=100000)
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    eng, store, fe, topo, now = build(a.leaves, a.ports, a.flows)
    t0 = time.process_time()
    topo._maps = None
    topo.edge_selection()
    print(
        f"{a.leaves} leaves x {a.ports} ports + 2 spines; building the port sets once: "
        f"{(time.process_time() - t0) * 1000:.1f} ms"
    )
    some = ",".join(agent(i) for i in range(a.leaves))
    n = {
        sel: store.query_metric(sel, "sum:ifinoctets", now=now + 1)[0]["metricN"]
        for sel in ("ALL", "TOPOLOGY", "EDGE", "CORE")
    }
    print(f"data sources with ifinoctets: {n}")
    assert n["EDGE"] + n["CORE"] == n["TOPOLOGY"] and n["CORE"] == 4 * a.leaves
    for label, sel in (
        ("ALL", "ALL"),
        ("leaf list", some),
        ("TOPOLOGY", "TOPOLOGY"),
        ("EDGE", "EDGE"),
        ("CORE", "CORE"),
    ):
        ms = timed(lambda: store.query_metric(sel, "sum:ifinoctets", now=now + 1), a.repeat)
        td = timed(lambda: store.query_table(sel, "sort:ifinoctets:-10", now=now + 1), a.repeat)
        print(f"metric {label:10s} sum:ifinoctets {ms:7.2f} ms   table sort:-10 {td:7.2f} ms")
    for label, sel, mode in (
        ("ALL sum", "ALL", "sum"),
        ("ALL edge", "ALL", "edge"),
        ("EDGE sum", "EDGE", "sum"),
        ("ALL core", "ALL", "core"),
        ("TOPOLOGY edge", "TOPOLOGY", "edge"),
    ):
        ms = timed(
            lambda: fe.active_flows(sel, "f", 20, 0, mode, now=now + 1), max(3, a.repeat // 4)
        )
        print(f"activeFlows {label:14s} {ms:8.1f} ms ({a.flows} cache entries)")


if __name__ == "__main__":
    main()
