"""sFlow workers (docs/ingest.md, "Workers"): an engine whose agents are spread over two worker
processes answers every API as an in-process engine fed the same datagrams.

Both engines get the same datagrams (8 generator agents: the steering program puts 4 on each
worker; plus two switches of a topology, one per worker) through ``Engine.ingest`` with fixed
receive times, and are asked through the engine functions REST and scripts call, with the same
``now``: every answer must agree, exactly, or for sums of floats up to rounding. Real UDP from
several sockets checks the kernel's steering. Worker restart, hang and stop are tested on
engines of their own."""

from __future__ import annotations

import math
import os
import random
import signal
import socket
import time
import urllib.request

import pytest

from conftest import RunningEngine, free_port
from engine import log
from engine.agents import agents_json
from engine.flows import topn
from engine.metrics.aggregate import AGGREGATIONS
from bgp_peer import RawPeer, attrs_bytes, pack_updates
from engine.bgp.traffic import DST, SRC
from engine.sflow import encode
from engine.sflow.gen import TrafficGenerator, container_mac
from engine.workers.steering import worker_of

SECONDS = 20
AHEAD = 300  # seconds the pair's traffic is timed ahead of the wall clock (see pair)
AGENTS = [f"192.0.2.{i}" for i in range(1, 9)]
SW0, SW1 = "192.0.2.1", "192.0.2.3"  # topology switches, on worker 0 and worker 1
TOPOLOGY = {
    "nodes": {
        "sw0": {"agent": SW0, "ports": {"p1": {"ifindex": "1"}, "p2": {"ifindex": "2"}}},
        "sw1": {"agent": SW1, "ports": {"p1": {"ifindex": "1"}, "p2": {"ifindex": "2"}}},
    },
    "links": {"sw0-sw1": {"node1": "sw0", "port1": "p1", "node2": "sw1", "port2": "p1"}},
}
FLOWS = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "proto": {"keys": "ipprotocol", "value": "frames", "aggMode": "sum"},
    "dst24": {"keys": "mask:ipdestination:24", "value": "bytes", "t": 10},
    "grp": {"keys": "group:ipdestination:nets,map:ipprotocol:protos", "value": "frames"},
    "multi": {"keys": "ipdestination", "value": "bytes", "values": ["frames"]},
    "link": {"keys": "link:inputifindex,ipprotocol", "value": "frames"},
    "geo": {"keys": "country:ipdestination,asn:ipdestination", "value": "bytes"},
    "bgp": {
        "keys": "bgpdestinationas,bgpdestinationaspath,ipdestinationmaskbits,bgpas",
        "value": "bytes",
    },
    "logged": {"keys": "ipsource", "value": "frames", "log": True, "flowStart": True},
}
# container and host names learned from other agents' host counters (engine/hosts), defined
# half-way, once every host has reported (a worker learns another worker's host a round trip
# after its counters arrive; in process at once)
LATE_FLOWS = {
    "hosts": {"keys": "host:macsource:vir_host_name,host:macsource:host_name", "value": "frames"}
}
# re-armed only after 10 minutes below: triggered states stay put while the tests look
THRESHOLDS = {
    "busy": {"metric": "proto", "value": 1000, "timeout": 600},
    "perflow": {"metric": "pair", "value": 2e6, "byFlow": True, "timeout": 600},
    "octets": {"metric": "ifinoctets", "value": 1, "timeout": 600},
}


def _define(eng: RunningEngine) -> None:
    """Everything through REST, as a user would (each change reaches every worker)."""
    assert (
        eng.request("PUT", "/group/nets/json", {"low": ["10.2.0.0/17"], "high": ["10.2.128.0/17"]})[
            0
        ]
        == 204
    )
    assert eng.request("PUT", "/map/protos/json", {"tcp": ["6"], "udp": ["17"]})[0] == 204
    assert eng.request("PUT", "/topology/json", TOPOLOGY)[0] == 204
    for name, spec in FLOWS.items():
        assert eng.request("PUT", f"/flow/{name}/json", spec)[0] == 204, name
    for name, spec in THRESHOLDS.items():
        assert eng.request("PUT", f"/threshold/{name}/json", spec)[0] == 204, name


