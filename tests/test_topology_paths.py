"""topologyShortestPath(n1, n2), topologyShortestPaths(n1, n2, k[, n]) and
topologyMinimumSpanningTree() (docs/topology.md "Paths"), called from a real V8 script of a
running engine and checked against answers the test computes itself: BFS distances, every
simple path enumerated by brute force, components by union-find.

Shapes: a path is an array of link names from n1 to n2; ShortestPaths an array of such paths;
the spanning tree an array of link names."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections import deque

import pytest

from conftest import RunningEngine
from engine.sflow import encode

SCRIPT = r"""
setHttpHandler(function(req) {
  var b = req.body;
  switch(req.path[0]) {
    case 'set':
      return {ok: setTopology(b), version: topologyVersion()};
    case 'query':
      var out = {version: topologyVersion(), nodes: topologyNodeNames(),
                 mst: topologyMinimumSpanningTree(), path: {}, paths: {}};
      b.pairs.forEach(function(p) {
        var key = p[0] + '|' + p[1];
        out.path[key] = topologyShortestPath(p[0], p[1]);
        out.paths[key] = b.n === undefined ? topologyShortestPaths(p[0], p[1], b.k)
                                           : topologyShortestPaths(p[0], p[1], b.k, b.n);
      });
      return out;
    case 'odd':
      var thrown = null;
      try { topologyShortestPaths(b.a, b.b, 'many'); } catch(e) { thrown = String(e.message || e); }
      return {missing: topologyShortestPath(b.a), noargs: topologyShortestPath(),
              kzero: topologyShortestPaths(b.a, b.b, 0), nodefault: topologyShortestPaths(b.a, b.b),
              kfloat: topologyShortestPaths(b.a, b.b, 2.0), thrown: thrown,
              typeOfPath: Array.isArray(topologyShortestPath(b.a, b.b))};
  }
  throw 'not_found';
});
"""
APP = "/app/paths/scripts/paths.js"


# -- independent reference computations ---------------------------------------------------------
def adjacency(links: dict) -> dict:
    adj: dict[str, list] = {}
    for name, l in links.items():
        adj.setdefault(l["node1"], []).append((name, l["node2"]))
        adj.setdefault(l["node2"], []).append((name, l["node1"]))
    return adj


def bfs(links: dict, src: str) -> dict:
    adj = adjacency(links)
    dist = {src: 0}
    queue = deque([src])
    while queue:
        n = queue.popleft()
        for _, m in adj.get(n, ()):
            if m not in dist:
                dist[m] = dist[n] + 1
                queue.append(m)
    return dist


def simple_paths(links: dict, src: str, dst: str) -> list[list[str]]:
    """Every loopless path src -> dst as link names (brute force)."""
    adj = adjacency(links)
    out = []

    def walk(node, seen, path):
        if node == dst:
            out.append(list(path))
            return
        for name, m in adj.get(node, ()):
            if m not in seen:
                seen.add(m)
                path.append(name)
                walk(m, seen, path)
                path.pop()
                seen.discard(m)

    walk(src, {src}, [])
    return out


def walk_nodes(links: dict, src: str, path: list[str]) -> list[str]:
    """The nodes a path of link names visits from src (fails if the links do not chain)."""
    nodes = [src]
    for name in path:
        l = links[name]
        assert nodes[-1] in (l["node1"], l["node2"]), (src, path)
        nodes.append(l["node2"] if nodes[-1] == l["node1"] else l["node1"])
    return nodes


def components(nodes, links: dict) -> int:
    parent = {n: n for n in nodes}

    def root(n):
        while parent[n] != n:
            n = parent[n]
        return n

    for l in links.values():
        parent[root(l["node1"])] = root(l["node2"])
    return len({root(n) for n in nodes})


def leaf_spine(spines=2, leaves=3) -> dict:
    links = {}
    for s in range(1, spines + 1):
        for l in range(1, leaves + 1):
            links[f"leaf{l}-spine{s}"] = {
                "node1": f"leaf{l}",
                "port1": f"swp{s}",
                "node2": f"spine{s}",
                "port2": f"swp{l}",
            }
    return {"links": links}


def ring(n=6, prefix="r") -> dict:
    return {
        "links": {
            f"{prefix}{i}-{prefix}{(i + 1) % n}": {
                "node1": f"{prefix}{i}",
                "node2": f"{prefix}{(i + 1) % n}",
            }
            for i in range(n)
        }
    }


# -- engine -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def eng(tmp_path_factory):
    home = tmp_path_factory.mktemp("paths")
    (home / "apps" / "paths" / "scripts").mkdir(parents=True)
    (home / "apps" / "paths" / "scripts" / "paths.js").write_text(SCRIPT)
    e = RunningEngine({}, home=home).start()
    try:
        e.wait_for(
            lambda: all(s.started for s in e.engine.subsystems["runtime"].scripts.values()), 20
        )
        yield e
    finally:
        e.stop()


def post(e, what: str, body) -> dict:
    req = urllib.request.Request(
        f"{e.http_url}{APP}/{what}/json",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as err:
        raise AssertionError(f"{what}: {err.code} {err.read().decode()}") from None


def install(e, topo: dict) -> int:
    got = post(e, "set", topo)
    assert got["ok"] is True
    return got["version"]


def query(e, pairs, k, n=None) -> dict:
    body = {"pairs": pairs, "k": k}
    if n is not None:
        body["n"] = n
    return post(e, "query", body)


def all_pairs(nodes):
    return [[a, b] for a in nodes for b in nodes]


def check_paths(topo: dict, got: dict, k: int, n=None):
    """Every answered pair against BFS and the brute-force path list."""
    links = topo["links"]
    checked = 0
    for key, path in got["path"].items():
        a, b = key.split("|")
        dist = bfs(links, a)
        everything = simple_paths(links, a, b)
        if b not in dist:
            assert path is None and got["paths"][key] == [], key
            continue
        # the shortest path: BFS length, a real walk from a to b, ties -> link names sort first
        assert len(path) == dist[b], (key, path, dist[b])
        assert walk_nodes(links, a, path)[-1] == b
        assert path == min(p for p in everything if len(p) == dist[b])
        # k shortest: distinct, loopless, sorted by length, at most k, the k best lengths
        paths = got["paths"][key]
        allowed = [p for p in everything if n is None or n <= 0 or len(p) <= n]
        assert len(paths) == min(k, len(allowed)), (key, len(paths), len(allowed))
        assert len({tuple(p) for p in paths}) == len(paths)
        for p in paths:
            nodes = walk_nodes(links, a, p)
            assert nodes[-1] == b and len(set(nodes)) == len(nodes), (key, p)
            assert n is None or n <= 0 or len(p) <= n
        assert [len(p) for p in paths] == sorted(len(p) for p in paths)
        assert [len(p) for p in paths] == sorted(len(p) for p in allowed)[: len(paths)]
        if paths:
            assert paths[0] == path or (n is not None and 0 < n < len(path))
        checked += 1
    return checked


def check_tree(topo: dict, nodes: list, mst: list):
    links = topo["links"]
    assert set(mst) <= set(links) and len(set(mst)) == len(mst)
    tree = {name: links[name] for name in mst}
    assert len(mst) == len(nodes) - components(nodes, links)  # nodes - components links
    assert components(nodes, tree) == components(nodes, links)  # spans every component
    parent = {n: n for n in nodes}  # no cycle

    def root(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for name in mst:
        ra, rb = root(links[name]["node1"]), root(links[name]["node2"])
        assert ra != rb, f"{name} closes a cycle"
        parent[ra] = rb


# -- tests --------------------------------------------------------------------------------------
def test_leaf_spine(eng):
    topo = leaf_spine()
    install(eng, topo)
    got = query(eng, all_pairs(["leaf1", "leaf2", "leaf3", "spine1", "spine2"]), k=4)
    assert got["nodes"] == ["leaf1", "leaf2", "leaf3", "spine1", "spine2"]
    assert check_paths(topo, got, 4) == 25
    # leaf to leaf: two 2-hop paths (one per spine), then the 4-hop ones through another leaf
    assert [len(p) for p in got["paths"]["leaf1|leaf3"]] == [2, 2, 4, 4]
    assert got["path"]["leaf1|leaf1"] == [] and got["paths"]["leaf1|leaf1"] == [[]]
    check_tree(topo, got["nodes"], got["mst"])
    assert len(got["mst"]) == 4
    # n limits the length: leaf-to-leaf paths of at most 2 hops are the two through the spines
    limited = query(eng, all_pairs(["leaf1", "leaf2", "spine1"]), k=10, n=2)
    check_paths(topo, limited, 10, 2)
    assert sorted(map(tuple, limited["paths"]["leaf1|leaf2"])) == [
        ("leaf1-spine1", "leaf2-spine1"),
        ("leaf1-spine2", "leaf2-spine2"),
    ]


def test_ring(eng):
    topo = ring(6)
    install(eng, topo)
    nodes = [f"r{i}" for i in range(6)]
    got = query(eng, all_pairs(nodes), k=5)
    assert check_paths(topo, got, 5) == 36
    # in a ring there are exactly two loopless paths between two different nodes
    assert [len(p) for p in got["paths"]["r0|r3"]] == [3, 3]
    assert [len(p) for p in got["paths"]["r0|r1"]] == [1, 5]
    check_tree(topo, nodes, got["mst"])
    assert len(got["mst"]) == 5


def test_random_graphs_match_brute_force(eng):
    """Seeded random multigraphs (parallel links, a self-loop, several components): Yen's k
    paths have exactly the k best lengths of all loopless paths."""
    rnd = random.Random(6343)
    for _ in range(4):
        names = [f"n{i}" for i in range(8)]
        links = {}
        for j in range(13):
            a, b = rnd.sample(names, 2)
            links[f"l{j:02d}"] = {"node1": a, "node2": b}
        links["l99"] = {"node1": "n0", "node2": "n0"}  # self-loop: on no path
        topo = {"nodes": {n: {} for n in names}, "links": links}
        install(eng, topo)
        got = query(eng, all_pairs(names), k=6)
        check_paths(topo, got, 6)
        check_tree(topo, names, got["mst"])
        assert "l99" not in got["mst"]


def test_parallel_links_are_different_paths(eng):
    topo = {
        "links": {
            "b": {"node1": "s1", "node2": "s2"},
            "a": {"node1": "s2", "node2": "s1"},
            "c": {"node1": "s2", "node2": "s3"},
        }
    }
    install(eng, topo)
    got = query(eng, [["s1", "s3"], ["s3", "s1"]], k=5)
    assert got["path"]["s1|s3"] == ["a", "c"]  # tie: link names sort first
    assert got["path"]["s3|s1"] == ["c", "a"]
    assert got["paths"]["s1|s3"] == [["a", "c"], ["b", "c"]]
    assert got["mst"] == ["a", "c"]


def test_unknown_same_and_disconnected(eng):
    topo = {
        "nodes": {"lonely": {}},
        "links": {
            "a-b": {"node1": "a", "node2": "b"},
            "c-d": {"node1": "c", "node2": "d"},
            "d-e": {"node1": "d", "node2": "e"},
        },
    }
    install(eng, topo)
    got = query(
        eng,
        [
            ["a", "e"],
            ["a", "nowhere"],
            ["nowhere", "a"],
            ["lonely", "a"],
            ["lonely", "lonely"],
            ["c", "e"],
        ],
        k=3,
    )
    assert got["path"]["a|nowhere"] is None and got["paths"]["a|nowhere"] is None
    assert got["path"]["nowhere|a"] is None and got["paths"]["nowhere|a"] is None
    assert got["path"]["a|e"] is None and got["paths"]["a|e"] == []  # no path joins them
    assert got["path"]["lonely|a"] is None and got["paths"]["lonely|a"] == []
    assert got["path"]["lonely|lonely"] == [] and got["paths"]["lonely|lonely"] == [[]]
    assert got["path"]["c|e"] == ["c-d", "d-e"]
    nodes = ["a", "b", "c", "d", "e", "lonely"]
    assert got["nodes"] == nodes
    check_tree(topo, nodes, got["mst"])
    assert sorted(got["mst"]) == ["a-b", "c-d", "d-e"]  # 6 nodes - 3 components
    odd = post(eng, "odd", {"a": "c", "b": "e"})
    assert odd["missing"] is None and odd["noargs"] is None
    assert odd["kzero"] == [] and odd["nodefault"] == [["c-d", "d-e"]]  # k defaults to 1
    assert odd["kfloat"] == [["c-d", "d-e"]] and odd["typeOfPath"] is True
    assert "k must be a number" in odd["thrown"]


def test_results_follow_set_topology(eng):
    """Answers are cached per topology version: a new topology (script or REST) gives new ones."""
    topo = ring(5, "x")
    v1 = install(eng, topo)
    before = query(eng, [["x0", "x2"]], k=3)
    assert before["version"] == v1 and before["path"]["x0|x2"] == ["x0-x1", "x1-x2"]
    del topo["links"]["x1-x2"]  # break the short way round
    v2 = install(eng, topo)
    after = query(eng, [["x0", "x2"]], k=3)
    assert after["version"] == v2 > v1
    assert after["path"]["x0|x2"] == ["x4-x0", "x3-x4", "x2-x3"]
    assert after["paths"]["x0|x2"] == [after["path"]["x0|x2"]]
    assert "x1-x2" not in after["mst"] and len(after["mst"]) == 4
    # the same topology through REST PUT /topology/json
    topo["links"]["x0-x2"] = {"node1": "x0", "node2": "x2"}
    req = urllib.request.Request(
        eng.http_url + "/topology/json",
        data=json.dumps(topo).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=30).close()
    rest = query(eng, [["x0", "x2"]], k=3)
    assert rest["version"] > v2 and rest["path"]["x0|x2"] == ["x0-x2"]
    assert [len(p) for p in rest["paths"]["x0|x2"]] == [1, 3]  # x0-x1 is a dead end now


def test_nodes_sharing_an_agent_learn_ports_in_name_order():
    """Two nodes declared with one agent: the ports learned from ifName counters belong to the
    node whose name sorts first, whatever order the topology lists them in."""
    from engine.core import Engine
    from engine.props import DEFAULTS, Properties

    eng = Engine(Properties(dict(DEFAULTS)))
    topo = eng.subsystems["topology"]
    agent = "192.0.2.21"
    records = [
        encode.counter_sample(
            1,
            0,
            i,
            [
                encode.encode_counter_record(
                    {
                        "counterBlock_tag": "0:1",
                        "ifIndex": i,
                        "networkType": 6,
                        "ifSpeed": 10**9,
                        "ifDirection": 1,
                        "ifStatus": 3,
                    }
                ),
                encode.encode_counter_record({"counterBlock_tag": "0:1005", "ifName": f"eth{i}"}),
            ],
        )
        for i in (1, 2)
    ]
    eng.ingest(encode.datagram(agent, 1, 1000, records), agent, time.time())
    for order in (["zeta", "alpha", "mid"], ["alpha", "mid", "zeta"], ["mid", "zeta", "alpha"]):
        topo.set(
            {
                "nodes": {n: {"agent": agent} for n in order},
                "links": {"l": {"node1": "alpha", "port1": "eth2", "node2": "other"}},
            }
        )
        assert topo.interface_to_port(agent, 1)["node"] == "alpha"
        assert topo.interface_to_link(agent, 2)["linkname"] == "l"
        assert topo.nodes_for_agent(agent) == ["alpha", "mid", "zeta"]


def test_k_is_capped_in_a_mesh(eng):
    """A full mesh of 8 nodes has 1957 loopless paths between two nodes: k=5000 gives the
    1000 shortest (the cap, docs/topology.md), still with the best lengths."""
    names = [f"m{i}" for i in range(8)]
    topo = {
        "links": {
            f"{a}-{b}": {"node1": a, "node2": b}
            for i, a in enumerate(names)
            for b in names[i + 1 :]
        }
    }
    install(eng, topo)
    got = query(eng, [["m0", "m7"]], k=5000)
    paths = got["paths"]["m0|m7"]
    everything = simple_paths(topo["links"], "m0", "m7")
    assert len(everything) == 1957 and len(paths) == 1000
    assert len({tuple(p) for p in paths}) == 1000
    assert [len(p) for p in paths] == sorted(len(p) for p in everything)[:1000]
    check_tree(topo, names, got["mst"])
