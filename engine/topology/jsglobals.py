"""The topology JavaScript globals: thin adapters over engine.subsystems["topology"] (run on the
engine loop: the learned node/port mapping reads the metric store)."""
from __future__ import annotations

from collections.abc import Callable

from engine import log

try:
    from jsapi.registry import NULL, register_global
except ImportError:  # JS runtime not installed: the subsystem works without its globals
    register_global = None  # type: ignore[assignment]


def _t(script):
    return script.engine.subsystems["topology"]


def _or_null(value):
    return NULL if value is None else value


def _set(script, obj):
    # apps test the result (topology app: `if(!setTopology(top)) throw "bad_request"`)
    try:
        return _t(script).set(obj)
    except ValueError as exc:
        log.warning(f"{script.id} setTopology: {exc}")
        return False


_GLOBALS: dict[str, Callable] = {
    "setTopology": _set,
    "topologyLinkMetric": lambda s, name, metrics, node=None, *_: _or_null(_t(s).link_metric(name, metrics, node)),
    "getTopology": lambda s: _t(s).get(),
    "topologyVersion": lambda s: _t(s).version,
    "topologyNodeNames": lambda s, *_: _t(s).node_names(),
    "topologyLinkNames": lambda s, *_: _t(s).link_names(),
    "topologyLink": lambda s, name: _or_null(_t(s).link(name)),
    "topologyNode": lambda s, name: _or_null(_t(s).node(name)),
    "topologyNodeLinks": lambda s, node: _t(s).node_links(node),
    "topologyAgentForNode": lambda s, node: _or_null(_t(s).agent_for_node(node)),
    "topologyNodesForAgent": lambda s, agent, ds=None: _t(s).nodes_for_agent(agent, ds),
    "topologyInterfaceToLink": lambda s, agent, ifindex: _or_null(_t(s).interface_to_link(agent, ifindex)),
    "topologyInterfaceToPort": lambda s, agent, ifindex: _or_null(_t(s).interface_to_port(agent, ifindex)),
    "topologyDiameter": lambda s: _t(s).diameter(),
    "topologyShortestPath": lambda s, n1=None, n2=None: _or_null(_t(s).shortest_path(n1, n2)),
    "topologyShortestPaths": lambda s, n1=None, n2=None, k=1, n=None: _or_null(_t(s).shortest_paths(n1, n2, k, n)),
    "topologyMinimumSpanningTree": lambda s, *_: _t(s).minimum_spanning_tree(),
    "topologyLocateHostMac": lambda s, mac: _t(s).locator.locate_mac(mac),
    "topologyLocateHostIP": lambda s, ip: _t(s).locator.locate_ip(ip),
    "topologyLocateHostIP6": lambda s, ip: _t(s).locator.locate_ip(ip, v6=True),
    "topologyLocatedHostMacs": lambda s, agent=None, ifindex=None: _t(s).locator.located_macs(agent, ifindex),
}

if register_global is not None:
    for _name, _fn in _GLOBALS.items():
        register_global(_name, _fn, requires=("topology",), loop=True)
