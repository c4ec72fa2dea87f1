"""EDGE / CORE / TOPOLOGY select data sources (ports), not whole agents, in metric(), table(),
dump() and activeFlows() - REST and JavaScript alike - and activeFlows aggMode 'edge' / 'core'
count edge / link-port observations only (docs/topology.md "Agent selectors").

A running engine (real UDP sFlow, real REST, real V8) is fed encoded datagrams: two leaf switches
joined by one link (leaf1 eth3 - leaf2 eth3) plus an agent outside the topology. leaf1 is
declared with its agent and ifIndexes; leaf2 only by the link, so its agent is learned from its
host_name and its ports from its ifName counters."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from conftest import RunningEngine
from engine.sflow import encode, packets

LEAF1, LEAF2, OTHER = "192.0.2.11", "192.0.2.12", "192.0.2.99"
POLL = 100  # seconds between the two counter polls (agent uptime)
# ifInOctets rate (bytes/s) of each port: distinct powers of two, so every sum names its ports
PORTS = {
    LEAF1: {1: ("eth1", 100), 2: ("eth2", 200), 3: ("eth3", 400)},
    LEAF2: {1: ("eth1", 800), 3: ("eth3", 1600), 4: ("eth4", 3200)},
    OTHER: {7: ("eth7", 6400)},
}
HOSTS = {LEAF1: "leaf1", LEAF2: "leaf2", OTHER: "other"}
EDGE = {(LEAF1, "1"), (LEAF1, "2"), (LEAF2, "1"), (LEAF2, "4")}
CORE = {(LEAF1, "3"), (LEAF2, "3")}
TOPOLOGY = {
    "nodes": {
        "leaf1": {
            "agent": LEAF1,
            "ports": {"eth1": {"ifindex": "1"}, "eth2": {"ifindex": "2"}, "eth3": {"ifindex": "3"}},
        }
    },
    "links": {
        "leaf1-leaf2": {"node1": "leaf1", "port1": "eth3", "node2": "leaf2", "port2": "eth3"}
    },
}
H1, H2, H3 = "10.1.0.1", "10.1.0.2", "10.1.0.3"
RATE = 100  # sampling rate of the flow samples
SCRIPT = r"""
function agentNames(sel) { return Object.keys(sel === 'none' ? agents() : agents(sel)).sort(); }
setHttpHandler(function(req) {
  var agents = req.query.agents[0];
  switch(req.path[0]) {
    case 'agents':
      return {string: agentNames(agents), array: agentNames(agents.split(','))};
    case 'metrics':
      return {metric: metric(agents, 'sum:ifinoctets,max:ifinoctets'),
              table: table(agents, 'ifinoctets'),
              dump: dump(agents, 'ifinoctets'),
              dumpAll: dump(agents, 'ALL').map(function(d) { return [d.agent, d.dataSource]; }),
              flowMetric: dump(agents, 'pair')};
    case 'flows':
      var out = {};
      ['max', 'sum', 'edge', 'core'].forEach(function(mode) {
        out[mode] = activeFlows(agents, 'pair', 20, 0, mode);
      });
      return out;
    case 'settopology':
      return setTopology(req.body);
  }
  throw 'not_found';
});
"""


def counters(agent: str, seq: int, uptime_ms: int, ports: dict) -> bytes:
    """One poll: host_descr (data source 2.1) and, per port, generic interface counters and
    the port name, with ifInOctets = rate x uptime in seconds."""
    samples = [
        encode.counter_sample(
            seq,
            2,
            1,
            [
                encode.encode_counter_record(
                    {
                        "counterBlock_tag": "0:2000",
                        "hostname": HOSTS[agent],
                        "machine_type": 3,
                        "os_name": 2,
                    }
                )
            ],
        )
    ]
    for ifindex, (name, rate) in ports.items():
        octets = rate * uptime_ms // 1000
        samples.append(
            encode.counter_sample(
                seq,
                0,
                ifindex,
                [
                    encode.encode_counter_record(
                        {
                            "counterBlock_tag": "0:1",
                            "ifIndex": ifindex,
                            "networkType": 6,
                            "ifSpeed": 10**9,
                            "ifDirection": 1,
                            "ifStatus": 3,
                            "ifInOctets": octets,
                            "ifInUcastPkts": octets // 100,
                            "ifOutOctets": octets,
                            "ifOutUcastPkts": octets // 100,
                        }
                    ),
                    encode.encode_counter_record({"counterBlock_tag": "0:1005", "ifName": name}),
                ],
            )
        )
    return encode.datagram(agent, 100 * seq, uptime_ms, samples)


def flow_samples(ifindex: int, src: str, dst: str, n: int, seq0: int) -> list[bytes]:
    """n ingress flow samples of src -> dst (TCP, 1000-byte frames) taken at ifindex."""
    frame = packets.frame("020000000001", "020000000002", src, dst, 6, 1000, 40000, 80)
    header = frame[:128]
    hdr = (
        encode.u32(1)
        + encode.u32(1000)
        + encode.u32(packets.FCS_LEN)
        + encode.u32(len(header))
        + encode.pad(header)
    )
    records = [encode.record("0:1", hdr)]
    return [
        encode.flow_sample(seq0 + i, 0, ifindex, RATE, (seq0 + i) * RATE, 0, ifindex, 99, records)
        for i in range(n)
    ]


def flow_datagrams(agent: str, dseq: int, samples: list[bytes]) -> list[bytes]:
    # sent after the second poll (datagram sequence 200, uptime 1000 + POLL s)
    return [
        encode.datagram(agent, dseq + i, 1000 + 1000 * POLL + 10, samples[j : j + 8])
        for i, j in enumerate(range(0, len(samples), 8))
    ]


def call(e, path, data=None, method=None):
    req = urllib.request.Request(e.http_url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read().decode()
            return r.status, json.loads(body) if body else None
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def text(e, path):
    with urllib.request.urlopen(e.http_url + path, timeout=30) as r:
        return r.read().decode()


def get(e, path):
    status, body = call(e, path)
    assert status == 200, (path, status, body)
    return body


def js(e, what, agents):
    return get(e, f"/app/edgecore/scripts/edgecore.js/{what}/json?agents={agents}")


def where(entries):
    """(agent, dataSource) of metric entries (dicts) or table rows (lists of them)."""
    return {
        (m["agent"], m["dataSource"]) for m in (r[0] if isinstance(r, list) else r for r in entries)
    }


def flows_by_key(flows):
    return {f["key"]: f for f in flows}


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    (home / "apps" / "edgecore" / "scripts").mkdir(parents=True)
    (home / "apps" / "edgecore" / "scripts" / "edgecore.js").write_text(SCRIPT)
    e = RunningEngine({}, home=home).start()
    try:
        e.wait_for(
            lambda: all(s.started for s in e.engine.subsystems["runtime"].scripts.values()), 20
        )
        status, _ = call(
            e,
            "/flow/pair/json",
            json.dumps({"keys": "ipsource,ipdestination", "value": "frames", "t": 60}).encode(),
            "PUT",
        )
        assert status in (200, 204)
        sent = e.engine.stats.datagrams
        dgs = [
            counters(agent, seq, 1000 + (seq - 1) * 1000 * POLL, ports)
            for seq in (1, 2)
            for agent, ports in PORTS.items()
        ]
        # h1 -> h3 crosses the fabric: sampled where it enters (leaf1 eth1, edge) and again on
        # leaf2's end of the link (core); OTHER (outside the topology) sees it too. h1 -> h2
        # stays on leaf1 (edge only).
        dgs += flow_datagrams(
            LEAF1, 210, flow_samples(1, H1, H3, 20, 1) + flow_samples(1, H1, H2, 10, 21)
        )
        dgs += flow_datagrams(LEAF2, 210, flow_samples(3, H1, H3, 20, 1))
        dgs += flow_datagrams(OTHER, 210, flow_samples(7, H1, H3, 20, 1))
        e.send(dgs)
        e.wait_for(lambda: e.engine.stats.datagrams >= sent + len(dgs))
        yield e
    finally:
        e.stop()


def test_without_topology_selectors_select_nothing_and_modes_are_sum_max(eng):
    topo = eng.engine.subsystems["topology"]
    eng.call(topo.set, {})
    for sel in ("EDGE", "CORE", "TOPOLOGY"):
        assert get(eng, f"/metric/{sel}/sum:ifinoctets/json")[0]["metricN"] == 0
        assert get(eng, f"/dump/{sel}/ALL/json") == []
        assert get(eng, f"/activeflows/{sel}/pair/json") == []
        assert js(eng, "metrics", sel)["table"] == []
    flows = js(eng, "flows", "ALL")
    h13 = f"{H1},{H3}"
    # no topology: 'edge' is 'sum' and 'core' is 'max' over every port
    assert flows_by_key(flows["edge"])[h13]["flowN"] == 3
    assert flows_by_key(flows["edge"])[h13]["value"] == pytest.approx(
        flows_by_key(flows["sum"])[h13]["value"], rel=1e-3
    )
    assert flows_by_key(flows["core"])[h13]["value"] == pytest.approx(
        flows_by_key(flows["max"])[h13]["value"], rel=1e-3
    )


def test_counter_queries_select_ports(eng):
    status, _ = call(eng, "/topology/json", json.dumps(TOPOLOGY).encode(), "PUT")
    assert status == 204
    rest = {
        sel: {
            "metric": get(eng, f"/metric/{sel}/sum:ifinoctets,max:ifinoctets/json"),
            "table": get(eng, f"/table/{sel}/ifinoctets/json"),
            "dump": get(eng, f"/dump/{sel}/ifinoctets/json"),
        }
        for sel in ("EDGE", "CORE", "TOPOLOGY", "ALL", f"EDGE,{OTHER}")
    }
    rate = lambda ports: sum(PORTS[a][int(d)][1] for a, d in ports)
    everything = {(a, str(i)) for a, ports in PORTS.items() for i in ports}
    expected = {
        "EDGE": EDGE,
        "CORE": CORE,
        "TOPOLOGY": EDGE | CORE,
        "ALL": everything,
        f"EDGE,{OTHER}": EDGE | {(OTHER, "7")},
    }
    for sel, ports in expected.items():
        r = rest[sel]
        total, top = r["metric"]
        assert total["metricN"] == len(ports), sel
        assert total["metricValue"] == pytest.approx(rate(ports)), sel
        best = max(ports, key=lambda p: PORTS[p[0]][int(p[1])][1])
        assert (top["agent"], top["dataSource"]) == best, sel
        assert where(r["table"]) == ports, sel
        assert where(r["dump"]) == ports, sel
        # the JavaScript globals are the same engine functions
        j = js(eng, "metrics", sel)
        assert [
            (m["metricN"], m["metricValue"], m.get("agent"), m.get("dataSource"))
            for m in j["metric"]
        ] == [
            (m["metricN"], m["metricValue"], m.get("agent"), m.get("dataSource"))
            for m in r["metric"]
        ], sel
        assert where(j["table"]) == ports and where(j["dump"]) == ports, sel
        # the other aggregations, and the Prometheus export, keep to the same ports
        avg, low, anyname = get(eng, f"/metric/{sel}/avg:ifinoctets,min:ifinoctets,any:ifname/json")
        assert avg["metricValue"] == pytest.approx(rate(ports) / len(ports)), sel
        assert low["metricValue"] == pytest.approx(min(rate([p]) for p in ports)), sel
        assert (
            anyname["metricN"] == len(ports) and (anyname["agent"], anyname["dataSource"]) in ports
        )
        assert anyname["metricValue"] == PORTS[anyname["agent"]][int(anyname["dataSource"])][0]
        prom = text(eng, f"/prometheus/metrics/{sel}/ifinoctets/txt")
        assert set(re.findall(r'agent="([^"]+)",datasource="([^"]+)"', prom)) == ports, sel
    # link ports are CORE only, never EDGE, and the host data source (2.1) is in neither
    dump_all = {
        sel: {tuple(x) for x in js(eng, "metrics", sel)["dumpAll"]}
        for sel in ("EDGE", "CORE", "TOPOLOGY")
    }
    assert dump_all["EDGE"] == EDGE and dump_all["CORE"] == CORE
    assert dump_all["TOPOLOGY"] == EDGE | CORE | {(LEAF1, "2.1"), (LEAF2, "2.1")}
    assert {(m["agent"], m["dataSource"]) for m in get(eng, "/dump/TOPOLOGY/ALL/json")} == dump_all[
        "TOPOLOGY"
    ]
    # a data-source-qualified metric respects the port selection too
    assert get(eng, "/metric/CORE/sum:3.ifinoctets/json")[0]["metricN"] == 2
    assert get(eng, "/metric/EDGE/sum:3.ifinoctets/json")[0]["metricN"] == 0


def test_active_flows_edge_and_core(eng):
    call(eng, "/topology/json", json.dumps(TOPOLOGY).encode(), "PUT")
    h13, h12 = f"{H1},{H3}", f"{H1},{H2}"
    at_leaf1 = flows_by_key(get(eng, f"/activeflows/{LEAF1}/pair/json"))[h13]["value"]
    every = js(eng, "flows", "ALL")  # the four modes read within one script call
    # 'sum' counts h1 -> h3 three times (leaf1 edge, leaf2 link end, the outside agent), each
    # observation 20 samples of the same packets ...
    total, edge = flows_by_key(every["sum"]), flows_by_key(every["edge"])
    assert total[h13]["flowN"] == 3
    assert total[h13]["value"] == pytest.approx(3 * edge[h13]["value"], rel=0.01)
    # ... 'edge' once: the value of the port where it entered the fabric, not double
    assert edge[h13]["flowN"] == 1 and (edge[h13]["agent"], edge[h13]["dataSource"]) == (LEAF1, "1")
    assert edge[h13]["value"] == pytest.approx(at_leaf1, rel=0.03)  # t = 60 s: little decay
    assert edge[h12]["flowN"] == 1
    assert edge[h12]["value"] == pytest.approx(edge[h13]["value"] / 2, rel=0.01)
    # 'core' sees only link-port observations: leaf2's end of the link; h1 -> h2 never crosses
    core = flows_by_key(every["core"])
    assert set(core) == {h13}
    assert (core[h13]["agent"], core[h13]["dataSource"], core[h13]["flowN"]) == (LEAF2, "3", 1)
    # the selectors agree with the modes, REST and JS alike
    for sel, mode, want in (
        ("EDGE", "sum", every["edge"]),
        ("CORE", "max", every["core"]),
        ("TOPOLOGY", "edge", every["edge"]),
        ("TOPOLOGY", "core", every["core"]),
    ):
        for flows in (
            js(eng, "flows", sel)[mode],
            get(eng, f"/activeflows/{sel}/pair/json?aggMode={mode}"),
        ):
            got = {f["key"]: (f["agent"], f["dataSource"], f["flowN"]) for f in flows}
            assert got == {f["key"]: (f["agent"], f["dataSource"], f["flowN"]) for f in want}, (
                sel,
                mode,
            )
    topo_sum = flows_by_key(js(eng, "flows", "TOPOLOGY")["sum"])
    assert topo_sum[h13]["flowN"] == 2  # the outside agent is not TOPOLOGY
    assert js(eng, "flows", "CORE")["edge"] == []  # CORE ports are never edge
    # the flow as a metric: dump()/metric() of 'pair' keep to the selected ports
    assert where(js(eng, "metrics", "CORE")["flowMetric"]) == {(LEAF2, "3")}
    assert where(js(eng, "metrics", "EDGE")["flowMetric"]) == {(LEAF1, "1")}
    assert get(eng, "/metric/CORE/max:pair/json")[0]["dataSource"] == "3"
    assert get(eng, f"/flowvalue/CORE/3.pair/json?key={h13}") > 0
    assert call(eng, f"/flowvalue/CORE/1.pair/json?key={h13}")[0] == 404  # leaf1 eth1: edge
    assert get(eng, f"/flowvalue/EDGE/1.pair/json?key={h13}") > 0


def test_port_sets_cached_and_invalidated(eng):
    topo = eng.engine.subsystems["topology"]
    call(eng, "/topology/json", json.dumps(TOPOLOGY).encode(), "PUT")
    first = eng.call(topo.edge_selection)
    assert eng.call(topo.edge_selection) is first and eng.call(topo.core_selection) is eng.call(
        topo.core_selection
    )
    # counters whose ifName values did not change keep the cached port sets
    sent = eng.engine.stats.datagrams
    eng.send(counters(LEAF2, 3, 1000 + 2 * 1000 * POLL, PORTS[LEAF2]))
    eng.wait_for(lambda: eng.engine.stats.datagrams > sent)
    assert eng.call(topo.edge_selection) is first
    # leaf2 renames its ports: the link end moves to ifIndex 4 (learned from ifName)
    renamed = {1: ("eth1", 800), 3: ("old3", 1600), 4: ("eth3", 3200)}
    eng.send(counters(LEAF2, 4, 1000 + 3 * 1000 * POLL, renamed))
    eng.wait_for(lambda: eng.engine.stats.datagrams > sent + 1)
    assert where(get(eng, "/dump/CORE/ifinoctets/json")) == {(LEAF1, "3"), (LEAF2, "4")}
    assert where(get(eng, "/dump/EDGE/ifinoctets/json")) == {
        (LEAF1, "1"),
        (LEAF1, "2"),
        (LEAF2, "1"),
        (LEAF2, "3"),
    }
    assert eng.call(topo.edge_selection) is not first
    # setTopology() from a script moves the link to leaf1 eth2 (the same engine function)
    moved = json.loads(json.dumps(TOPOLOGY))
    moved["links"]["leaf1-leaf2"]["port1"] = "eth2"
    status, ok = call(
        eng,
        "/app/edgecore/scripts/edgecore.js/settopology/json?agents=ALL",
        json.dumps(moved).encode(),
        "POST",
    )
    assert status == 200 and ok is True
    assert where(get(eng, "/dump/CORE/ifinoctets/json")) == {(LEAF1, "2"), (LEAF2, "4")}
    assert {f["key"] for f in get(eng, "/activeflows/ALL/pair/json?aggMode=core")} == set()
    # restore the original names for the other tests of this module
    eng.send(counters(LEAF2, 5, 1000 + 4 * 1000 * POLL, PORTS[LEAF2]))
    eng.wait_for(lambda: eng.engine.stats.datagrams > sent + 2)
    call(eng, "/topology/json", json.dumps(TOPOLOGY).encode(), "PUT")
    assert where(get(eng, "/dump/CORE/ifinoctets/json")) == CORE


def test_topology_without_links_is_all_edge():
    """A topology of nodes only: every ifIndex data source of its agents is EDGE, none CORE;
    aggMode 'core' then has nothing, 'edge' sums the topology's ports only. Engine.ingest of
    the same encoded datagrams, no network."""
    from engine.core import Engine
    from engine.props import DEFAULTS, Properties

    eng = Engine(Properties(dict(DEFAULTS)))
    store, fe, topo = (eng.subsystems[k] for k in ("metrics", "flows", "topology"))
    now = time.time()
    for seq in (1, 2):
        for agent, ports in PORTS.items():
            eng.ingest(
                counters(agent, seq, 1000 + (seq - 1) * 1000 * POLL, ports), agent, now - 2 + seq
            )
    fe.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "frames", "t": 20})
    for agent, ifindex in ((LEAF1, 1), (OTHER, 7)):
        for dg in flow_datagrams(agent, 210, flow_samples(ifindex, H1, H3, 20, 1)):
            eng.ingest(dg, agent, now)
    topo.set({"nodes": {"leaf1": {"agent": LEAF1}}})
    ports = lambda sel: {
        (e["agent"], e["dataSource"]) for e in store.query_dump(sel, "ifinoctets", now=now)
    }
    assert ports("EDGE") == {(LEAF1, "1"), (LEAF1, "2"), (LEAF1, "3")} and ports("CORE") == set()
    assert ports("TOPOLOGY") == ports("EDGE")
    assert fe.active_flows("ALL", "pair", 10, 0, "core", now=now) == []
    [edge] = fe.active_flows("ALL", "pair", 10, 0, "edge", now=now)
    [total] = fe.active_flows("ALL", "pair", 10, 0, "sum", now=now)
    assert (edge["flowN"], total["flowN"]) == (1, 2)
    assert total["value"] == pytest.approx(2 * edge["value"])
    # an empty topology ({"links": {}}) restricts nothing: 'edge' is 'sum' again
    topo.set({"links": {}})
    assert ports("EDGE") == set()
    assert fe.active_flows("ALL", "pair", 10, 0, "edge", now=now)[0]["flowN"] == 2


def test_agents_take_the_same_selectors(eng):
    """agents() and /agents/json accept what metric() accepts: ALL, TOPOLOGY / EDGE / CORE (the
    agents they select ports of), host names, mixed lists; an empty selection is empty, not
    every agent."""
    topo = eng.engine.subsystems["topology"]
    everyone = sorted(PORTS)
    assert js(eng, "agents", "none")["string"] == everyone
    eng.call(topo.set, {})
    for sel in ("EDGE", "CORE", "TOPOLOGY"):
        assert js(eng, "agents", sel) == {"string": [], "array": []}, sel
        assert get(eng, f"/agents/json?agent={sel}") == {}
    call(eng, "/topology/json", json.dumps(TOPOLOGY).encode(), "PUT")
    expected = {
        "ALL": everyone,
        "TOPOLOGY": [LEAF1, LEAF2],
        "EDGE": [LEAF1, LEAF2],
        "CORE": [LEAF1, LEAF2],
        f"CORE,{OTHER}": everyone,
        "other": [OTHER],
        f"leaf2;{LEAF1}": [LEAF1, LEAF2],
        LEAF1: [LEAF1],
        "192.0.2.250": [],
    }
    for sel, want in expected.items():
        assert js(eng, "agents", sel) == {"string": want, "array": want}, sel
        got = get(
            eng, "/agents/json?" + "&".join(f"agent={a}" for a in sel.replace(";", ",").split(","))
        )
        assert sorted(got) == want, sel
        assert all(got[a]["sFlowCounterSamples"] > 0 for a in want)


def _engine():
    from engine.core import Engine
    from engine.props import DEFAULTS, Properties

    eng = Engine(Properties(dict(DEFAULTS)))
    return eng, *(eng.subsystems[k] for k in ("metrics", "flows", "topology"))


def test_ipv6_agent_in_any_spelling():
    """A topology naming an IPv6 agent as written by hand (upper case, zeros not compressed)
    selects the agent the collector knows as 2001:db8::11."""
    eng, store, fe, topo = _engine()
    v6 = "2001:db8::11"
    HOSTS[v6] = "leaf6"
    ports = {1: ("eth1", 100), 2: ("eth2", 200), 3: ("eth3", 400)}
    now = time.time()
    try:
        for seq in (1, 2):
            eng.ingest(counters(v6, seq, 1000 + (seq - 1) * 1000 * POLL, ports), v6, now - 2 + seq)
    finally:
        del HOSTS[v6]
    fe.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "frames", "t": 20})
    for ifindex in (1, 3):
        for dg in flow_datagrams(v6, 210, flow_samples(ifindex, H1, H3, 20, 1)):
            eng.ingest(dg, v6, now)
    topo.set(
        {
            "nodes": {"leaf6": {"agent": "2001:DB8:0:0::11", "ports": {"eth3": {"ifindex": "3"}}}},
            "links": {"up": {"node1": "leaf6", "port1": "eth3", "node2": "spine", "port2": "p1"}},
        }
    )
    ports_of = lambda sel: {
        (e["agent"], e["dataSource"]) for e in store.query_dump(sel, "ifinoctets", now=now)
    }
    assert ports_of("EDGE") == {(v6, "1"), (v6, "2")}
    assert ports_of("CORE") == {(v6, "3")}
    assert ports_of("TOPOLOGY") == ports_of("EDGE") | ports_of("CORE")
    [edge] = fe.active_flows("ALL", "pair", 10, 0, "edge", now=now)
    assert (edge["agent"], edge["dataSource"], edge["flowN"]) == (v6, "1", 1)
    assert topo.agent_for_node("leaf6") == v6
    assert topo.interface_to_port("2001:DB8::11", 3)["port"] == "eth3"
    assert topo.interface_to_link(v6, 3)["linkname"] == "up"
    assert topo.nodes_for_agent("2001:0db8::11") == ["leaf6"]


def test_declared_ifindex_wins_over_a_learned_ifname():
    """A node declaring port eth3 at ifIndex 2 (say, after recabling) keeps it there even though
    the agent's ifName counters still call ifIndex 3 eth3: the link is on ifIndex 2 only."""
    eng, store, fe, topo = _engine()
    now = time.time()
    for seq in (1, 2):
        eng.ingest(
            counters(LEAF1, seq, 1000 + (seq - 1) * 1000 * POLL, PORTS[LEAF1]), LEAF1, now - 2 + seq
        )
    topo.set(
        {
            "nodes": {"leaf1": {"agent": LEAF1, "ports": {"eth3": {"ifindex": "2"}}}},
            "links": {"l": {"node1": "leaf1", "port1": "eth3", "node2": "leaf2", "port2": "eth3"}},
        }
    )
    ports_of = lambda sel: {e["dataSource"] for e in store.query_dump(sel, "ifinoctets", now=now)}
    assert ports_of("CORE") == {"2"}
    assert ports_of("EDGE") == {"1", "3"}
    assert topo.interface_to_port(LEAF1, 2)["port"] == "eth3"
    assert topo.interface_to_port(LEAF1, 3) is None and topo.interface_to_link(LEAF1, 3) is None