def _traffic(t0: float) -> list:
    gen = TrafficGenerator(
        agents=8,
        flows=60,
        samples_per_second=40,
        hosts=True,
        containers=2,
        ipv6_fraction=0.2,
        discards_per_second=1,
        polling_interval=5,
        seed=7,
    )
    # agent 192.0.2.3 (worker 1) sees traffic of containers that agents 192.0.2.1 and
    # 192.0.2.5 (worker 0) report, and of one of its own
    for number, index in ((0, 1), (4, 2), (2, 1)):
        gen.add_flow(
            2,
            src=f"10.9.{number}.{index}",
            dst="10.9.9.9",
            src_mac=container_mac(number, index),
            frames_per_second=5000.0,
        )
    # public destinations (country:, asn:) from agents on both workers
    for agent, dst in ((0, "8.8.8.8"), (2, "8.8.4.4"), (3, "1.1.1.1"), (4, "9.9.9.9")):
        gen.add_flow(
            agent, src=f"10.1.{agent}.9", dst=dst, proto="udp", dport=53, frames_per_second=2000.0
        )
    return [(t0 + sim, dgs) for sim, dgs in gen.run(SECONDS, 1.0)]


def _feed(eng: RunningEngine, feeds: list) -> None:
    """Second by second, as the datagrams would arrive: each second's records and shared
    state are exchanged (Engine.sync) before the next second's datagrams."""
    total = sum(len(dgs) for _, dgs in feeds)
    base = eng.engine.stats.datagrams
    flows = eng.engine.subsystems["flows"]

    def feed():
        for i, (now, dgs) in enumerate(feeds):
            if i == len(feeds) // 2:
                for name, spec in LATE_FLOWS.items():
                    flows.set_flow(name, spec)
            for dg in dgs:
                eng.engine.ingest(dg, "127.0.0.1", now)
            eng.engine.sync()

    eng.call(feed)
    eng.wait_for(lambda: eng.engine.stats.datagrams >= base + total, 30)


ROUTES = {
    "10.2.0.0/17": (65254, 174),
    "10.2.128.0/17": (65254, 3356, 64512),
    "8.8.8.0/24": (65254, 15169),
    "1.1.1.0/24": (65254, 13335),
}


def _routes(eng: RunningEngine) -> RawPeer:
    """A BGP peer with a few routes; every agent's traffic accounted to it (bgpAddSource ALL).
    With workers the table reaches every worker."""
    bgp = eng.engine.subsystems["bgp"]
    eng.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162")
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
    peer.handshake()
    for prefix, aspath in ROUTES.items():
        net, plen = prefix.split("/")
        for msg in pack_updates([(socket.inet_aton(net), int(plen))], attrs_bytes(aspath=aspath)):
            peer.send(msg)
    eng.wait_for(lambda: len(bgp.neighbors["127.0.0.1"].rib4) == len(ROUTES))
    assert eng.call(bgp.add_source, "ALL", "127.0.0.1", 10, "bytes")
    return peer


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(one in-process engine, one with two workers, the `now` to ask with)."""
    # the datagrams carry receive times ahead of the wall clock: the engines' once-a-second
    # housekeeping (engine/flows/engine.py tick) ends a flow 10 s after its last sample by the
    # wall clock, at a different moment in each engine; in the past, a slow run (a loaded
    # machine, parallel workers) would see flows ended in one engine and not yet in the other
    t0 = time.time() + AHEAD
    feeds = _traffic(t0)
    engines, peers = [], []
    try:
        for n in (1, 2):
            eng = RunningEngine(
                {"sflow.workers": n, "bgp.start": "yes", "bgp.port": 0},
                tmp_path_factory.mktemp(f"workers{n}"),
            )
            engines.append(eng.start())
            peers.append(_routes(eng))
            _define(eng)
            _feed(eng, feeds)
        assert engines[0].engine.cluster is None and len(engines[1].engine.cluster.slots) == 2
        yield engines[0], engines[1], t0 + SECONDS + 0.5
    finally:
        for peer in peers:
            peer.close()
        for eng in engines:
            eng.stop()


def same(a, b, path="") -> None:
    """Equal, floats to 1e-9 relative (sums of floats added in another order)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, (int, float)) and isinstance(b, (int, float)), (path, a, b)
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), (path, list(a), b)
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), (path, a, b)
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def ask(pair, subsystem: str | None, method: str, *args, **kw):
    """The same engine function on both engines: (in-process answer, two-worker answer)."""
    one, two, _ = pair

    def call(eng):
        obj = eng.engine if subsystem is None else eng.engine.subsystems[subsystem]
        return eng.call(lambda: getattr(obj, method)(*args, **kw))

    return call(one), call(two)


def test_agents_are_split_over_both_workers_by_address(pair):
    _, two, now = pair
    parts = two.call(two.engine.gather, None, "agents_partial", [], now)
    assert len(parts) == 2 and all(parts)
    for w, part in enumerate(parts):
        assert all(worker_of(encode.datagram(a, 1, 1, []), 2) == w for a in part), (w, list(part))
    assert sorted(a for p in parts for a in p) == AGENTS


