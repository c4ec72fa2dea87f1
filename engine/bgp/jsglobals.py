"""The bgp* JavaScript globals: thin adapters over the BGP subsystem's methods (run on the engine
loop, since they read and change state the sample path uses)."""

from __future__ import annotations

from functools import partial

from jsapi.registry import js_global

bgp_global = partial(js_global, requires=("bgp",), loop=True)


def _bgp(script):
    return script.engine.subsystems["bgp"]


@bgp_global("bgpAddNeighbor", callbacks=True)
def _add_neighbor(
    script, peer, local_as, router_id=None, options=None, on_open=None, on_close=None
):
    return _bgp(script).add_neighbor(peer, local_as, router_id, options, on_open, on_close)


@bgp_global("bgpRemoveNeighbor")
def _remove_neighbor(script, peer):
    return _bgp(script).remove_neighbor(peer)


@bgp_global("bgpAddSource")
def _add_source(script, agent, router, t=None, value=None):
    return _bgp(script).add_source(agent, router, t, value)


@bgp_global("bgpRemoveSource")
def _remove_source(script, agent):
    return _bgp(script).remove_source(agent)


def _top_prefixes_of(family: int):
    def top_prefixes(
        script,
        router,
        max_prefixes=100,
        min_value=0,
        direction="destination",
        include_covered=False,
        min_prefix=0,
        prune_covered=False,
    ):
        return _bgp(script).top_prefixes(
            router,
            max_prefixes,
            min_value,
            direction,
            include_covered,
            min_prefix,
            prune_covered,
            family,
        )

    return top_prefixes


bgp_global("bgpTopPrefixes")(_top_prefixes_of(4))
bgp_global("bgpTopPrefixes6")(_top_prefixes_of(6))


@bgp_global("bgpAddRoute")
def _add_route(script, router, route):
    return _bgp(script).add_route(router, route)


@bgp_global("bgpRemoveRoute")
def _remove_route(script, router, prefix):
    return _bgp(script).remove_route(router, prefix)


@bgp_global("bgpRouteCount")
def _route_count(script, router):
    return _bgp(script).route_count(router)


@bgp_global("bgpAddFlow")
def _add_flow(script, router, spec):
    return _bgp(script).add_flow(router, spec)


@bgp_global("bgpRemoveFlow")
def _remove_flow(script, router, spec):
    return _bgp(script).remove_flow(router, spec)


@bgp_global("bgpFlowCount")
def _flow_count(script, router):
    return _bgp(script).flow_count(router)


@bgp_global("bgpSetNextHops")
def _set_next_hops(script, nexthops=None):
    return _bgp(script).set_next_hops(nexthops)
