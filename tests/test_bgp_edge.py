"""bgpAddSource('EDGE' | 'CORE' | 'TOPOLOGY' | 'ALL', router) with a topology installed: an EDGE
source accounts only samples taken at edge ports (not an end of an inter-switch link), so a
packet crossing the fabric - sampled where it enters and again on each link port it enters -
is counted once in bgpTopPrefixes; without a topology EDGE means every agent (docs/bgp.md
"Sources and the topology").

A running engine (real UDP sFlow, real REST, real V8 for bgpAddSource/bgpTopPrefixes), four raw
BGP peers (127.0.0.1-4, one router table per source kind) announcing the same routes, and the
test_edge_core fabric: leaf1 and leaf2 joined by one link (leaf1 eth3 - leaf2 eth3), leaf1
declared with agent and ifIndexes, leaf2 only named by the link (agent and ports learned from
its host_name / ifName counters), and an agent outside the topology."""

from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from conftest import RunningEngine
from bgp_peer import RawPeer, attrs_bytes, pack_updates
from engine.sflow import encode as e

LEAF1, LEAF2, OTHER = "192.0.2.11", "192.0.2.12", "192.0.2.99"
HOSTS = {LEAF1: "leaf1", LEAF2: "leaf2", OTHER: "other"}
PORTS = {
    LEAF1: {1: "eth1", 2: "eth2", 3: "eth3"},
    LEAF2: {1: "eth1", 3: "eth3", 4: "eth4"},
    OTHER: {7: "eth7"},
}
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
H1, H3 = "10.1.0.1", "10.3.0.3"  # behind leaf1 eth1 / leaf2 eth4
H1_6, H3_6 = "2001:db8:1::1", "2001:db8:3::3"
ROUTERS = {"EDGE": "127.0.0.1", "CORE": "127.0.0.2", "TOPOLOGY": "127.0.0.3", "ALL": "127.0.0.4"}
T = 3600.0  # moving-average time constant: a test's few seconds decay values by < 0.1%
SIZE, RATE = 1000, 100
UNIT = SIZE * RATE / T  # the rate one sample adds: bytes x sampling rate / t

SCRIPT = r"""
bgpAddNeighbor('127.0.0.1', 65162, '10.0.0.162');
bgpAddSource('EDGE', '127.0.0.1', 3600, 'bytes');
setHttpHandler(function(req) {
  switch (req.query.op[0]) {
  case 'top': return bgpTopPrefixes('127.0.0.1', 10, 0, 'destination');
  case 'src': return bgpTopPrefixes('127.0.0.1', 10, 0, 'source');
  case 'top6': return bgpTopPrefixes6('127.0.0.1', 10);
  }
  throw 'not_found';
});
"""