def test_agents_and_analyzer(pair):
    now = pair[2]
    for selector in (
        None,
        "ALL",
        [SW0, SW1],
        f"{SW0};192.0.2.8",
        "vx2host",
        "EDGE",
        "CORE",
        "TOPOLOGY",
    ):
        a, b = (pair[i].call(agents_json, pair[i].engine, selector, now) for i in (0, 1))
        same(a, b, str(selector))
        assert a or selector == "CORE"
    a, b = ask(pair, None, "analyzer_json")
    for key in a:
        if key.startswith("sFlow") and key != "sFlowKernelDrops":
            assert a[key] == b[key], key
    assert a["sFlowAgents"] == 8 and a["sFlowFlowSamples"] > 5000


@pytest.mark.parametrize(
    "name",
    [
        "ifinoctets",
        "ifoututilization",
        "load_one",
        "host_name",
        "ifspeed",
        "cpu_utilization",
        "pair",
        "vir_host_name",
    ],
)
def test_metric_every_aggregation(pair, name):
    now = pair[2]
    specs = [f"{agg}:{name}" for agg in AGGREGATIONS]
    for agents in ("ALL", [SW0, SW1], "192.0.2.2", "EDGE", "CORE"):
        a, b = ask(pair, "metrics", "query_metric", agents, specs, None, now)
        same(a, b, f"{agents} {name}")
        if agents == "ALL":
            assert a[0]["metricN"] > 0, a
    flt = {"ifindex": ["1", "2"], "host_name": ["vx*"]}
    a, b = ask(pair, "metrics", "query_metric", "ALL", specs, flt, now)
    same(a, b, "filtered")


@pytest.mark.parametrize(
    "columns",
    [
        "ifinoctets",
        "ifindex,ifinoctets,null:ifoutoctets",
        "sort:ifinoctets:-5,ifindex",
        "host_name,sort:load_one:3",
        "sort:host_name:-4,load_one",
        "sort:ifinoctets,ifspeed",
        "pair,null:ifinoctets",
    ],
)
def test_table(pair, columns):
    now = pair[2]
    for agents in ("ALL", [SW0, "192.0.2.4"], "EDGE"):
        a, b = ask(pair, "metrics", "query_table", agents, columns, None, now)
        same(a, b, f"{agents} {columns}")
    assert a is not None


@pytest.mark.parametrize("metrics", ["ALL", "ifinoctets;load_one", "pair,ifspeed", "2.1.load_one"])
def test_dump_and_prometheus(pair, metrics):
    now = pair[2]
    for agents in ("ALL", [SW1, "192.0.2.2"], "CORE"):
        a, b = ask(pair, "metrics", "query_dump", agents, metrics, None, now)
        same(a, b, f"{agents} {metrics}")
    one, two, _ = pair
    path = "/prometheus/metrics/ALL/ifinoctets,load_one,cpu_utilization/txt"
    texts = []
    for eng in (one, two):
        with __import__("urllib.request").request.urlopen(eng.http_url + path) as reply:
            texts.append(reply.read().decode())
    assert texts[0] == texts[1] and 'host="vx3host"' in texts[0]


def test_names_agent_metrics_datasource_info(pair):
    now = pair[2]
    a, b = ask(pair, "metrics", "metric_names", now)
    assert a.keys() == b.keys() and "pair" in a and "load_one" in a
    for agent in (SW0, SW1, "192.0.2.8", "vx4host", "192.0.2.200", "TOPOLOGY"):
        a, b = ask(pair, "metrics", "agent_metrics", agent, now)
        same(a, b, agent)
        a, b = ask(pair, "metrics", "datasource_info", agent, "1", now)
        same(a, b, agent)


@pytest.mark.parametrize("name", list(FLOWS) + list(LATE_FLOWS))
def test_active_flows_every_mode(pair, name):
    """Exact top N: the same keys, values, flowN and locations in every aggMode, for small and
    large N, minValue and key filters (engine/flows/topn.py)."""
    now = pair[2]
    for mode in (None, "sum", "max", "edge", "core"):
        for k in (1, 3, 10, 100, -1):
            a, b = ask(pair, "flows", "active_flows", "ALL", name, k, None, mode, now)
            _same_flows(a, b, f"{name} {mode} {k}")
    a, b = ask(pair, "flows", "active_flows", "ALL", name, 5, None, "sum", now)
    if a:
        floor = a[-1]["value"] * 0.5
        for mode in ("sum", "max"):
            x, y = ask(
                pair, "flows", "active_flows", [SW0, SW1, "192.0.2.6"], name, 7, floor, mode, now
            )
            _same_flows(x, y, f"{name} {mode} minValue")
    x, y = ask(
        pair,
        "flows",
        "active_flows",
        "ALL",
        name,
        20,
        None,
        "sum",
        now,
        "agent=192.0.2.1,192.0.2.4",
    )
    _same_flows(x, y, "filtered")