def test_link_port_without_ifname_yet_is_not_edge():
    """leaf1's link port is named (eth3) but its ifName counter has not arrived yet: the flow
    seen on ifIndex 3 may be link traffic, so aggMode 'edge' must not count it (that would count
    the packets twice); once the names arrive, ifIndex 3 is CORE and the others EDGE."""
    eng, store, fe, topo = _engine()
    now = time.time()
    fe.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "frames", "t": 20})
    for ifindex in (1, 3):
        for dg in flow_datagrams(LEAF1, 210, flow_samples(ifindex, H1, H3, 20, 1)):
            eng.ingest(dg, LEAF1, now)
    topo.set(
        {
            "nodes": {"leaf1": {"agent": LEAF1, "ports": {"eth1": {"ifindex": "1"}, "eth3": {}}}},
            "links": {"l": {"node1": "leaf1", "port1": "eth3", "node2": "leaf2", "port2": "eth3"}},
        }
    )
    # no counters yet: ifIndex 1 is declared (edge); 3 and 2 are unknown, so neither
    [edge] = fe.active_flows("ALL", "pair", 10, 0, "edge", now=now)
    assert (edge["dataSource"], edge["flowN"]) == ("1", 1)
    assert fe.active_flows("ALL", "pair", 10, 0, "core", now=now) == []
    assert [f["flowN"] for f in fe.active_flows("TOPOLOGY", "pair", 10, 0, "sum", now=now)] == [2]
    # the counters with the ifNames arrive: eth3 is ifIndex 3, a link end
    for seq in (1, 2):
        eng.ingest(
            counters(LEAF1, seq, 1000 + (seq - 1) * 1000 * POLL, PORTS[LEAF1]), LEAF1, now - 2 + seq
        )
    ports_of = lambda sel: {e["dataSource"] for e in store.query_dump(sel, "ifinoctets", now=now)}
    assert ports_of("EDGE") == {"1", "2"} and ports_of("CORE") == {"3"}
    [edge] = fe.active_flows("ALL", "pair", 10, 0, "edge", now=now)
    [core] = fe.active_flows("ALL", "pair", 10, 0, "core", now=now)
    assert (edge["dataSource"], edge["flowN"], core["dataSource"]) == ("1", 1, "3")
