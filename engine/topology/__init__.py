"""Topology: the switch/link map that sFlow-RT apps install (PUT /topology/json, setTopology())
and query (topology* JavaScript globals, the TOPOLOGY / EDGE / CORE agent selectors, activeFlows
aggMode ``edge`` / ``core``).

Body: ``{"nodes": {name: {"agent": ip, "ports": {port: {"ifindex": "3"}}}},
"links": {name: {"node1", "port1", "node2", "port2"}}}``. ``nodes`` is optional: a node's agent
is then the agent whose ``host_name`` is the node name, and a port's ifIndex the data source
whose ``ifname`` is the port name (both from the counters the agent sends). Decisions and
deviations from sFlow-RT: docs/topology.md.
"""

from __future__ import annotations

import copy
import ipaddress
from collections import deque

from ..fanout import fronted, replicate, sync
from ..metrics.selection import Selection
from . import jsglobals  # noqa: F401  (registers the topology* JavaScript globals)
from . import keyfunc  # noqa: F401  (registers the link: key function)
from .locate import HostLocator
from .paths import Graph


def _text(v) -> str:
    return "" if v is None else str(v)


def _agent(v) -> str:
    """An agent address as the collector writes it (IPv6 lower-case and compressed), so that a
    topology or a caller writing ``2001:DB8:0::1`` names the agent ``2001:db8::1``."""
    text = _text(v).strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _count(value, what: str) -> int:
    """A path count or length argument: a whole number (JS numbers may arrive as floats)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{what} must be a finite number")
    return int(number)


def check(obj) -> dict:
    """Validate a topology body; returns a deep copy with string values. ValueError says why."""
    if not isinstance(obj, dict):
        raise ValueError("topology must be a JSON object")
    links = obj.get("links", {})
    nodes = obj.get("nodes", {})
    if not isinstance(links, dict) or not isinstance(nodes, dict):
        raise ValueError("topology links and nodes must be objects")
    for name, link in links.items():
        if not isinstance(link, dict):
            raise ValueError(f"link {name}: object expected")
        for field in ("node1", "node2"):
            if not isinstance(link.get(field), str) or not link.get(field):
                raise ValueError(f"link {name}: {field} missing")
    for name, node in nodes.items():
        if not isinstance(node, dict):
            raise ValueError(f"node {name}: object expected")
        ports = node.get("ports", {})
        if not isinstance(ports, dict) or not all(isinstance(p, dict) for p in ports.values()):
            raise ValueError(f"node {name}: ports must be an object of objects")
    return copy.deepcopy(obj)


_NO_SELECTION = Selection()


def _edge_ports(links: frozenset):
    """Predicate for one agent's EDGE data sources: ifIndex ones not on an inter-switch link."""
    if not links:
        return str.isdigit
    return lambda ds: ds.isdigit() and ds not in links


class _Maps:
    """The node/port <-> agent/ifIndex mapping and the port selections derived from it, valid
    for one (topology version, metric store names_version): rebuilt only when the topology is
    set again or an ifname / host_name counter appears, changes or expires.

    ``pending``: agents with a link end (a named port) not yet mapped to an ifIndex (its ifname
    counter has not arrived): any of their unnamed ports may be that link end, so their EDGE
    ports are only the mapped ports known not to be link ends (an unmapped link port counted
    as EDGE would count ingress traffic twice in aggMode ``edge``)."""

    __slots__ = (
        "version",
        "names",
        "node_agent",
        "port_of",
        "port_link",
        "topology",
        "edge",
        "core",
    )

    def __init__(self, version, names, node_agent, port_of, port_link, pending=frozenset()):
        self.version, self.names = version, names
        self.node_agent, self.port_of, self.port_link = node_agent, port_of, port_link
        agents = set(node_agent.values())
        learned: dict[str, set] = {}
        for agent, ifindex in port_link:
            learned.setdefault(agent, set()).add(ifindex)
        links = {a: frozenset(p) for a, p in learned.items()}
        known: dict[str, set] = {}
        for agent, ifindex in port_of:
            if agent in pending and ifindex.isdigit() and (agent, ifindex) not in port_link:
                known.setdefault(agent, set()).add(ifindex)
        self.topology = Selection.of_agents(agents)
        self.core = Selection({a: p.__contains__ for a, p in links.items() if a in agents})
        self.edge = Selection(
            {
                a: frozenset(known.get(a, ())).__contains__
                if a in pending
                else _edge_ports(links.get(a, frozenset()))
                for a in agents
            }
        )