def _same_flows(a: list, b: list, what: str) -> None:
    assert [r["value"] for r in a] == sorted((r["value"] for r in a), reverse=True)
    same(sorted(a, key=lambda r: r["key"]), sorted(b, key=lambda r: r["key"]), what)


def test_flows_seen_by_agents_on_both_workers_are_summed(pair):
    """The case per-worker top N gets wrong: a key whose total is spread over both workers."""
    one, two, now = pair
    a, b = ask(pair, "flows", "active_flows", "ALL", "dst24", 5, None, "sum", now)
    _same_flows(a, b, "dst24")
    spread = 0
    for row in a:
        parts = two.call(
            two.engine.gather, "flows", "locations_partial", "ALL", "dst24", None, row["key"], now
        )
        assert row["flowN"] == sum(len(p) for p in parts)
        spread += all(parts)
    assert spread >= 2  # most of the top keys are seen by agents of both workers


def test_flow_value_locations_keys(pair):
    now = pair[2]
    top, _ = ask(pair, "flows", "active_flows", "ALL", "dst24", 10, None, "sum", now)
    for row in top:
        a, b = ask(pair, "flows", "flow_locations", "ALL", "dst24", row["key"], now)
        same(a, b, row["key"])
        a, b = ask(
            pair, "flows", "flow_value", row["agent"], f"{row['dataSource']}.dst24", row["key"], now
        )
        same(a, b, row["key"])
        assert a is not None
    a, b = ask(pair, "flows", "flow_keys", now)
    assert a.keys() == b.keys() and "ipsource" in a


def test_events_flow_records_and_triggered(pair):
    """Records and events made in the workers land in the front's journals: the same set."""
    one, two, _ = pair
    for eng in (one, two):  # counter thresholds are checked once a second
        eng.wait_for(
            lambda e=eng: any(
                ev["thresholdID"] == "octets" for ev in e.get_json("/events/json?maxEvents=1000")
            ),
            10,
        )
    time.sleep(1.5)

    def events(eng):
        return sorted(
            (e["thresholdID"], e["agent"], e["dataSource"], e.get("flowKey", ""), e["metric"])
            for e in eng.get_json("/events/json?maxEvents=1000")
        )

    def records(eng):
        return sorted(
            (r["name"], r["agent"], r["dataSource"], r["flowKeys"], r["value"], r["start"])
            for r in eng.get_json("/flows/json?maxFlows=1000")
        )

    assert events(one) == events(two) and len(events(one)) > 20
    assert records(one) == records(two) and records(one)
    ids = [e["eventID"] for e in two.get_json("/events/json?maxEvents=1000")]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    for ev in one.get_json("/events/json?maxEvents=50"):
        args = (
            ev["thresholdID"],
            ev["agent"],
            f"{ev['dataSource']}.{ev['metric']}",
            ev.get("flowKey"),
        )
        a, b = ask(pair, "flows", "threshold_triggered", *args)
        assert a == b
    assert not any(ask(pair, "flows", "threshold_triggered", "busy", "192.0.2.77", "1.proto"))


def test_bgp_prefix_traffic_and_keys(pair):
    """The front's RIB reaches both workers (bgp* keys in their flows), and prefix traffic
    accounted in both is summed (bgpTopPrefixes)."""
    one, two, now = pair
    for direction in (DST, SRC):
        a, b = (
            eng.call(
                eng.engine.gather,
                "bgp",
                "prefix_values_partial",
                "127.0.0.1",
                False,
                direction,
                now,
            )
            for eng in (one, two)
        )
        assert len(a) == 1 and len(b) == 2
        if direction == DST:  # (the sources, 10.1/16 and 10.9/16, have no route)
            assert all(p[0] for p in b)
        merged: dict = {}
        for values, _ in b:
            for k, v in values.items():
                merged[k] = merged.get(k, 0.0) + v
        same(dict(sorted(a[0][0].items())), dict(sorted(merged.items())))
        assert math.isclose(a[0][1], sum(p[1] for p in b), rel_tol=1e-9)
    tops = [
        eng.call(eng.engine.subsystems["bgp"].top_prefixes, "127.0.0.1", 10) for eng in pair[:2]
    ]
    # asked a moment apart (values decay with time): equal up to that, prefix by prefix
    values = [{e["prefix"]: e["value"] for e in top["topPrefixes"]} for top in tops]
    assert values[0] == pytest.approx(values[1], rel=1e-2) and set(values[0]) == set(ROUTES)
    rows, _ = ask(pair, "flows", "active_flows", "ALL", "bgp", 10, None, "sum", now)
    assert {r["key"].split(",")[0] for r in rows} >= {"174", "64512", "15169", "13335"}
    rows, _ = ask(pair, "flows", "active_flows", "ALL", "geo", 10, None, "sum", now)
    assert {r["key"] for r in rows} >= {"US,15169", "AU,13335", "CH,19281"}, rows