def names(agent: str, seq: int, ports: dict) -> bytes:
    """One counter poll: host_descr (the host name) and per port its ifIndex and ifName."""
    samples = [
        e.counter_sample(
            seq,
            2,
            1,
            [
                e.encode_counter_record(
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
    for ifindex, name in ports.items():
        samples.append(
            e.counter_sample(
                seq,
                0,
                ifindex,
                [
                    e.encode_counter_record(
                        {
                            "counterBlock_tag": "0:1",
                            "ifIndex": ifindex,
                            "networkType": 6,
                            "ifSpeed": 10**9,
                            "ifDirection": 1,
                            "ifStatus": 3,
                        }
                    ),
                    e.encode_counter_record({"counterBlock_tag": "0:1005", "ifName": name}),
                ],
            )
        )
    return e.datagram(agent, seq, 1000 * seq, samples)


_seq = iter(range(1000, 10**6))


def sampled(agent: str, ifindex: int, src: str, dst: str, n: int) -> list[bytes]:
    """n ingress flow samples of src -> dst taken at ifindex (SIZE-byte packets, 1 in RATE)."""
    tag = "0:4" if ":" in dst else "0:3"
    ip = {"srcIP6": src, "dstIP6": dst} if ":" in dst else {"srcIP": src, "dstIP": dst}
    rec = e.encode_flow_record(
        {
            "flowBlock_tag": tag,
            "sampledPacketSize": SIZE,
            "IPProtocol": 6,
            "TCPSrcPort": 40000,
            "TCPDstPort": 443,
            **ip,
        }
    )
    samples = [
        e.flow_sample(next(_seq), 0, ifindex, RATE, RATE, 0, ifindex, 99, [rec]) for _ in range(n)
    ]
    return [e.datagram(agent, next(_seq), 5000, samples[i : i + 8]) for i in range(0, n, 8)]


def fabric_traffic() -> list[bytes]:
    """h1 -> h3 enters the fabric at leaf1 eth1 (edge) and is sampled again where it enters
    leaf2 from the link (leaf2 eth3, core) and by the outside agent: 20 samples of the same
    packets at each. h3 -> h1 replies enter at leaf2 eth4 (an edge port known only from
    leaf2's ifName counters): 10 samples, and 5 more on the link end at leaf1 eth3. IPv6
    h1 -> h3: 6 samples at leaf1 eth1 and 6 at leaf2 eth3."""
    return (
        sampled(LEAF1, 1, H1, H3, 20)
        + sampled(LEAF2, 3, H1, H3, 20)
        + sampled(OTHER, 7, H1, H3, 20)
        + sampled(LEAF2, 4, H3, H1, 10)
        + sampled(LEAF1, 3, H3, H1, 5)
        + sampled(LEAF1, 1, H1_6, H3_6, 6)
        + sampled(LEAF2, 3, H1_6, H3_6, 6)
    )


def values(top: dict) -> dict:
    return {p["prefix"]: p["value"] for p in top["topPrefixes"]}


def send(eng, datagrams) -> None:
    sent = eng.engine.stats.datagrams
    eng.send(datagrams)
    eng.wait_for(lambda: eng.engine.stats.datagrams >= sent + len(datagrams), 20)


def put_topology(eng, body) -> None:
    req = urllib.request.Request(
        eng.http_url + "/topology/json",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 204


def js(eng, op):
    with urllib.request.urlopen(f"{eng.http_url}/script/bgpedge.js/json?op={op}", timeout=20) as r:
        return json.loads(r.read())


@pytest.fixture
def fabric(tmp_path):
    """Engine + the EDGE source from JavaScript, CORE / TOPOLOGY / ALL sources from Python,
    each on its own router; every router has 10.1.0.0/16, 10.3.0.0/16 and 2001:db8:3::/48.
    The counters that name leaf2's agent and ports have been received."""
    yield from _fabric(tmp_path, {})


@pytest.fixture
def fabric_in_process(tmp_path):
    """The same in one process (sflow.workers=1): for tests of the sample path's own caches,
    which with workers live in the workers."""
    yield from _fabric(tmp_path, {"sflow.workers": 1})


def _fabric(tmp_path, extra: dict):
    (tmp_path / "bgpedge.js").write_text(SCRIPT)
    eng = RunningEngine(
        {"bgp.start": "yes", "bgp.port": "0", "script.file": "bgpedge.js", **extra}, home=tmp_path
    ).start()
    peers = []
    try:
        eng.wait_for(
            lambda: all(s.started for s in eng.engine.subsystems["runtime"].scripts.values()), 30
        )
        bgp = eng.engine.subsystems["bgp"]
        for kind, router in ROUTERS.items():
            if kind != "EDGE":
                eng.call(bgp.add_neighbor, router, 65162, "10.0.0.162")
            peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254", source=router)
            peers.append(peer)
            peer.handshake()
            for prefix in ("10.1.0.0", "10.3.0.0"):
                for msg in pack_updates(
                    [(socket.inet_aton(prefix), 16)],
                    attrs_bytes(aspath=(65254, 64512), nexthop="192.0.2.254"),
                ):
                    peer.send(msg)
            for msg in pack_updates(
                [(socket.inet_pton(socket.AF_INET6, "2001:db8:3::"), 48)],
                attrs_bytes(aspath=(65254, 64512), nexthop=None),
                family=6,
                nexthop6=socket.inet_pton(socket.AF_INET6, "2001:db8:ff::fe"),
            ):
                peer.send(msg)
        for router in ROUTERS.values():
            n = bgp.neighbors[router]
            eng.wait_for(lambda: len(n.rib4) == 2 and len(n.rib6) == 1, 20)
        for kind in ("CORE", "TOPOLOGY", "ALL"):
            assert eng.call(bgp.add_source, kind, ROUTERS[kind], T, "bytes")
        send(eng, [names(agent, 1, ports) for agent, ports in PORTS.items()])
        yield eng, bgp
    finally:
        for peer in peers:
            peer.close()
        eng.stop()


def top(eng, bgp, kind, direction="destination", family=4):
    return eng.call(bgp.top_prefixes, ROUTERS[kind], 10, 0, direction, False, 0, False, family)


def test_edge_source_counts_fabric_traffic_once(fabric):
    eng, bgp = fabric
    put_topology(eng, TOPOLOGY)
    send(eng, fabric_traffic())
    # EDGE: h1 -> h3 once (its 20 edge samples, not the 20 on leaf2's link port nor the
    # outside agent's 20); the replies at leaf2's learned edge port, not on leaf1's link end
    edge = js(eng, "top")
    assert values(edge) == pytest.approx(
        {"10.3.0.0/16": 20 * UNIT, "10.1.0.0/16": 10 * UNIT}, rel=0.01
    )
    assert edge["valueTotal"] == pytest.approx(30 * UNIT, rel=0.01)
    assert edge["valuePercentCoverage"] == pytest.approx(100)
    assert values(js(eng, "src")) == pytest.approx(
        {"10.1.0.0/16": 20 * UNIT, "10.3.0.0/16": 10 * UNIT}, rel=0.01
    )
    assert values(js(eng, "top6")) == pytest.approx({"2001:db8:3::/48": 6 * UNIT}, rel=0.01)
    # the REST form is the same engine function
    rest = eng.get_json(f"/bgp/topprefixes/{ROUTERS['EDGE']}/json?maxPrefixes=10")
    assert values(rest) == pytest.approx(values(edge), rel=0.01)
    # CORE: only the link ports' samples; TOPOLOGY: every port of the two leaves; ALL: all
    assert values(top(eng, bgp, "CORE")) == pytest.approx(
        {"10.3.0.0/16": 20 * UNIT, "10.1.0.0/16": 5 * UNIT}, rel=0.01
    )
    assert values(top(eng, bgp, "TOPOLOGY")) == pytest.approx(
        {"10.3.0.0/16": 40 * UNIT, "10.1.0.0/16": 15 * UNIT}, rel=0.01
    )
    assert values(top(eng, bgp, "ALL")) == pytest.approx(
        {"10.3.0.0/16": 60 * UNIT, "10.1.0.0/16": 15 * UNIT}, rel=0.01
    )
    assert values(top(eng, bgp, "TOPOLOGY", family=6)) == pytest.approx(
        {"2001:db8:3::/48": 12 * UNIT}, rel=0.01
    )


def test_without_topology_every_source_counts_every_agent(fabric):
    eng, bgp = fabric
    send(eng, fabric_traffic())
    want = {"10.3.0.0/16": 60 * UNIT, "10.1.0.0/16": 15 * UNIT}
    assert values(js(eng, "top")) == pytest.approx(want, rel=0.01)
    for kind in ("CORE", "TOPOLOGY", "ALL"):
        assert values(top(eng, bgp, kind)) == pytest.approx(want, rel=0.01), kind
    # a topology without nodes or links restricts nothing either
    put_topology(eng, {"links": {}})
    before = values(js(eng, "top"))["10.3.0.0/16"]
    send(eng, sampled(LEAF2, 3, H1, H3, 8))
    assert values(js(eng, "top"))["10.3.0.0/16"] - before == pytest.approx(8 * UNIT, rel=0.02)


def test_scopes_follow_topology_and_learned_port_names(fabric_in_process):
    """The per-sample path reuses one Selection; a new topology or a learned ifName change
    (the metric store's names_version) makes the next sample take the new one, once."""
    eng, bgp = fabric_in_process
    topo = eng.engine.subsystems["topology"]
    put_topology(eng, TOPOLOGY)
    send(eng, sampled(LEAF1, 1, H1, H3, 1))  # the first sample takes the selection
    # the sources hold the topology's own cached selections
    scopes = {s.agent: s.scope for s in bgp.wildcard_sources}
    assert scopes["EDGE"] is eng.call(topo.edge_selection)
    assert scopes["CORE"] is eng.call(topo.core_selection)
    assert scopes["TOPOLOGY"] is eng.call(topo.topology_selection)
    assert scopes["ALL"] is None
    calls = []
    original = topo.edge_selection

    def counting():
        calls.append(1)
        return original()

    topo.edge_selection = counting  # the speaker asks through getattr(topo, ...)
    try:

        def added(kind, prefix, datagrams):
            before = values(top(eng, bgp, kind)).get(prefix, 0.0)
            send(eng, datagrams)
            return (values(top(eng, bgp, kind)).get(prefix, 0.0) - before) / UNIT

        # leaf2's link end is eth3 (ifIndex 3): its samples are not EDGE, eth4's are
        assert added("EDGE", "10.3.0.0/16", sampled(LEAF2, 3, H1, H3, 16)) == pytest.approx(
            0, abs=0.1
        )
        assert added("EDGE", "10.1.0.0/16", sampled(LEAF2, 4, H3, H1, 16)) == pytest.approx(
            16, rel=0.02
        )
        assert calls == []  # 32 samples, no selection taken again
        # leaf2 renames its ports: the link end is now ifIndex 4 (learned from ifName)
        send(eng, [names(LEAF2, 2, {1: "eth1", 3: "old3", 4: "eth3"})])
        assert added("EDGE", "10.3.0.0/16", sampled(LEAF2, 3, H1, H3, 16)) == pytest.approx(
            16, rel=0.02
        )
        assert added("EDGE", "10.1.0.0/16", sampled(LEAF2, 4, H3, H1, 16)) == pytest.approx(
            0, abs=0.1
        )
        assert added("CORE", "10.1.0.0/16", sampled(LEAF2, 4, H3, H1, 8)) == pytest.approx(
            8, rel=0.02
        )
        assert len(calls) == 1  # once for the name change, not per sample
        # a new topology without the link: every port of the leaves is EDGE, none CORE
        put_topology(eng, {"nodes": TOPOLOGY["nodes"] | {"leaf2": {}}})
        assert added("EDGE", "10.3.0.0/16", sampled(LEAF2, 3, H1, H3, 8)) == pytest.approx(
            8, rel=0.02
        )
        assert added("CORE", "10.3.0.0/16", sampled(LEAF2, 3, H1, H3, 8)) == pytest.approx(
            0, abs=0.1
        )
        assert len(calls) == 2
        # agents outside the topology are never EDGE while one is installed
        assert added("EDGE", "10.3.0.0/16", sampled(OTHER, 7, H1, H3, 8)) == pytest.approx(
            0, abs=0.1
        )
        # removing the topology: EDGE is every agent again
        eng.call(topo.set, {})
        assert added("EDGE", "10.3.0.0/16", sampled(OTHER, 7, H1, H3, 8)) == pytest.approx(
            8, rel=0.02
        )
    finally:
        del topo.edge_selection


def test_agent_source_and_bgp_keys_unaffected_by_edge_scope(fabric):
    """An agent's own bgpAddSource takes all of its samples (it wins over the wildcard
    sources); the bgp* flow keys are filled for samples from every agent and port, link
    ports included (the route of an address does not depend on where it was sampled;
    activeFlows' aggMode 'edge' is what counts a flow once)."""
    eng, bgp = fabric
    put_topology(eng, TOPOLOGY)
    assert eng.call(bgp.add_source, LEAF2, ROUTERS["CORE"], T, "bytes")
    before = values(top(eng, bgp, "CORE")).get("10.3.0.0/16", 0.0)
    send(
        eng,
        sampled(LEAF2, 3, H1, H3, 8) + sampled(LEAF2, 4, H1, H3, 4) + sampled(LEAF1, 3, H1, H3, 2),
    )
    # CORE router: LEAF2's own source (12 samples, every port) + the CORE wildcard's leaf1
    # link-port samples (2); LEAF2's samples never reach the wildcard sources
    assert values(top(eng, bgp, "CORE"))["10.3.0.0/16"] - before == pytest.approx(
        14 * UNIT, rel=0.02
    )
    assert values(js(eng, "top")).get("10.3.0.0/16", 0.0) == 0.0
    assert eng.call(bgp.remove_source, LEAF2)
    status = urllib.request.urlopen(
        urllib.request.Request(
            eng.http_url + "/flow/dstas/json",
            method="PUT",
            data=json.dumps(
                {"keys": "bgpdestinationas,ipdestinationmaskbits", "value": "frames"}
            ).encode(),
            headers={"Content-Type": "application/json"},
        ),
        timeout=10,
    ).status
    assert status in (200, 204)
    send(eng, sampled(LEAF2, 3, H1, H3, 4) + sampled(LEAF1, 1, H1, H3, 4))
    # both observations have the keys, the link port's too: one flow seen at two ports
    [total] = eng.wait_for(
        lambda: (lambda f: f and f[0]["flowN"] == 2 and f)(
            eng.get_json("/activeflows/ALL/dstas/json?aggMode=sum")
        )
    )
    assert total["key"] == "64512,16"
    assert eng.get_json(f"/activeflows/{LEAF2}/dstas/json")[0]["key"] == "64512,16"
    [edge] = eng.get_json("/activeflows/ALL/dstas/json?aggMode=edge")
    assert (edge["agent"], edge["dataSource"], edge["key"], edge["flowN"]) == (
        LEAF1,
        "1",
        "64512,16",
        1,
    )
    assert edge["value"] == pytest.approx(total["value"] / 2, rel=0.05)
