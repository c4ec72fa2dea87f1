"""One UPDATE carrying both plain IPv4 NLRI (next hop in NEXT_HOP) and routes in MP_REACH_NLRI:
each family keeps its own next hop (RFC 4760 §3: MP_REACH's next hop is for its NLRI only;
NEXT_HOP is for the UPDATE's own NLRI field). Sent by the raw test peer over TCP, read back
from the tables and /bgp/prefix, and decoded directly."""

from __future__ import annotations

import socket

from engine.bgp import message as m
from bgp_peer import RawPeer, attrs_bytes


def p4(a: str) -> bytes:
    return socket.inet_aton(a)


def p6(a: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, a)


def mixed_update(mp_afi: int = m.AFI_IPV6) -> bytes:
    """NEXT_HOP 192.0.2.1 for 10.9.0.0/16 in the NLRI field, plus MP_REACH_NLRI: IPv6
    2001:db8:9::/48 via 2001:db8:ff::1 (+ link-local fe80::1), or IPv4 10.8.0.0/16 via
    203.0.113.8 when mp_afi is IPv4."""
    if mp_afi == m.AFI_IPV6:
        mp = m.mp_reach_value(
            m.AFI_IPV6,
            m.SAFI_UNICAST,
            p6("2001:db8:ff::1") + p6("fe80::1"),
            m.encode_prefix(p6("2001:db8:9::"), 48),
        )
    else:
        mp = m.mp_reach_value(
            m.AFI_IPV4, m.SAFI_UNICAST, p4("203.0.113.8"), m.encode_prefix(p4("10.8.0.0"), 16)
        )
    attrs = attrs_bytes(aspath=(65254, 3356), nexthop="192.0.2.1", med=7)
    attrs += m._attr(m.F_OPTIONAL, m.MP_REACH, mp)
    return m.encode_update_v4(attrs, [m.encode_prefix(p4("10.9.0.0"), 16)])


def test_mixed_update_over_a_session_keeps_each_familys_next_hop(make_engine):
    running = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    bgp = running.engine.subsystems["bgp"]
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162")
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
    try:
        peer.handshake()
        peer.send(mixed_update())
        n = bgp.neighbors["127.0.0.1"]
        running.wait_for(lambda: len(n.rib4) == 1 and len(n.rib6) == 1)
        v4 = running.get_json("/bgp/prefix/127.0.0.1/json?address=10.9.1.1")
        v6 = running.get_json("/bgp/prefix/127.0.0.1/json?address=2001:db8:9::1")
        assert (v4["prefix"], v4["nexthop"]) == ("10.9.0.0/16", "192.0.2.1")
        assert "nexthoplinklocal" not in v4
        assert (v6["prefix"], v6["nexthop"], v6["nexthoplinklocal"]) == (
            "2001:db8:9::/48",
            "2001:db8:ff::1",
            "fe80::1",
        )
        # everything else is shared by both families
        for j in (v4, v6):
            assert (j["aspath"], j["med"]) == ("65254-3356", 7)
        # the bgp* flow keys follow: bgpnexthop for IPv4 traffic, bgpnexthop6 for IPv6
        running.call(bgp.add_source, "10.0.0.253", "127.0.0.1")
        k4 = bgp.flow_attributes(
            "10.0.0.253", {"ipsource": "10.9.1.1", "ipdestination": "10.9.2.2"}
        )
        k6 = bgp.flow_attributes(
            "10.0.0.253", {"ip6source": "2001:db8:9::1", "ip6destination": "2001:db8:9::2"}
        )
        assert k4["bgpnexthop"] == "192.0.2.1" and "bgpnexthop6" not in k4
        assert k6["bgpnexthop6"] == "2001:db8:ff::1" and "bgpnexthop" not in k6
    finally:
        peer.close()


def test_mixed_update_decoded_with_two_attribute_sets():
    body = mixed_update()[19:]
    intern = m.Interner()
    u = m.decode_update(body, True, intern)
    assert not u.errors and not u.treat_as_withdraw
    assert u.nlri4 == [(p4("10.9.0.0"), 16)] and u.nlri6 == [(p6("2001:db8:9::"), 48)]
    assert (u.attrs4.nexthop, u.attrs4.nexthop_ll) == ("192.0.2.1", None)
    assert (u.attrs6.nexthop, u.attrs6.nexthop_ll) == ("2001:db8:ff::1", "fe80::1")
    assert u.attrs4.aspath == u.attrs6.aspath == (65254, 3356) and u.attrs4.med == 7
    # both sets are interned: decoding the same UPDATE again gives the same objects
    again = m.decode_update(body, True, intern)
    assert again.attrs4 is u.attrs4 and again.attrs6 is u.attrs6


def test_ipv4_in_both_the_nlri_field_and_mp_reach():
    """Unusual but legal: IPv4 in the NLRI field and in MP_REACH_NLRI of one UPDATE; each set
    of prefixes keeps its own next hop."""
    u = m.decode_update(mixed_update(m.AFI_IPV4)[19:], True, m.Interner())
    assert not u.errors
    assert u.nlri4 == [(p4("10.9.0.0"), 16)] and u.attrs4.nexthop == "192.0.2.1"
    assert u.nlri4_mp == [(p4("10.8.0.0"), 16)] and u.attrs4_mp.nexthop == "203.0.113.8"
    # treat-as-withdraw covers both: a malformed MED withdraws every prefix of the UPDATE
    mp = m.mp_reach_value(
        m.AFI_IPV4, m.SAFI_UNICAST, p4("203.0.113.8"), m.encode_prefix(p4("10.8.0.0"), 16)
    )
    attrs = (
        attrs_bytes(aspath=(65254,), nexthop="192.0.2.1")
        + m._attr(m.F_OPTIONAL, m.MED, b"\0\0\7")  # MED must be 4 octets
        + m._attr(m.F_OPTIONAL, m.MP_REACH, mp)
    )
    bad = m.encode_update_v4(attrs, [m.encode_prefix(p4("10.9.0.0"), 16)])[19:]
    u = m.decode_update(bad, True, m.Interner())
    assert u.treat_as_withdraw
    assert u.nlri4 == [(p4("10.9.0.0"), 16)] and u.nlri4_mp == [(p4("10.8.0.0"), 16)]
    assert u.attrs4 is None and u.attrs4_mp is None


def test_mp_reach_only_ignores_a_stray_next_hop():
    """An UPDATE whose only NLRI are in MP_REACH_NLRI should not carry NEXT_HOP; if it does,
    it is ignored (RFC 4760 §3) and the routes use the MP next hop."""
    mp = m.mp_reach_value(
        m.AFI_IPV6, m.SAFI_UNICAST, p6("2001:db8:ff::1"), m.encode_prefix(p6("2001:db8:9::"), 48)
    )
    attrs = attrs_bytes(aspath=(65254,), nexthop="192.0.2.1")
    attrs += m._attr(m.F_OPTIONAL, m.MP_REACH, mp)
    u = m.decode_update(m.encode_update_v4(attrs, [])[19:], True)
    assert u.nlri4 == [] and u.attrs4 is None
    assert u.attrs6.nexthop == "2001:db8:ff::1" and u.attrs.nexthop == "2001:db8:ff::1"