def test_topology_queries_on_the_front(pair):
    a, b = ask(pair, "topology", "interface_to_link", SW1, "1")
    same(a, b)
    assert a["linkname"] == "sw0-sw1"
    a, b = ask(pair, "topology", "link_metric", "sw0-sw1", "ifinoctets,ifspeed")
    for x, y in zip(a, b):
        x.pop("lastUpdate", None), y.pop("lastUpdate", None)
        x.pop("lastUpdateMin", None), y.pop("lastUpdateMin", None)
        x.pop("lastUpdateMax", None), y.pop("lastUpdateMax", None)
    same(a, b)
    a, b = ask(pair, "topology", "nodes_for_agent", SW1)
    assert a == b == ["sw1"]


def test_host_keys_learned_in_another_worker(pair):
    """host:macsource:...: the MACs are of containers whose host counters another worker
    receives (engine/hosts through the shared table "hosts")."""
    _, two, now = pair
    rows = two.call(two.engine.subsystems["flows"].active_flows, "192.0.2.3", "hosts", 10)
    hosts = {r["key"].split(",")[1] for r in rows}
    assert {"vx0host", "vx4host", "vx2host"} <= hosts, rows
    owner = two.engine.subsystems["hosts"].shared.origin
    assert {owner[("192.0.2.1", "3.1")], owner[("192.0.2.3", "3.1")]} == {0, 1}


def test_shared_names_reach_every_worker(pair):
    """A host_name learned by one worker is known to the other and to the front."""
    _, two, _ = pair
    owner = worker_of(encode.datagram(SW1, 1, 1, []), 2)
    names = two.call(two.engine.gather, "metrics.names", "get", (SW1, ""))
    assert names == ["vx2host", "vx2host"]
    local = two.call(two.engine.gather, "metrics.names", "__len__")
    assert local[0] == local[1] > 0
    assert two.engine.subsystems["metrics"].names.origin[(SW1, "")] == owner


def test_udp_from_several_sockets_steered_by_agent(make_engine):
    """Real datagrams from several source sockets (one per agent, and one socket for many
    agents): each worker gets exactly the agents the steering program gives it."""
    eng = make_engine({"sflow.workers": 2})
    agents = [f"198.51.100.{i}" for i in range(1, 21)] + ["2001:db8::1", "2001:db8::7"]
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(4)]
    try:
        for seq in range(1, 4):
            for i, agent in enumerate(agents):
                socks[i % len(socks)].sendto(
                    encode.datagram(agent, seq, seq * 1000, []), ("127.0.0.1", eng.sflow_port)
                )
        eng.wait_datagrams(3 * len(agents))
    finally:
        for s in socks:
            s.close()
    parts = eng.call(eng.engine.gather, None, "agents_partial", [], time.time())
    for w, part in enumerate(parts):
        want = {a for a in agents if worker_of(encode.datagram(a, 1, 1, []), 2) == w}
        assert set(part) == want and want
        assert all(v["sFlowDatagramsReceived"] == 3 for v in part.values())
    assert sorted(eng.get_json("/agents/json")) == sorted(agents)
    assert eng.get_json("/analyzer/json")["sFlowAgents"] == len(agents)


def test_definition_reaches_workers_before_the_next_datagram_and_query(make_engine):
    """setFlow then ingest then activeFlows, back to back: the workers apply the definition
    first (configuration and datagrams share the control socket, in order)."""
    eng = make_engine({"sflow.workers": 2})
    gen = TrafficGenerator(agents=4, flows=5, samples_per_second=20, seed=3)
    dgs = [d for _, ds in gen.run(2, 1.0) for d in ds]
    flows = eng.engine.subsystems["flows"]

    def define_feed_ask():
        now = time.time()
        flows.set_flow("quick", {"keys": "agent", "value": "frames"})
        for dg in dgs:
            eng.engine.ingest(dg, "127.0.0.1", now)
        return flows.active_flows("ALL", "quick", 10, None, None, now)

    rows = eng.call(define_feed_ask)
    assert sorted(r["key"] for r in rows) == [a.address for a in gen.agents]