class Topology:
    def __init__(self, engine=None):
        self.engine = engine
        self.topology: dict = {}
        self.version = 0
        self._maps: _Maps | None = None  # learned mapping cache (see _Maps)
        self._graph: Graph | None = None  # link graph + path answers of this version
        self._store = None  # the metric store, once found
        self.locator = None  # HostLocator, set by attach()

    # -- install -----------------------------------------------------------------------------
    def set(self, obj) -> bool:
        self.topology = check(obj) if obj else {}
        self.version += 1
        self._maps = None
        replicate(self.engine, "topology", "set", self.topology)
        if self.topology and self.locator is not None:
            self.locator.start()
        return True

    def replica_state(self) -> list:
        """The calls that give a (re)started worker this topology (docs/ingest.md)."""
        out: list[tuple] = [("set", (self.topology,), {})] if self.topology else []
        if self.locator is not None and self.locator.started:
            out.append(("learn_hosts", (), {}))
        return out

    def learn_hosts(self) -> None:
        """Start learning host locations (a worker, when the front started)."""
        if self.locator is not None:
            self.locator.start()

    def get(self) -> dict:
        return copy.deepcopy(self.topology)

    @property
    def links(self) -> dict:
        return self.topology.get("links", {})

    @property
    def nodes(self) -> dict:
        return self.topology.get("nodes", {})

    # -- node/port <-> agent/ifIndex ---------------------------------------------------------
    def _metrics(self):
        store = self._store
        if store is None:
            subs = getattr(self.engine, "subsystems", None) or {}
            store = self._store = subs.get("metrics")
        return store

    def _current(self) -> _Maps:
        """The mapping for the installed topology and the store's current ifname/host_name
        counters (rebuilt only when either changed)."""
        maps = self._maps
        store = self._metrics()
        if fronted(self.engine):
            sync(self.engine)  # the workers' latest ifname/host_name changes
        names = store.names_version if store is not None else 0
        if maps is None or maps.version != self.version or maps.names != names:
            maps = self._maps = self._build_maps(store, names)
        return maps

    def _mapping(self):
        """(agent of node, {(agent, ifindex): (node, port)})."""
        maps = self._current()
        return maps.node_agent, maps.port_of

    def _build_maps(self, store, names_version) -> _Maps:
        """Declared entries first, the rest learned from host_name / ifname counters."""
        node_agent: dict[str, str] = {}
        port_of: dict[tuple[str, str], tuple[str, str]] = {}
        names = set(self.nodes)
        for link in self.links.values():
            names.update((link["node1"], link["node2"]))
        by_host: dict[str, str] = {}
        ifnames: dict[str, dict[str, str]] = {}
        if store is not None and names:
            # the store's names table: (agent, ifIndex) -> ifname, (agent, "") -> host_name,
            # of every agent (with workers: learned in every worker, engine/shared.py)
            for (address, ds_id), name in tuple(store.names.items()):
                if not name:
                    continue
                if ds_id:
                    ifnames.setdefault(address, {})[str(name)] = ds_id
                else:
                    by_host.setdefault(str(name), address)
        # sorted: when two nodes share one agent, the learned ifName ports go to the first by
        # name, not to whichever set iteration happens to reach first
        ordered = sorted(names)
        for name in ordered:
            agent = _agent(self.nodes.get(name, {}).get("agent")) or by_host.get(name)
            if agent:
                node_agent[name] = agent
        for name in ordered:
            agent = node_agent.get(name)
            if not agent:
                continue
            ports = self.nodes.get(name, {}).get("ports", {})
            declared = set()
            for port, info in ports.items():
                if info.get("ifindex") not in (None, ""):
                    port_of[(agent, _text(info["ifindex"]).strip())] = (name, port)
                    declared.add(port)
            # every interface of a node's agent is one of its ports, named by its ifname;
            # a port the node declares with its ifindex keeps that one
            for port, ifindex in ifnames.get(agent, {}).items():
                if (agent, ifindex) not in port_of and port not in declared:
                    port_of[(agent, ifindex)] = (name, port)
        ends = self._link_ends()
        port_link = {where: ends[np][0] for where, np in port_of.items() if np in ends}
        mapped = set(port_of.values())
        pending = frozenset(
            node_agent[node]
            for node, port in ends
            if port and node in node_agent and (node, port) not in mapped
        )
        return _Maps(self.version, names_version, node_agent, port_of, port_link, pending)

    def link_name_of(self, agent, ifindex):
        """Name of the link on (agent, ifIndex), None for an edge or unknown port: the
        ``link:<ifindexkey>`` key function, once per sample, so a cached dict lookup."""
        maps = self._maps
        store = self._store
        if (
            maps is None
            or maps.version != self.version
            or (store is not None and maps.names != store.names_version)
        ):
            if not self.topology:
                return None
            maps = self._current()
        return maps.port_link.get((agent, str(ifindex)))

    def agent_for_node(self, node: str):
        return self._mapping()[0].get(_text(node))

    def nodes_for_agent(self, agent: str, data_source=None) -> list[str]:
        node_agent, port_of = self._mapping()
        agent = _agent(agent)
        if data_source not in (None, ""):
            hit = port_of.get((agent, _text(data_source)))
            if hit:
                return [hit[0]]
        return sorted(n for n, a in node_agent.items() if a == agent)

    def _link_ends(self):
        """{(node, port): (link name, remote node, remote port)} for both ends of every link."""
        ends = {}
        for name, link in self.links.items():
            n1, p1 = link["node1"], _text(link.get("port1"))
            n2, p2 = link["node2"], _text(link.get("port2"))
            ends[(n1, p1)] = (name, n2, p2)
            ends[(n2, p2)] = (name, n1, p1)
        return ends

    def interface_to_port(self, agent, ifindex):
        agent, ifindex = _agent(agent), _text(ifindex)
        hit = self._mapping()[1].get((agent, ifindex))
        if hit is None:
            return None
        return {"node": hit[0], "port": hit[1], "agent": agent, "ifindex": ifindex}

    def interface_to_link(self, agent, ifindex):
        port = self.interface_to_port(agent, ifindex)
        if port is None:
            return None
        end = self._link_ends().get((port["node"], port["port"]))
        if end is None:
            return None
        name, rnode, rport = end
        return {
            "linkname": name,
            "localnode": port["node"],
            "localport": port["port"],
            "remotenode": rnode,
            "remoteport": rport,
        }

    def link_metric(self, name, metrics, node=None) -> list[dict] | None:
        """The metrics of a link's two ports, end by end as sFlow-RT answers: every metric of
        node1's port, then every metric of node2's (node2's first when `node` names it: the
        direction starting there), each ``{agent, dataSource, metricName, metricValue,
        lastUpdate}`` (``topKeys`` too for a flow metric). A port without a value gives
        ``{agent, dataSource, metricName}``; an end whose agent or ifIndex is unknown gives
        ``{metricName}`` alone."""
        link = self.links.get(_text(name))
        if link is None:
            return None
        node_agent, port_of = self._mapping()
        where = {v: k for k, v in port_of.items()}  # (node, port) -> (agent, ifindex)
        ends = [
            where.get((link["node1"], _text(link.get("port1")))),
            where.get((link["node2"], _text(link.get("port2")))),
        ]
        if node is not None and _text(node) == link["node2"] and link["node1"] != link["node2"]:
            ends.reverse()
        store = self._metrics()
        names = metrics if isinstance(metrics, list) else [m for m in str(metrics).split(",") if m]
        out = []
        for end in ends:
            for m in names:
                if end is None or store is None:
                    out.append({"metricName": m})
                    continue
                agent, ifindex = end
                found = store.query_metric(agent, f"{ifindex}.{m}")[0]
                entry = {"agent": agent, "dataSource": ifindex, "metricName": m}
                if "metricValue" in found:
                    entry["metricValue"] = found["metricValue"]
                    entry["lastUpdate"] = found["lastUpdate"]
                    if "topKeys" in found:
                        entry["topKeys"] = found["topKeys"]
                out.append(entry)
        return out

    # -- graph -------------------------------------------------------------------------------
    def node_names(self) -> list[str]:
        names = set(self.nodes)
        for link in self.links.values():
            names.update((link["node1"], link["node2"]))
        return sorted(names)

    def link_names(self) -> list[str]:
        return sorted(self.links)

    def link(self, name):
        link = self.links.get(_text(name))
        return copy.deepcopy(link) if link is not None else None

    def node(self, name):
        name = _text(name)
        if name not in self.node_names():
            return None
        out = copy.deepcopy(self.nodes.get(name, {}))
        agent = self.agent_for_node(name)
        if agent and "agent" not in out:
            out["agent"] = agent
        return out

    def node_links(self, node) -> list[str]:
        node = _text(node)
        return sorted(n for n, l in self.links.items() if node in (l["node1"], l["node2"]))

    def diameter(self) -> int:
        """Longest shortest path (hops) between two connected nodes; 0 without links."""
        adj: dict[str, set] = {}
        for l in self.links.values():
            adj.setdefault(l["node1"], set()).add(l["node2"])
            adj.setdefault(l["node2"], set()).add(l["node1"])
        best = 0
        for start in adj:
            seen = {start: 0}
            queue = deque([start])
            while queue:
                n = queue.popleft()
                for m in adj[n]:
                    if m not in seen:
                        seen[m] = seen[n] + 1
                        queue.append(m)
            best = max(best, max(seen.values()))
        return best

    # -- paths (engine/topology/paths.py) ----------------------------------------------------
    def graph(self) -> Graph:
        """The link graph of the installed topology, built once per version."""
        graph = self._graph
        if graph is None or graph.version != self.version:
            graph = self._graph = Graph(self.version, self.node_names(), self.links)
        return graph

    def shortest_path(self, node1, node2):
        """Link names along the fewest-hops path node1 -> node2 ([] if the same node); None
        for an unknown node or when no path joins them."""
        return self.graph().shortest_path(_text(node1), _text(node2))

    def shortest_paths(self, node1, node2, k, max_len=None):
        """Up to k loopless paths (lists of link names), fewest hops first, none longer than
        max_len links (no limit when absent or <= 0); None for an unknown node."""
        k, max_len = _count(k, "k"), _count(max_len, "n") if max_len is not None else 0
        return self.graph().shortest_paths(_text(node1), _text(node2), k, max_len)

    def minimum_spanning_tree(self) -> list[str]:
        """Link names of a spanning tree (a forest when the graph is disconnected)."""
        return self.graph().spanning_tree()

    # -- agent selectors ---------------------------------------------------------------------
    # Each returns a cached Selection (metrics/selection.py); empty without a topology.
    def topology_selection(self) -> Selection:
        """TOPOLOGY: every data source of the agents of the topology's nodes."""
        return self._current().topology if self.topology else _NO_SELECTION

    def edge_selection(self) -> Selection:
        """EDGE: the ifIndex data sources of topology agents that are not an end of a link."""
        return self._current().edge if self.topology else _NO_SELECTION

    def core_selection(self) -> Selection:
        """CORE: the ifIndex data sources that are an end of an inter-switch link."""
        return self._current().core if self.topology else _NO_SELECTION

    def port_selection(self, mode: str) -> Selection | None:
        """activeFlows aggMode ``edge`` / ``core``: the EDGE / CORE selection, or None (no
        restriction) while no topology with a node or link is installed."""
        if not (self.nodes or self.links):
            return None
        return self.edge_selection() if mode == "edge" else self.core_selection()


def attach(engine) -> Topology:
    topo = Topology(engine)
    topo.locator = HostLocator(topo, engine)
    store = engine.subsystems.get("metrics") if hasattr(engine, "subsystems") else None
    if store is not None and hasattr(store, "add_agent_selector"):
        topo._store = store
        store.add_agent_selector("TOPOLOGY", topo.topology_selection)
        store.add_agent_selector("EDGE", topo.edge_selection)
        store.add_agent_selector("CORE", topo.core_selection)
    return topo
