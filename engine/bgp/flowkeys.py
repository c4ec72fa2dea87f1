"""bgp* flow keys: a sample's addresses looked up (longest prefix) in a router's Adj-RIB-In.

``bgp_attributes(router4, router6, attrs)`` is self-contained so it can be wired into whatever
enrichment hook the flow engine offers; it returns only the keys it can fill. The keys that
depend only on the route are built once per attribute set and cached on it.

When a prefix has several paths (a multipath / ADD-PATH table, typically an IXP route server's)
and bgpSetNextHops mapped next hops to MAC addresses, the path is chosen by the packet's MAC:
the destination keys use the path whose next hop is the destination MAC's (the member the
packet is sent to), the source keys the path whose next hop is the source MAC's. Without a
mapping, or no path with that next hop, the prefix's best path is used.
"""

from __future__ import annotations

BGP_KEYS = (
    "ipsourcemaskbits",
    "ipdestinationmaskbits",
    "bgpnexthop",
    "bgpnexthop6",
    "bgpas",
    "bgpsourceas",
    "bgpsourcepeeras",
    "bgpdestinationas",
    "bgpdestinationpeeras",
    "bgpdestinationaspath",
    "bgpcommunities",
    "bgplocalpref",
)


def _destination_keys(a) -> dict:
    # AS sets flattened into the path, as the sFlow decoder does for extended_gateway records,
    # so a flow keyed by path matches whichever source filled it
    path = "-".join(
        str(x) for seg in a.aspath for x in ((seg,) if isinstance(seg, int) else sorted(seg))
    )
    keys = {
        "bgpdestinationas": a.origin_as(),
        "bgpdestinationpeeras": a.first_as(),
        "bgpdestinationaspath": path,
        "bgplocalpref": 100 if a.localpref is None else a.localpref,
    }
    if a.nexthop:
        keys["bgpnexthop6" if ":" in a.nexthop else "bgpnexthop"] = a.nexthop
    if a.communities or a.large_communities:
        keys["bgpcommunities"] = a.communities_str()
    a.flow_keys = keys
    return keys


def _path_via(hit: tuple, nhs: tuple | None):
    """Of a multipath match() hit, the path whose next hop is one of a MAC's next hops `nhs`
    (None: the MAC has no bgpSetNextHops entry); else the prefix's best path."""
    if nhs is not None:
        by_nexthop = hit[3]
        for nh in nhs:  # usually one or two (IPv4, IPv6)
            p = by_nexthop.get(nh)
            if p is not None:
                return p
    return hit[2]


def bgp_attributes(router4, router6, attrs: dict, mac_nexthops: dict | None = None) -> dict:
    """The bgp* keys for a sample's attributes, as a new dict."""
    out: dict = {}
    fill(router4, router6, attrs, out, mac_nexthops)
    return out


def fill(router4, router6, attrs: dict, out: dict, mac_nexthops: dict | None = None) -> None:
    """Add the bgp* keys to `out` (which may be `attrs` itself: keys already there are kept,
    so an agent's own extended_gateway data wins over the table). mac_nexthops: MAC (12
    upper-case hex digits) -> tuple of its next-hop addresses, from bgpSetNextHops."""
    dst = attrs.get("ipdestination")
    if dst is not None:
        n, src = router4, attrs.get("ipsource")
        if n is None:
            return
        match = n.rib4.match
    else:
        dst = attrs.get("ip6destination")
        if dst is None or router6 is None:
            return
        n, src = router6, attrs.get("ip6source")
        match = n.rib6.match
    # agents that send gateway/router records already filled some keys: merge key by key
    merge = "bgpas" in out or "ipdestinationmaskbits" in out or "ipsourcemaskbits" in out
    new: dict = {} if merge else out
    if n.peer_as:
        new["bgpas"] = n.peer_as
    hit = match(dst)
    if hit is not None:
        a = hit[2]
        if hit[3] is not None and mac_nexthops:  # several paths: the one the packet takes
            a = _path_via(hit, mac_nexthops.get(attrs.get("macdestination")))
        new.update(a.flow_keys or _destination_keys(a))
        new["ipdestinationmaskbits"] = hit[1]
    if src is not None:
        hit = match(src)
        if hit is not None:
            a = hit[2]
            if hit[3] is not None and mac_nexthops:  # the path via the member that sent it
                a = _path_via(hit, mac_nexthops.get(attrs.get("macsource")))
            keys = a.flow_keys or _destination_keys(a)  # the route's ASes, computed once
            new["ipsourcemaskbits"] = hit[1]
            new["bgpsourceas"] = keys["bgpdestinationas"]
            new["bgpsourcepeeras"] = keys["bgpdestinationpeeras"]
    if merge:
        for k, v in new.items():
            if k not in out:
                out[k] = v