def test_topn_matches_brute_force_on_random_partitions():
    """TPUT against summing everything, over random spreads of keys across 2-5 processes."""
    rng = random.Random(5)
    for trial in range(300):
        m = rng.randint(2, 5)
        keys = [(f"k{i}",) for i in range(rng.randint(1, 80))]
        procs = []
        for pid in range(m):
            rows = {}
            for key in rng.sample(keys, rng.randint(0, len(keys))):
                v = rng.expovariate(1.0) * (10 if key[0] < "k2" else 1)
                rows[key] = (key, v, 1, v, f"a{pid}", "1", None)
            procs.append((pid, rows))
        summing = rng.random() < 0.6
        k = rng.choice([1, 2, 5, 10, 40, -1])
        floor = rng.choice([None, None, 0.5, 2.0])
        asked = []

        def ask_all(request):
            asked.append(request[0])
            out = []
            for pid, rows in procs:
                items = sorted(rows.values(), key=lambda r: r[1], reverse=True)
                if request[0] == "top":
                    if request[2] is not None:
                        items = [r for r in items if r[1] >= request[2]]
                    chosen = items if request[1] < 0 else items[: request[1]]
                    state[pid] = {r[0] for r in chosen}
                elif request[0] == "above":
                    chosen = [r for r in items if r[1] >= request[1] and r[0] not in state[pid]]
                    state[pid] |= {r[0] for r in chosen}
                else:
                    chosen = [rows[key] for key in request[1].get(pid, ()) if key in rows]
                out.append((pid, chosen, len(state[pid]) >= len(rows)))
            return out

        state: dict = {}
        got = topn.top_rows(ask_all, k, floor, summing)
        merged = {}
        for _, rows in procs:
            for key, r in rows.items():
                merged.setdefault(key, []).append(r)
        truth = [topn.merge_rows(rs, summing) for rs in merged.values()]
        truth = [r for r in truth if floor is None or r[1] >= floor]
        truth.sort(key=lambda r: r[1], reverse=True)
        if k >= 0:
            truth = truth[:k]
        assert [(r[0], round(r[1], 9), r[2]) for r in got] == [
            (r[0], round(r[1], 9), r[2]) for r in truth
        ], (trial, asked)
        assert len(asked) <= 3


@pytest.fixture
def info_log():
    level = log.log.level
    if not getattr(log.log, "_flowrt_configured", False):
        log.setup("INFO")
    log.log.setLevel(min(level or 20, 20))
    yield
    log.log.setLevel(level)


def _messages() -> list[str]:
    return [r["message"] for r in log.recent]


def test_dead_worker_is_restarted_and_the_other_keeps_running(make_engine, info_log):
    eng = make_engine({"sflow.workers": 2})
    gen = TrafficGenerator(agents=8, flows=5, samples_per_second=20, seed=11)
    flows = eng.engine.subsystems["flows"]
    eng.call(flows.set_flow, "byagent", {"keys": "agent", "value": "frames", "t": 60})
    cluster = eng.engine.cluster
    first = gen.step(1.0)
    eng.send(first)
    eng.wait_datagrams(len(first))
    before = eng.engine.stats.datagrams
    victim = cluster.slots[1].proc.pid
    os.kill(victim, signal.SIGKILL)
    eng.wait_for(lambda: any(f"sFlow worker 1 (pid {victim})" in m for m in _messages()), 10)
    # worker 0's agents are answered meanwhile, worker 1's are gone with it
    survivors = {
        a.address for a in gen.agents if worker_of(encode.datagram(a.address, 1, 1, []), 2) == 0
    }
    keys = {r["key"] for r in eng.call(flows.active_flows, "ALL", "byagent", 100)}
    assert survivors <= keys
    eng.wait_for(
        lambda: (
            cluster.slots[1].alive
            and cluster.slots[1].proc.pid != victim
            and cluster.slots[1].ready.done()
        ),
        15,
    )
    assert any("sFlow worker 1 restarted" in m for m in _messages())
    assert eng.engine.stats.datagrams >= before  # counters never go back
    # the new worker got the definition, and rebuilds its agents' state from new traffic
    more = gen.step(1.0)
    eng.send(more)
    eng.wait_datagrams(before + len(more))
    keys = {r["key"] for r in eng.call(flows.active_flows, "ALL", "byagent", 100)}
    assert keys == {a.address for a in gen.agents}


def test_hung_worker_is_given_up_on_and_replaced(make_engine, info_log):
    eng = make_engine({"sflow.workers": 2, "sflow.workers.timeout": 1})
    cluster = eng.engine.cluster
    victim = cluster.slots[0].proc.pid
    os.kill(victim, signal.SIGSTOP)
    try:
        started = time.monotonic()
        assert eng.get_json("/agents/json") == {}  # answered by the other worker
        assert time.monotonic() - started < 5
        assert any("did not answer" in m for m in _messages())
        eng.wait_for(lambda: cluster.slots[0].alive and cluster.slots[0].proc.pid != victim, 15)
    finally:
        try:
            os.kill(victim, signal.SIGCONT)
        except ProcessLookupError:
            pass


