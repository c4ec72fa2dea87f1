"""The topology JavaScript globals: thin adapters over engine.subsystems["topology"] (run on the
engine loop: the learned node/port mapping reads the metric store)."""

from __future__ import annotations

from functools import partial

from engine import log
from jsapi.registry import NULL, js_global

topology_global = partial(js_global, requires=("topology",), loop=True)


def _t(script):
    return script.engine.subsystems["topology"]


def _or_null(value):
    return NULL if value is None else value


@topology_global("setTopology")
def _set(script, obj):
    # apps test the result (topology app: `if(!setTopology(top)) throw "bad_request"`)
    try:
        return _t(script).set(obj)
    except ValueError as exc:
        log.warning(f"{script.id} setTopology: {exc}")
        return False


@topology_global("topologyLinkMetric")
def _link_metric(s, name, metrics, node=None, *_):
    return _or_null(_t(s).link_metric(name, metrics, node))


@topology_global("getTopology")
def _get(s):
    return _t(s).get()


@topology_global("topologyVersion")
def _version(s):
    return _t(s).version


@topology_global("topologyNodeNames")
def _node_names(s, *_):
    return _t(s).node_names()


@topology_global("topologyLinkNames")
def _link_names(s, *_):
    return _t(s).link_names()


@topology_global("topologyLink")
def _link(s, name):
    return _or_null(_t(s).link(name))


@topology_global("topologyNode")
def _node(s, name):
    return _or_null(_t(s).node(name))


@topology_global("topologyNodeLinks")
def _node_links(s, node):
    return _t(s).node_links(node)


@topology_global("topologyAgentForNode")
def _agent_for_node(s, node):
    return _or_null(_t(s).agent_for_node(node))


@topology_global("topologyNodesForAgent")
def _nodes_for_agent(s, agent, ds=None):
    return _t(s).nodes_for_agent(agent, ds)


@topology_global("topologyInterfaceToLink")
def _interface_to_link(s, agent, ifindex):
    return _or_null(_t(s).interface_to_link(agent, ifindex))


@topology_global("topologyInterfaceToPort")
def _interface_to_port(s, agent, ifindex):
    return _or_null(_t(s).interface_to_port(agent, ifindex))


@topology_global("topologyDiameter")
def _diameter(s):
    return _t(s).diameter()


@topology_global("topologyShortestPath")
def _shortest_path(s, n1=None, n2=None):
    return _or_null(_t(s).shortest_path(n1, n2))


@topology_global("topologyShortestPaths")
def _shortest_paths(s, n1=None, n2=None, k=1, n=None):
    return _or_null(_t(s).shortest_paths(n1, n2, k, n))


@topology_global("topologyMinimumSpanningTree")
def _minimum_spanning_tree(s, *_):
    return _t(s).minimum_spanning_tree()


@topology_global("topologyLocateHostMac")
def _locate_mac(s, mac):
    return _t(s).locator.locate_mac(mac)


@topology_global("topologyLocateHostIP")
def _locate_ip(s, ip):
    return _t(s).locator.locate_ip(ip)


@topology_global("topologyLocateHostIP6")
def _locate_ip6(s, ip):
    return _t(s).locator.locate_ip(ip, v6=True)


@topology_global("topologyLocatedHostMacs")
def _located_macs(s, agent=None, ifindex=None):
    return _t(s).locator.located_macs(agent, ifindex)
