"""The bgp* JavaScript globals: thin adapters over the BGP subsystem's methods (run on the engine
loop, since they read and change state the sample path uses)."""
from __future__ import annotations

try:
    from jsapi.registry import register_global
except ImportError:  # JS runtime not installed: the subsystem works without its globals
    register_global = None  # type: ignore[assignment]


def _bgp(script):
    return script.engine.subsystems["bgp"]


def _add_neighbor(script, peer, local_as, router_id=None, options=None, on_open=None,
                  on_close=None):
    return _bgp(script).add_neighbor(peer, local_as, router_id, options, on_open, on_close)


def _top(family):
    def top(script, router, max_prefixes=100, min_value=0, direction="destination",
            include_covered=False, min_prefix=0, prune_covered=False):
        return _bgp(script).top_prefixes(router, max_prefixes, min_value, direction,
                                         include_covered, min_prefix, prune_covered, family)
    return top


_GLOBALS = {
    "bgpAddNeighbor": (_add_neighbor, True),
    "bgpRemoveNeighbor": (lambda script, peer: _bgp(script).remove_neighbor(peer), False),
    "bgpAddSource": (lambda script, agent, router, t=None, value=None:
                     _bgp(script).add_source(agent, router, t, value), False),
    "bgpRemoveSource": (lambda script, agent: _bgp(script).remove_source(agent), False),
    "bgpTopPrefixes": (_top(4), False),
    "bgpTopPrefixes6": (_top(6), False),
    "bgpAddRoute": (lambda script, router, route: _bgp(script).add_route(router, route), False),
    "bgpRemoveRoute": (lambda script, router, prefix: _bgp(script).remove_route(router, prefix),
                       False),
    "bgpRouteCount": (lambda script, router: _bgp(script).route_count(router), False),
    "bgpAddFlow": (lambda script, router, spec: _bgp(script).add_flow(router, spec), False),
    "bgpRemoveFlow": (lambda script, router, spec: _bgp(script).remove_flow(router, spec), False),
    "bgpFlowCount": (lambda script, router: _bgp(script).flow_count(router), False),
    "bgpSetNextHops": (lambda script, nexthops=None: _bgp(script).set_next_hops(nexthops), False),
}


def register() -> bool:
    if register_global is None:
        return False
    for name, (fn, callbacks) in _GLOBALS.items():
        register_global(name, fn, requires=("bgp",), loop=True, callbacks=callbacks)
    return True


register()