def test_stop_ends_every_worker_within_seconds(tmp_path):
    from test_start import start_engine, stop_engine

    http, sflow = free_port("tcp"), free_port("udp")
    proc, lines = start_engine(
        tmp_path,
        [
            f"-Dhttp.port={http}",
            f"-Dsflow.port={sflow}",
            "-Dhttp.hostname=127.0.0.1",
            "-Dsflow.hostname=127.0.0.1",
            "-Dsflow.workers=3",
        ],
    )
    try:
        line = next(l for l in lines if "sFlow workers: 3" in l)
        pids = [int(p) for p in line.split("(pids ")[1].rstrip(")").split(", ")]
        assert all(os.path.exists(f"/proc/{p}") for p in pids)
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            pids += [int(p) for p in f.read().split()]  # the zygote too
    finally:
        started = time.monotonic()
        assert stop_engine(proc) == 0
    stopped = time.monotonic() - started
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in pids if _alive(p)]
    # a few seconds on a quiet machine (workers get 2 s, then are killed); more under CI load
    assert not left and time.monotonic() - started < 10, (left, stopped)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_shared_table_local_remote_withdraw():
    """engine/shared.py: local keys win, other processes' come through apply_remote, a dead
    worker's keys go with withdraw_origin, listeners see remote changes, a worker's changes
    are batched for publishing."""
    from engine.shared import SharedTable

    notified = []
    worker = SharedTable("t", notify=notified.append)
    worker.set("a", 1)
    worker.set("a", 1)  # unchanged: nothing to publish
    worker.set("b", 2)
    assert notified == [worker] and worker.take_changes() == {"a": 1, "b": 2}
    worker.delete("b")
    assert worker.take_changes() == {"b": None} and worker.take_changes() == {}
    front = SharedTable("t")
    seen = []
    front.listeners.append(seen.append)
    front.apply_remote({"a": 1, "x": 9}, origin=0)
    front.apply_remote({"y": 8}, origin=1)
    assert dict(front.items()) == {"a": 1, "x": 9, "y": 8} and front.get("y") == 8
    version = front.version
    assert front.withdraw_origin(0) == {"a": None, "x": None}
    assert dict(front.items()) == {"y": 8} and front.version > version
    assert seen == [{"a": 1, "x": 9}, {"y": 8}, {"a": None, "x": None}]
    other = SharedTable("t")
    other.apply_remote(front.snapshot())
    other.set("y", 7)  # its own value wins over the copy
    assert other.get("y") == 7 and dict(other.items()) == {"y": 7}


# -- issue 13's single-process speed-ups in every worker ------------------------------------
F1_F5 = {
    "f1": {
        "keys": "ipsource,ipdestination,ipprotocol,or:tcpsourceport:udpsourceport,"
        "or:tcpdestinationport:udpdestinationport",
        "value": "frames",
    },
    "f2": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "f3": {"keys": "macsource,macdestination,vlan", "value": "frames"},
    "f4": {"keys": "or:tcpdestinationport:udpdestinationport,ipprotocol", "value": "bytes"},
    "f5": {"keys": "agent,inputifindex,outputifindex", "value": "frames"},
}


def _on_both(agents: list[str]) -> None:
    assert {worker_of(encode.datagram(a, 1, 1, []), 2) for a in agents} == {0, 1}


def test_workers_run_the_c_batch_ingest(make_engine):
    """Each worker takes its datagrams through the C batch path (flow samples into the C
    pipeline, port counters into the metric store, no Python object per sample), both from
    its socket and from Engine.ingest_batch on the front, which ingests nothing itself."""
    from engine import accel_disabled

    eng = make_engine({"sflow.workers": 2})
    for name, spec in F1_F5.items():
        assert eng.request("PUT", f"/flow/{name}/json", spec)[0] == 204
    gen = TrafficGenerator(agents=8, flows=20, samples_per_second=100, seed=13)
    _on_both([a.address for a in gen.agents])
    batches = [ds for _, ds in gen.run(50, 1.0)]  # counters every 20 s: 3 polls
    half = len(batches) // 2
    sent = eng.send_paced([d for ds in batches[:half] for d in ds])  # real UDP
    rest = [(d, "127.0.0.1", time.time()) for ds in batches[half:] for d in ds]
    eng.call(eng.engine.ingest_batch, rest)  # the front's batch
    eng.wait_datagrams(sent + len(rest))
    counts = eng.call(eng.engine.gather, "ingest_path", "counts")
    assert len(counts) == 2
    assert eng.engine.ingest_path.counts() is None  # nothing ingested on the front
    if accel_disabled():
        assert counts == [None, None]  # the Python reference path
    else:
        for c in counts:
            assert c["c_flow_samples"] > 100 and c["c_counter_samples"] > 0, counts
    analyzer = eng.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == sent + len(rest)
    assert analyzer["sFlowAgents"] == 8
    top = eng.get_json("/activeflows/ALL/f5/json?maxFlows=100")
    assert {r["key"].split(",")[0] for r in top} == {a.address for a in gen.agents}


