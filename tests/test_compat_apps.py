"""Patterns that published sFlow-RT apps rely on, each reproduced by a small script of our own
(tests/js/compat) in a running engine fed by the generator over real UDP. Each test names the
app whose behaviour it stands for; no third-party app code is used."""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import RunningEngine
from engine.sflow.gen import Scenario, TrafficGenerator

JS = Path(__file__).parent / "js" / "compat"
APP = "/app/compat/scripts"


@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    shutil.copytree(JS, home / "apps" / "compat")
    e = RunningEngine({}, home=home).start()
    e.wait_for(lambda: all(s.started for s in e.engine.subsystems["runtime"].scripts.values()), 20)
    e.gen = TrafficGenerator(
        Scenario(agents=2, samples_per_second=300, flows=20, seed=3, polling_interval=1.0)
    )
    yield e
    e.stop()


def feed(e, seconds=2):
    """Send `seconds` of generated traffic and wait until the engine has ingested all of it."""
    target = e.engine.stats.datagrams
    for _ in range(seconds):
        target += e.send_paced(e.gen.step(1.0))
    e.wait_for(lambda: e.engine.stats.datagrams >= target)


def get(e, path, data=None, method=None, ctype="application/json"):
    req = urllib.request.Request(e.http_url + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def get_json(e, path):
    status, body = get(e, path)
    assert status == 200, (path, status, body)
    return json.loads(body)


def test_scripts_all_alive(eng):
    scripts = get_json(eng, "/scripts/json")
    assert scripts and all(s["alive"] for s in scripts.values()), scripts


def test_query_array_as_agent_selector(eng):
    """sflow-test keeps `req.query.agent` (an array) and passes it to agents([agent]),
    metric(agent, ...), dump(agent, ...) and datasourceInfo(agent, ds)."""
    feed(eng, 3)
    agent = sorted(eng.get_json("/agents/json"))[0]
    assert get_json(eng, f"{APP}/agents.js/choose/json?agent={agent}") == {"chosen": [agent]}
    probe = get_json(eng, f"{APP}/agents.js/probe/json")
    assert probe["agents"] == [agent]
    assert probe["metricAgents"] > 0
    assert probe["dumpCount"] > 0
    assert probe["dsInfo"] and probe["dsInfo"]["counterSamples"] > 0


def _topology(agents):
    """Two switches s1, s2 (the generator's first two agents, ports = ifIndex 1..4) joined by
    a link on port 4, plus a node without an agent."""
    a1, a2 = agents
    ports = lambda n: {f"{n}-eth{i}": {"ifindex": str(i)} for i in range(1, 5)}
    return {
        "nodes": {
            "s1": {"agent": a1, "ports": ports("s1")},
            "s2": {"agent": a2, "ports": ports("s2")},
        },
        "links": {
            "s1-s2": {"node1": "s1", "port1": "s1-eth4", "node2": "s2", "port2": "s2-eth4"},
            "s2-s3": {"node1": "s2", "port1": "s2-eth9", "node2": "s3", "port2": "s3-eth1"},
        },
    }


def test_topology_rest_and_lookups(eng):
    """trace-flow / fabric-metrics: topologyInterfaceToLink(agent, ifindex).linkname /
    .localnode / .remotenode, topologyInterfaceToPort(...).node / .port, node lookups."""
    feed(eng, 1)
    agents = sorted(eng.get_json("/agents/json"))[:2]
    topo = _topology(agents)
    status, body = get(eng, "/topology/json", json.dumps(topo).encode(), "PUT")
    assert status == 204, body
    assert get_json(eng, "/topology/json") == topo
    look = get_json(eng, f"{APP}/topology.js/lookup/json?agent={agents[0]}&ifindex=4&node=s2")
    assert look["link"] == {
        "linkname": "s1-s2",
        "localnode": "s1",
        "localport": "s1-eth4",
        "remotenode": "s2",
        "remoteport": "s2-eth4",
    }
    assert look["port"]["node"] == "s1" and look["port"]["port"] == "s1-eth4"
    assert look["nodes"] == ["s1"]
    assert look["nodeLinks"] == ["s1-s2", "s2-s3"]
    assert look["agentForNode"] == agents[1]
    assert look["nodeNames"] == ["s1", "s2", "s3"] and look["linkNames"] == ["s1-s2", "s2-s3"]
    assert look["diameter"] == 2
    edge = get_json(eng, f"{APP}/topology.js/lookup/json?agent={agents[0]}&ifindex=1&node=s1")
    assert edge["link"] is None and edge["port"]["port"] == "s1-eth1"
    # a malformed body is refused and the installed topology kept
    status, body = get(eng, "/topology/json", b'{"links": {"x": {"node1": "a"}}}', "PUT")
    assert status == 400 and "node2" in body
    assert get_json(eng, "/topology/json") == topo


def test_topology_selectors_in_queries(eng):
    """mininet-dashboard / ai-metrics: activeFlows('TOPOLOGY', ..., 'edge'), table('TOPOLOGY',
    'sort:m:-n') rows mapped to ports, dump('TOPOLOGY', flow).topKeys, metric('CORE', ...)."""
    feed(eng, 1)
    agents = sorted(a for a in eng.get_json("/agents/json") if a.startswith("192.0.2."))
    assert len(agents) == 2  # the generator's two agents
    get(eng, "/topology/json", json.dumps({"links": {}}).encode(), "PUT")
    empty = get_json(eng, f"{APP}/topology.js/selectors/json")
    assert empty["edgeValue"] == 0 and empty["tablePorts"] == [] and empty["core"] == 0
    topo = _topology(agents)
    del topo["nodes"]["s2"]  # only s1's agent is in the topology
    topo["links"] = {"s1-s2": topo["links"]["s1-s2"]}
    get(eng, "/topology/json", json.dumps(topo).encode(), "PUT")
    feed(eng, 3)
    sel = get_json(eng, f"{APP}/topology.js/selectors/json")
    assert sel["edgeValue"] > 0
    assert len(sel["tablePorts"]) == 3 and all(
        p and p.startswith("s1/s1-eth") for p in sel["tablePorts"]
    )
    assert list(sel["dumpAgents"]) == [agents[0]] and all(n > 0 for n in sel["dumpAgents"].values())
    assert 0 < sel["core"] < sel["all"]


def test_set_topology_from_script_is_the_rest_topology(eng):
    """setTopology() and PUT /topology/json are one implementation: each sees the other's."""
    topo = {"links": {"a-b": {"node1": "a", "port1": "p1", "node2": "b", "port2": "p2"}}}
    before = get_json(eng, f"{APP}/topology.js/get/json")["version"]
    status, body = get(eng, f"{APP}/topology.js/set/json", json.dumps(topo).encode(), "POST")
    assert status == 200 and body == "true"
    assert get_json(eng, "/topology/json") == topo
    after = get_json(eng, f"{APP}/topology.js/get/json")
    assert after["topology"] == topo and after["version"] > before


def test_link_metric_and_checked_set(eng):
    """topology app: topologyLinkMetric(link, 'ifadminstatus,ifinoctets') gives 4 entries end
    by end (node1's port, then node2's), and `if(!setTopology(body))` sees false for a bad body."""
    feed(eng, 2)
    agents = sorted(eng.get_json("/agents/json"))[:2]
    topo = _topology(agents)
    status, body = get(eng, f"{APP}/topology.js/setchecked/json", json.dumps(topo).encode(), "POST")
    assert status == 200 and json.loads(body)["ok"] is True
    version = json.loads(body)["version"]
    rows = get_json(eng, f"{APP}/topology.js/linkmetric/json?link=s1-s2")
    assert [r[:3] for r in rows] == [
        ["ifadminstatus", agents[0], "4"],
        ["ifinoctets", agents[0], "4"],
        ["ifadminstatus", agents[1], "4"],
        ["ifinoctets", agents[1], "4"],
    ]
    assert rows[0][3] == "up" and rows[1][3] > 0 and rows[2][3] == "up"
    # sFlow-RT's optional third argument names the node the direction starts from
    from_s2 = get_json(eng, f"{APP}/topology.js/linkmetric/json?link=s1-s2&node=s2")
    assert [r[:3] for r in from_s2] == [r[:3] for r in rows[2:] + rows[:2]]
    assert [
        r[:3] for r in get_json(eng, f"{APP}/topology.js/linkmetric/json?link=s1-s2&node=s1")
    ] == [r[:3] for r in rows]
    unmapped = get_json(eng, f"{APP}/topology.js/linkmetric/json?link=s2-s3")
    assert unmapped == [["ifadminstatus", None, None, None], ["ifinoctets", None, None, None]] * 2
    status, body = get(eng, f"{APP}/topology.js/setchecked/json", b'{"links": {"x": {}}}', "POST")
    assert status == 200 and json.loads(body) == {"ok": False, "version": version}
    assert get_json(eng, "/topology/json") == topo


def test_link_key_function(eng):
    """ixp-metrics: `link:inputifindex` names the topology link a sample entered on; the
    filter `link:inputifindex=null` keeps edge ports only."""
    feed(eng, 1)
    agents = sorted(eng.get_json("/agents/json"))[:2]
    get(eng, "/topology/json", json.dumps(_topology(agents)).encode(), "PUT")
    assert get_json(eng, f"{APP}/topology.js/linkflows/json") is True
    feed(eng, 3)
    keys = get_json(eng, f"{APP}/topology.js/linkkeys/json")
    assert keys["links"] == ["4,s1-s2"]  # only port 4 (both switches) is on a link
    assert keys["edge"] and all(k in ("1", "2", "3") for k in keys["edge"])


def test_locate_hosts(eng):
    """topology app / ixp-metrics: topologyLocateHostIP/Mac give where a host enters the
    network (agent, ifindex, node, port, vlan, addresses); topologyLocatedHostMacs lists MACs."""
    feed(eng, 1)
    agents = sorted(eng.get_json("/agents/json"))[:2]
    get(eng, "/topology/json", json.dumps(_topology(agents)).encode(), "PUT")
    edge = [f for f in eng.gen.flows if f.in_port != 4 and f.agent is not None][:1]
    assert edge, "generator has no flow entering on an edge port"
    flow = edge[0]
    feed(eng, 4)
    agent = (
        sorted(eng.get_json("/agents/json"))[flow.agent]
        if isinstance(flow.agent, int)
        else str(flow.agent)
    )
    mac, ip = flow.keys()["macsource"], flow.keys()["ipsource"]
    found = get_json(
        eng, f"{APP}/topology.js/locate/json?mac={mac}&ip={ip}&agent={agent}&ifindex={flow.in_port}"
    )
    node = "s1" if agent == agents[0] else "s2"
    assert found["byMac"] and found["byMac"][0]["agent"] == agent
    loc = found["byMac"][0]
    assert (
        loc["ifindex"] == str(flow.in_port)
        and loc["node"] == node
        and loc["port"] == f"{node}-eth{flow.in_port}"
    )
    assert loc["ipaddress"] == ip and loc["mac"] == mac
    same = lambda locs: [{k: v for k, v in l.items() if k != "lastSeen"} for l in locs]
    assert same(found["byIp"]) == same(found["byMac"])
    assert found["unknown"] == []
    assert mac in found["macsAtPort"] and found["allMacs"] >= len(found["macsAtPort"])


def test_locator_ignores_link_ports():
    """Samples taken on an inter-switch link port do not locate hosts (decoded generator
    datagrams fed to the topology's locator directly)."""
    from engine.sflow import decode_datagram
    from engine.topology import Topology
    from engine.topology.locate import HostLocator, SAMPLE_EVERY

    gen = TrafficGenerator(Scenario(agents=2, samples_per_second=400, flows=20, seed=9))
    agents = sorted({f.agent for f in gen.flows})
    topo = Topology()
    topo.set(_topology(agents))
    loc = HostLocator(topo)
    now = time.time()
    samples = [s for dg in gen.step(3.0) for s in decode_datagram(dg).samples if s.kind == "flow"]
    for s in samples:
        loc.on_flow_sample(s, now)
    assert loc._n == len(samples) and len(samples) >= 10 * SAMPLE_EVERY
    located = {(a, i) for where in loc.macs.values() for (a, i) in where}
    assert located and all(i != "4" for _, i in located)
    assert any(s.input == 4 for s in samples)  # link-port samples were there


def test_topology_of_links_only_learns_nodes_and_ports(eng):
    """containerlab / fabric-view: PUT /topology/json with links only; node -> agent comes
    from the switch's host_name (host_descr) and port -> ifIndex from its ifname counters."""
    from engine.sflow import encode

    def switch(agent, hostname, ports, seq):
        samples = [
            encode.counter_sample(
                seq,
                2,
                1,
                [
                    encode.encode_counter_record(
                        {
                            "counterBlock_tag": "0:2000",
                            "hostname": hostname,
                            "machine_type": 3,
                            "os_name": 2,
                        }
                    )
                ],
            )
        ]
        for ifindex, name in ports.items():
            samples.append(
                encode.counter_sample(
                    seq,
                    0,
                    ifindex,
                    [encode.encode_counter_record({"counterBlock_tag": "0:1005", "ifName": name})],
                )
            )
        return encode.datagram(agent, seq, 1000 * seq, samples)

    sent = eng.engine.stats.datagrams
    for seq in (1, 2):
        eng.send(
            [
                switch("198.51.100.11", "leaf1", {1: "eth1", 2: "eth2", 3: "eth3"}, seq),
                switch("198.51.100.21", "spine1", {1: "eth1", 2: "eth2"}, seq),
            ]
        )
    eng.wait_for(lambda: eng.engine.stats.datagrams >= sent + 4)
    topo = {
        "links": {
            "link1": {"node1": "leaf1", "port1": "eth1", "node2": "spine1", "port2": "eth1"},
            "link2": {"node1": "leaf1", "port1": "eth2", "node2": "spine2", "port2": "eth1"},
        }
    }
    status, body = get(eng, "/topology/json", json.dumps(topo).encode(), "PUT")
    assert status == 204, body
    leaf = get_json(eng, f"{APP}/topology.js/lookup/json?agent=198.51.100.11&ifindex=1&node=spine1")
    assert leaf["agentForNode"] == "198.51.100.21"
    assert leaf["link"] == {
        "linkname": "link1",
        "localnode": "leaf1",
        "localport": "eth1",
        "remotenode": "spine1",
        "remoteport": "eth1",
    }
    assert leaf["nodes"] == ["leaf1"]
    edge = get_json(eng, f"{APP}/topology.js/lookup/json?agent=198.51.100.11&ifindex=3&node=spine2")
    assert edge["link"] is None and edge["port"]["port"] == "eth3"  # edge port, named by ifname
    assert edge["agentForNode"] is None  # spine2 sends nothing


def test_edge_and_core_aggregation_use_the_topology(eng):
    """activeFlows(..., 'edge') counts flows measured at edge ports only (no double counting
    of a packet seen again on an inter-switch link); 'core' keeps link ports only."""
    feed(eng, 1)
    agents = sorted(a for a in eng.get_json("/agents/json") if a.startswith("192.0.2."))[:2]
    get(eng, "/topology/json", json.dumps(_topology(agents)).encode(), "PUT")
    feed(eng, 2)
    modes = get_json(eng, f"{APP}/topology.js/aggmodes/json")
    assert "4" in modes["sum"] and set(modes["sum"]) - {"4"}  # both kinds of port sampled
    assert modes["edge"] and "4" not in modes["edge"]
    assert modes["core"] and set(modes["core"]) == {"4"}