def test_queue_expiry_counted_by_every_worker_and_summed(make_engine):
    """sflow.receiver.maxage in the workers: what waited too long in a worker's receive
    queue is dropped there and counted; /analyzer/json and Prometheus sum the workers'."""
    from engine import accel_disabled

    # a bound no datagram can meet: every one expires in whichever worker dequeues it
    eng = make_engine({"sflow.workers": 2, "sflow.receiver.maxage": "1e-9"})
    agents = [f"198.51.100.{i}" for i in range(1, 11)]
    _on_both(agents)
    n = eng.send([encode.datagram(a, seq, seq * 1000, []) for seq in (1, 2, 3) for a in agents])
    if accel_disabled():  # the asyncio receiver has no queue: everything is ingested
        eng.wait_datagrams(n)
        assert eng.get_json("/analyzer/json")["sFlowQueueExpired"] == 0
        return
    eng.wait_for(lambda: eng.get_json("/analyzer/json")["sFlowQueueExpired"] == n)
    parts = eng.call(eng.engine.gather, None, "ingest_counters")
    assert sorted(p["queue_expired"] for p in parts)[0] > 0  # both workers counted
    assert sum(p["queue_expired"] for p in parts) == n
    analyzer = eng.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == 0 and analyzer["sFlowAgents"] == 0
    with urllib.request.urlopen(eng.http_url + "/prometheus/analyzer/txt", timeout=10) as r:
        text = r.read().decode()
    assert any(
        line.split()[-1] == str(n)
        for line in text.splitlines()
        if "queue_expired" in line.lower() and not line.startswith("#")
    ), text


def test_agents_max_bounds_all_workers_together(make_engine):
    """agents.max=4 with 2 workers: 4 agents in all (not 4 per worker), spread over both;
    the datagrams of the others are refused and counted, summed over the workers."""
    eng = make_engine({"sflow.workers": 2, "agents.max": 4, "agents.timeout": 600})
    agents = [f"203.0.113.{i}" for i in range(1, 11)]
    _on_both(agents[:4])
    _on_both(agents[4:])
    for i, agent in enumerate(agents):  # one at a time: the order decides who is admitted
        eng.send(encode.datagram(agent, 1, 1000, []))
        eng.wait_datagrams(i + 1)
    analyzer = eng.get_json("/analyzer/json")
    assert analyzer["sFlowAgents"] == 4 and analyzer["sFlowDatagramsRefused"] == 6
    assert sorted(eng.get_json("/agents/json")) == sorted(agents[:4])
    # a known agent keeps being counted
    eng.send(encode.datagram(agents[0], 2, 2000, []))
    eng.wait_datagrams(len(agents) + 1)
    assert eng.get_json("/agents/json")[agents[0]]["sFlowDatagramsReceived"] == 2
    assert eng.get_json("/analyzer/json")["sFlowDatagramsRefused"] == 6


def test_agents_expire_in_their_worker(make_engine):
    """agents.timeout in the workers: silent agents are forgotten where they live, counted
    in sFlowAgentsExpired (summed), and then no longer count against agents.max."""
    eng = make_engine({"sflow.workers": 2, "agents.timeout": 0.5, "agents.max": 6})
    agents = [f"203.0.113.{i}" for i in range(1, 7)]
    _on_both(agents)
    eng.send([encode.datagram(a, 1, 1000, []) for a in agents])
    eng.wait_datagrams(len(agents))
    time.sleep(0.7)
    assert eng.get_json("/agents/json") == {}
    analyzer = eng.get_json("/analyzer/json")
    assert analyzer["sFlowAgents"] == 0 and analyzer["sFlowAgentsExpired"] == 6
    newer = [f"203.0.114.{i}" for i in range(1, 7)]
    eng.send([encode.datagram(a, 1, 1000, []) for a in newer])
    eng.wait_datagrams(2 * len(agents))
    # admitted (a slow machine may have forgotten them again since: only newer ones are known)
    assert set(eng.get_json("/agents/json")) <= set(newer)
    assert eng.get_json("/analyzer/json")["sFlowDatagramsRefused"] == 0
