"""ADD-PATH (bgpAddNeighbor's multipath:true, RFC 7911) and bgpSetNextHops: path-identifier NLRI
on the wire, the multipath RIB, the path chosen for bgp* flow keys by the packet's MAC, and the
JavaScript globals; end to end against BIRD 2 acting as an IXP route server (`add paths tx`)."""

from __future__ import annotations

import json
import socket
import struct
import urllib.request

import pytest
from hypothesis import given, settings, strategies as st

from bgp_support import BIRD, Bird, free_tcp_port, wait_until
from conftest import RunningEngine
from engine.bgp import message as m
from engine.bgp.flowkeys import bgp_attributes
from engine.bgp.rib import NeighborState, Rib
from bgp_peer import RawPeer, attrs_bytes, pack_updates
from engine.sflow import encode as e

V4, V6 = (m.AFI_IPV4, m.SAFI_UNICAST), (m.AFI_IPV6, m.SAFI_UNICAST)
MAC_A, MAC_B, MAC_OTHER = "00005E005301", "00005E005302", "00005E0053FF"


def p4(text):
    return socket.inet_aton(text)


def p6(text):
    return socket.inet_pton(socket.AF_INET6, text)


def body(raw: bytes) -> bytes:
    length, kind = m.check_header(raw, 0)
    assert kind == m.UPDATE and length == len(raw)
    return raw[19:]


# -- wire format -------------------------------------------------------------------------------
def test_open_add_path_capability_round_trip_and_negotiation():
    raw = m.encode_open(
        65162, 90, "10.0.0.162", {V4, V6}, add_path={V4: m.ADD_PATH_RECEIVE, V6: m.ADD_PATH_BOTH}
    )
    o = m.decode_open(raw[19:])
    assert o.add_path == {V4: m.ADD_PATH_RECEIVE, V6: m.ADD_PATH_BOTH}
    assert o.families == {V4, V6}
    # without the option: no capability 69 in the OPEN at all
    plain = m.encode_open(65162, 90, "10.0.0.162", {V4, V6})
    assert m.decode_open(plain[19:]).add_path == {}
    assert bytes((m.CAP_ADD_PATH,)) + b"\x08" not in plain
    # we receive where the peer sends (2) or does both (3); receive-only or absent: plain NLRI
    peer = m.Open()
    peer.add_path = {V4: m.ADD_PATH_SEND, V6: m.ADD_PATH_RECEIVE}
    assert m.add_path_receive({V4, V6}, peer) == {V4}
    peer.add_path = {V4: m.ADD_PATH_BOTH, V6: m.ADD_PATH_SEND}
    assert m.add_path_receive({V4, V6}, peer) == {V4, V6}
    assert m.add_path_receive({V6}, peer) == {V6}  # only what we offered
    peer.add_path = {}
    assert m.add_path_receive({V4, V6}, peer) == frozenset()


def test_malformed_add_path_capability_is_ignored():
    caps = struct.pack(">BBHBB", m.CAP_MP, 4, 1, 0, 1) + bytes((m.CAP_ADD_PATH, 3, 0, 1, 1))
    caps += bytes((m.CAP_ADD_PATH, 4, 0, 1, 1, 9))  # Send/Receive value 9 is not defined
    params = bytes((2, len(caps))) + caps
    o = m.decode_open(struct.pack(">BHH4sB", 4, 65001, 90, p4("10.0.0.1"), len(params)) + params)
    assert o.add_path == {} and o.families == {V4}


def test_ipv4_nlri_and_withdrawn_with_path_ids_round_trip():
    attrs = attrs_bytes(aspath=(64501,), nexthop="203.0.113.1")
    nlri = [
        m.encode_prefix(p4("192.0.2.0"), 24, 7),
        m.encode_prefix(p4("10.0.0.0"), 8, 0xFFFFFFFF),
        m.encode_prefix(p4("0.0.0.0"), 0, 1),
    ]
    withdrawn = [m.encode_prefix(p4("198.51.100.128"), 25, 3)]
    raw = m.encode_update_v4(attrs, nlri, withdrawn)
    assert nlri[0] == b"\0\0\0\x07\x18\xc0\x00\x02"  # 4-octet path id, then the usual prefix
    u = m.decode_update(body(raw), True, add_path=frozenset({V4}))
    assert u.nlri4 == [
        (p4("192.0.2.0"), 24, 7),
        (p4("10.0.0.0"), 8, 0xFFFFFFFF),
        (p4("0.0.0.0"), 0, 1),
    ]
    assert u.withdrawn4 == [(p4("198.51.100.128"), 25, 3)]
    assert u.attrs.nexthop == "203.0.113.1" and u.attrs.aspath == (64501,)
    assert not u.errors
    # path ids only for the negotiated family: IPv6 add-path alone leaves IPv4 NLRI plain
    plain = m.encode_update_v4(attrs, [m.encode_prefix(p4("192.0.2.0"), 24)])
    u = m.decode_update(body(plain), True, add_path=frozenset({V6}))
    assert u.nlri4 == [(p4("192.0.2.0"), 24)]


def test_ipv6_mp_reach_and_mp_unreach_with_path_ids_round_trip():
    nlri = m.encode_prefix(p6("2001:db8:1::"), 48, 4) + m.encode_prefix(p6("2001:db8:1::"), 48, 5)
    nh = p6("2001:db8:ff::2") + p6("fe80::2")
    mp = m.mp_reach_value(m.AFI_IPV6, m.SAFI_UNICAST, nh, nlri)
    a = m.PathAttrs(aspath=(64502,))
    raw = m.encode_update_v4(m.encode_attrs(a, True, True, 65254, mp=mp), [])
    u = m.decode_update(body(raw), True, add_path=frozenset({V6}))
    assert u.nlri6 == [(p6("2001:db8:1::"), 48, 4), (p6("2001:db8:1::"), 48, 5)]
    assert (u.attrs.nexthop, u.attrs.nexthop_ll) == ("2001:db8:ff::2", "fe80::2")
    raw = m.encode_mp_unreach(
        m.AFI_IPV6,
        m.SAFI_UNICAST,
        m.encode_prefix(p6("2001:db8:1::"), 48, 5) + m.encode_prefix(p6("2001:db8::"), 32, 9),
    )
    u = m.decode_update(body(raw), True, add_path=frozenset({V6}))
    assert u.withdrawn6 == [(p6("2001:db8:1::"), 48, 5), (p6("2001:db8::"), 32, 9)]
    assert u.eor is None
    # an End-of-RIB is still an End-of-RIB with ADD-PATH
    u = m.decode_update(
        body(m.end_of_rib(m.AFI_IPV6, m.SAFI_UNICAST)), True, add_path=frozenset({V6})
    )
    assert u.eor == V6 and u.withdrawn6 == []


def test_ipv4_in_mp_attributes_with_path_ids():
    mp = m.mp_reach_value(
        m.AFI_IPV4, m.SAFI_UNICAST, p4("203.0.113.2"), m.encode_prefix(p4("192.0.2.0"), 24, 11)
    )
    raw = m.encode_update_v4(m.encode_attrs(m.PathAttrs(aspath=(1,)), True, True, 1, mp=mp), [])
    u = m.decode_update(body(raw), True, add_path=frozenset({V4}))
    assert u.nlri4 == [(p4("192.0.2.0"), 24, 11)] and u.attrs.nexthop == "203.0.113.2"
    raw = m.encode_mp_unreach(m.AFI_IPV4, m.SAFI_UNICAST, m.encode_prefix(p4("192.0.2.0"), 24, 11))
    assert m.decode_update(body(raw), True, add_path=frozenset({V4})).withdrawn4 == [
        (p4("192.0.2.0"), 24, 11)
    ]


@pytest.mark.parametrize(
    "nlri",
    [
        b"\0\0\0",  # path id cut short
        b"\0\0\0\x01",  # path id without a prefix length
        b"\0\0\0\x01\x18\xc0\x00",  # /24 with two octets
        b"\0\0\0\x01\x21\0\0\0\0",  # /33
    ],
)
def test_malformed_path_id_nlri_is_a_notification(nlri):
    attrs = attrs_bytes(aspath=(64501,))
    raw = m.encode_update_v4(attrs, [nlri])
    with pytest.raises(m.BgpError) as err:
        m.decode_update(body(raw), True, add_path=frozenset({V4}))
    assert (err.value.code, err.value.subcode) == (m.ERR_UPDATE, m.UPD_NETWORK)


ADD_PATH_BODY = body(
    m.encode_update_v4(
        attrs_bytes(aspath=(64501,), nexthop="203.0.113.1")
        + m._attr(
            m.F_OPTIONAL,
            m.MP_REACH,
            m.mp_reach_value(
                m.AFI_IPV6,
                m.SAFI_UNICAST,
                p6("2001:db8:ff::1"),
                m.encode_prefix(p6("2001:db8:1::"), 48, 4),
            ),
        )
        + m._attr(
            m.F_OPTIONAL,
            m.MP_UNREACH,
            struct.pack(">HB", m.AFI_IPV6, m.SAFI_UNICAST)
            + m.encode_prefix(p6("2001:db8:2::"), 48, 5),
        ),
        [m.encode_prefix(p4("192.0.2.0"), 24, 2)],
        [m.encode_prefix(p4("192.0.3.0"), 24, 3)],
    )
)


def test_one_update_with_every_add_path_field():
    u = m.decode_update(ADD_PATH_BODY, True, add_path=frozenset({V4, V6}))
    assert (u.nlri4, u.withdrawn4) == ([(p4("192.0.2.0"), 24, 2)], [(p4("192.0.3.0"), 24, 3)])
    assert (u.nlri6, u.withdrawn6) == ([(p6("2001:db8:1::"), 48, 4)], [(p6("2001:db8:2::"), 48, 5)])
    assert not u.errors and u.attrs.aspath == (64501,)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=10_000),
    st.binary(min_size=1, max_size=4),
    st.sampled_from([frozenset({V4}), frozenset({V6}), frozenset({V4, V6})]),
)
def test_fuzz_mutated_add_path_updates_only_raise_bgp_error(pos, patch, families):
    raw = bytearray(ADD_PATH_BODY)
    pos %= len(raw)
    raw[pos : pos + len(patch)] = patch
    try:
        m.decode_update(bytes(raw), True, add_path=families)
    except m.BgpError:
        pass


# -- multipath RIB -----------------------------------------------------------------------------
def attrs(nexthop, aspath, localpref=None, **kw):
    return m.PathAttrs(aspath=tuple(aspath), nexthop=nexthop, localpref=localpref, **kw)


def test_multipath_rib_keeps_paths_by_id_and_picks_the_best():
    rib = Rib(m.AFI_IPV4)
    rib.set_multipath(True)
    a = attrs("203.0.113.1", (64501,))
    b = attrs("203.0.113.2", (64510, 64502))
    key = (p4("192.0.2.0"), 24)
    rib.announce([key + (1,)], b)
    rib.announce([key + (2,)], a)
    assert (len(rib), rib.path_count, rib.added) == (1, 2, 1)
    hit = rib.match("192.0.2.9")
    assert hit[:3] == ("192.0.2.0/24", 24, a)  # shorter AS path wins
    assert hit[3] == {"203.0.113.1": a, "203.0.113.2": b}  # the paths by next hop
    assert rib.match("192.0.2.200")[3] is hit[3]  # built once per prefix
    assert rib.paths["192.0.2.0/24"] == {1: b, 2: a}
    assert rib.all_paths("192.0.2.0/24") == [(2, a), (1, b)]
    # re-announcing a path id replaces that path only
    b2 = attrs("203.0.113.2", (64502,), localpref=200)
    rib.announce([key + (1,)], b2)
    assert rib.path_count == 2 and rib.lookup("192.0.2.1")[1] is b2  # higher LOCAL_PREF
    # withdrawing an unknown path id changes nothing, a known one leaves the other path
    rib.withdraw([key + (9,)])
    assert rib.path_count == 2
    rib.withdraw([key + (1,)])
    assert (len(rib), rib.path_count, rib.removed) == (1, 1, 0)
    assert rib.match("192.0.2.9") == ("192.0.2.0/24", 24, a, None)  # single path: no dict
    rib.withdraw([key + (1,)])  # already gone
    assert rib.path_count == 1
    rib.withdraw([key + (2,)])
    assert (len(rib), rib.path_count, rib.removed) == (0, 0, 1) and rib.match("192.0.2.9") is None
    # the trie's spelling of IPv6 prefixes is the one paths are keyed by
    rib6 = Rib(m.AFI_IPV6)
    rib6.set_multipath(True)
    k6 = (p6("2001:0:0:1::"), 64)
    rib6.announce([k6 + (4,), k6 + (5,)], a)
    rib6.announce([k6 + (5,)], b)
    hit = rib6.match("2001:0:0:1::77")
    assert hit[0] == "2001:0:0:1::/64" and rib6.paths[hit[0]] == {4: a, 5: b}
    # by next hop, link-local next hops too; paths sharing a next hop: the better one
    c = attrs("2001:db8:ff::3", (64503, 64503), nexthop_ll="fe80::3")
    d = attrs("2001:db8:ff::3", (64503,))
    rib6.announce([k6 + (6,)], c)
    rib6.announce([k6 + (7,)], d)
    hops = rib6.match("2001:0:0:1::77")[3]
    assert hops["2001:db8:ff::3"] is d and hops["fe80::3"] is c and hops["203.0.113.1"] is a


def test_rib_without_multipath_replaces_and_single_path_tables_work_in_multipath_mode():
    rib = Rib(m.AFI_IPV4)
    key = (p4("192.0.2.0"), 24)
    rib.announce([key], attrs("203.0.113.1", (1,)))
    rib.announce([key], attrs("203.0.113.2", (2,)))
    assert len(rib) == 1 and rib.paths is None and rib.match("192.0.2.1")[3] is None
    assert rib.lookup("192.0.2.1")[1].nexthop == "203.0.113.2"
    rib.set_multipath(True)  # a new session negotiated ADD-PATH: starts from an empty table
    assert len(rib) == 0 and rib.paths == {}
    rib.set_multipath(False)
    assert rib.paths is None


def neighbor_with(paths4, peer_as=65254):
    n = NeighborState("127.0.0.2", 65162, None, {"multipath": True})
    n.peer_as = peer_as
    n.rib4.set_multipath(True)
    for prefix, plen, path_id, a in paths4:
        n.rib4.announce([(p4(prefix), plen, path_id)], a)
    return n


def test_flow_keys_follow_the_destination_and_source_macs():
    a = attrs("203.0.113.1", (64501,), communities=(64501 << 16 | 1,))
    b = attrs("203.0.113.2", (64510, 64502), localpref=50)
    n = neighbor_with(
        [("192.0.2.0", 24, 2, a), ("192.0.2.0", 24, 3, b), ("198.51.100.0", 24, 2, a)]
    )
    macs = {MAC_A: ("2001:db8:ff::1", "203.0.113.1"), MAC_B: ("203.0.113.2",)}
    sample = {
        "ipsource": "198.51.100.7",
        "ipdestination": "192.0.2.10",
        "macsource": MAC_A,
        "macdestination": MAC_B,
    }
    keys = bgp_attributes(n, None, sample, macs)
    assert (
        keys["bgpnexthop"],
        keys["bgpdestinationas"],
        keys["bgpdestinationpeeras"],
        keys["bgpdestinationaspath"],
        keys["bgplocalpref"],
    ) == ("203.0.113.2", 64502, 64510, "64510-64502", 50)
    assert "bgpcommunities" not in keys and keys["ipdestinationmaskbits"] == 24
    sample["macdestination"] = MAC_A
    keys = bgp_attributes(n, None, sample, macs)
    assert (keys["bgpnexthop"], keys["bgpdestinationas"], keys["bgpcommunities"]) == (
        "203.0.113.1",
        64501,
        "64501:1",
    )
    # unknown MAC, no MAC, or no mapping at all: the best path
    for s, mapping in (
        ({**sample, "macdestination": MAC_OTHER}, macs),
        ({k: v for k, v in sample.items() if k != "macdestination"}, macs),
        ({**sample, "macdestination": MAC_B}, None),
        ({**sample, "macdestination": MAC_B}, {}),
    ):
        assert bgp_attributes(n, None, s, mapping)["bgpnexthop"] == "203.0.113.1"
    # the source direction follows the source MAC (the member that handed the packet over)
    back = {
        "ipsource": "192.0.2.10",
        "ipdestination": "198.51.100.7",
        "macsource": MAC_B,
        "macdestination": MAC_A,
    }
    keys = bgp_attributes(n, None, back, macs)
    assert (keys["bgpsourceas"], keys["bgpsourcepeeras"]) == (64502, 64510)
    back["macsource"] = MAC_A
    assert bgp_attributes(n, None, back, macs)["bgpsourcepeeras"] == 64501


# -- bgpSetNextHops arguments ------------------------------------------------------------------
@pytest.fixture
def speaker(make_engine):
    running = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    return running, running.engine.subsystems["bgp"]


def test_set_next_hops_normalizes_and_replaces(speaker):
    running, bgp = speaker
    assert (
        running.call(
            bgp.set_next_hops,
            {
                "203.0.113.1": "00:00:5e:00:53:01",
                "2001:DB8:FF:0::1": "00-00-5E-00-53-01",
                "203.0.113.2": "0000.5e00.5302",
            },
        )
        is True
    )
    assert bgp.next_hops == {"203.0.113.1": MAC_A, "2001:db8:ff::1": MAC_A, "203.0.113.2": MAC_B}
    assert bgp.mac_nexthops == {MAC_A: ("203.0.113.1", "2001:db8:ff::1"), MAC_B: ("203.0.113.2",)}
    running.call(
        bgp.set_next_hops,
        {"203.0.113.9": MAC_OTHER, "2001:db8::9": MAC_A, "2001:DB8:0::9": MAC_OTHER},
    )  # a new call replaces the map
    assert bgp.next_hops == {"203.0.113.9": MAC_OTHER, "2001:db8::9": MAC_OTHER}
    assert bgp.mac_nexthops == {MAC_OTHER: ("203.0.113.9", "2001:db8::9")}
    running.call(bgp.set_next_hops, None)
    assert bgp.next_hops == {} and bgp.mac_nexthops == {}


@pytest.mark.parametrize(
    "arg,message",
    [
        (
            ["203.0.113.1"],
            "must be an object mapping next-hop addresses to MAC addresses, not an array",
        ),
        (
            "203.0.113.1",
            "must be an object mapping next-hop addresses to MAC addresses, not a string",
        ),
        ({"not-an-ip": MAC_A}, "bad next-hop address 'not-an-ip'"),
        (
            {"203.0.113.1": "0000.5e00.53"},
            "bad MAC address '0000.5e00.53' for next hop 203.0.113.1",
        ),
        ({"203.0.113.1": "00005E00530G"}, "bad MAC address '00005E00530G'"),
        ({"203.0.113.1": 42}, "MAC address for next hop 203.0.113.1 must be a string"),
    ],
)
def test_set_next_hops_rejects_bad_arguments_and_keeps_the_old_map(speaker, arg, message):
    running, bgp = speaker
    running.call(bgp.set_next_hops, {"203.0.113.1": MAC_A})
    with pytest.raises(ValueError) as err:
        running.call(bgp.set_next_hops, arg)
    assert message in str(err.value) and str(err.value).startswith("bgpSetNextHops: ")
    assert bgp.mac_nexthops == {MAC_A: ("203.0.113.1",)}


# -- sessions with a raw peer: what is offered, and the fallback -------------------------------
def test_multipath_offers_add_path_receive_and_falls_back_per_family(speaker):
    running, bgp = speaker
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162", {"multipath": True})
    # the peer sends paths for IPv4 only: IPv6 stays one path per prefix
    peer = RawPeer(
        "127.0.0.1",
        bgp.listen_port,
        65254,
        "10.0.0.254",
        add_path={V4: m.ADD_PATH_SEND, V6: m.ADD_PATH_RECEIVE},
    )
    try:
        offered = peer.handshake()
        assert offered.add_path == {V4: m.ADD_PATH_RECEIVE, V6: m.ADD_PATH_RECEIVE}
        n = bgp.neighbors["127.0.0.1"]
        running.wait_for(lambda: n.state == "established")
        assert n.session.add_path_rx == {V4}
        for path_id, nh in ((1, "203.0.113.1"), (2, "203.0.113.2")):
            for msg in pack_updates(
                [(p4("192.0.2.0"), 24, path_id)], attrs_bytes(aspath=(64500 + path_id,), nexthop=nh)
            ):
                peer.send(msg)
        nh6 = p6("2001:db8:ff::1")
        for asn in (64501, 64502):  # plain IPv6 NLRI: the second replaces the first
            for msg in pack_updates(
                [(p6("2001:db8:1::"), 48)],
                attrs_bytes(aspath=(asn,), nexthop=None),
                family=6,
                nexthop6=nh6,
            ):
                peer.send(msg)
        running.wait_for(lambda: n.rib4.path_count == 2 and len(n.rib6) == 1)
        running.wait_for(lambda: n.rib6.lookup("2001:db8:1::1")[1].aspath == (64502,))
        assert n.rib6.paths is None
        info = running.get_json("/bgp/prefix/127.0.0.1/json?address=192.0.2.1")
        assert [(p["pathid"], p["nexthop"]) for p in info["paths"]] == [
            (1, "203.0.113.1"),
            (2, "203.0.113.2"),
        ]
        assert "paths" not in running.get_json("/bgp/prefix/127.0.0.1/json?address=2001:db8:1::1")
        # withdraw path 1 in the classic withdrawn-routes field
        peer.send(m.encode_update_v4(b"", [], [m.encode_prefix(p4("192.0.2.0"), 24, 1)]))
        running.wait_for(lambda: n.rib4.path_count == 1)
        assert n.rib4.lookup("192.0.2.1")[1].nexthop == "203.0.113.2" and len(n.rib4) == 1
    finally:
        peer.close()


def test_peer_without_add_path_and_neighbor_without_multipath(speaker):
    running, bgp = speaker
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162", {"multipath": True})
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")  # no ADD-PATH at all
    try:
        peer.handshake()
        n = bgp.neighbors["127.0.0.1"]
        running.wait_for(lambda: n.state == "established")
        assert n.session.add_path_rx is None and n.rib4.paths is None
        for asn in (64501, 64502):
            for msg in pack_updates([(p4("192.0.2.0"), 24)], attrs_bytes(aspath=(asn,))):
                peer.send(msg)
        running.wait_for(
            lambda: len(n.rib4) == 1 and n.rib4.lookup("192.0.2.1")[1].aspath == (64502,)
        )
    finally:
        peer.close()
    # a neighbor without multipath never offers ADD-PATH, even to a peer that can send paths
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162")
    peer = RawPeer(
        "127.0.0.1",
        bgp.listen_port,
        65254,
        "10.0.0.254",
        add_path={V4: m.ADD_PATH_BOTH, V6: m.ADD_PATH_BOTH},
    )
    try:
        assert peer.handshake().add_path == {}
        running.wait_for(lambda: bgp.neighbors["127.0.0.1"].state == "established")
        assert bgp.neighbors["127.0.0.1"].session.add_path_rx is None
    finally:
        peer.close()


# -- JavaScript: bgpSetNextHops errors in V8 ---------------------------------------------------
SCRIPT = r"""
bgpAddNeighbor('127.0.0.2', 65162, '10.0.0.162', {multipath: true});
bgpAddNeighbor('::1', '65162', '10.0.0.162', {ipv6: true, multipath: true});
bgpAddSource('10.0.0.253', {router: '127.0.0.2', router6: '::1'}, 60, 'bytes');
function attempt(f) { try { return 'returned ' + f(); } catch (e) { return 'error: ' + e.message; } }
setHttpHandler(function(req) {
  switch (req.query.op[0]) {
  case 'set': return attempt(() => bgpSetNextHops({'203.0.113.1': '00:00:5e:00:53:01',
      '203.0.113.2': '00005E005302', '2001:db8:ff::1': '00005e005301',
      '2001:db8:ff::2': '00-00-5E-00-53-02'}));
  case 'clear': return attempt(() => bgpSetNextHops(null));
  case 'empty': return attempt(() => bgpSetNextHops({}));
  case 'none': return attempt(() => bgpSetNextHops());
  case 'array': return attempt(() => bgpSetNextHops(['203.0.113.1']));
  case 'number': return attempt(() => bgpSetNextHops(42));
  case 'badip': return attempt(() => bgpSetNextHops({'203.0.113.300': '00005E005301'}));
  case 'badmac': return attempt(() => bgpSetNextHops({'203.0.113.1': 'zz'}));
  }
  throw 'not_found';
});
"""


@pytest.fixture
def scripted(tmp_path):
    (tmp_path / "ixp.js").write_text(SCRIPT)
    eng = RunningEngine(
        {"bgp.start": "yes", "bgp.port": "0", "script.file": "ixp.js"}, home=tmp_path
    ).start()
    try:
        eng.wait_for(
            lambda: all(s.started for s in eng.engine.subsystems["runtime"].scripts.values()), 30
        )
        eng.wait_for(lambda: "::1" in eng.engine.subsystems["bgp"].neighbors, 10)
        yield eng
    finally:
        eng.stop()


def js(eng, op):
    with urllib.request.urlopen(f"{eng.http_url}/script/ixp.js/json?op={op}", timeout=20) as r:
        text = r.read().decode()
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_set_next_hops_from_javascript(scripted):
    bgp = scripted.engine.subsystems["bgp"]
    assert js(scripted, "set") == "returned true"
    assert bgp.mac_nexthops == {
        MAC_A: ("203.0.113.1", "2001:db8:ff::1"),
        MAC_B: ("203.0.113.2", "2001:db8:ff::2"),
    }
    for op, message in (
        ("array", "not an array"),
        ("number", "not a number"),
        ("badip", "bad next-hop address '203.0.113.300'"),
        ("badmac", "bad MAC address 'zz' for next hop 203.0.113.1"),
    ):
        out = js(scripted, op)
        assert out.startswith("error: bgpSetNextHops: ") and message in out, out
    assert len(bgp.mac_nexthops) == 2  # a rejected call changes nothing
    for op in ("clear", "set", "empty", "set", "none"):
        assert js(scripted, op) == "returned true"
        assert bool(bgp.mac_nexthops) == (op == "set")


# -- BIRD 2 as an IXP route server -------------------------------------------------------------
def route_server_config(flowrt_port, listen4, listen6, tx4=True, tx6=True):
    """Two members announce 192.0.2.0/24 and 2001:db8:1::/48 (static protocols a*, b*); the
    route server passes both paths on with the members' next hops (rs client: its own AS is
    not prepended, as at an IXP). Member a's path is the shorter, so it is the best path."""

    def tx(on):
        return "add paths tx;" if on else ""

    return f"""
router id 10.0.0.254;
protocol device {{ }}
protocol static a4 {{ ipv4; route 192.0.2.0/24 blackhole {{ bgp_path.prepend(64501); }}; }}
protocol static b4 {{ ipv4; route 192.0.2.0/24 blackhole {{ bgp_path.prepend(64502);
                                                            bgp_path.prepend(64510); }}; }}
protocol static a6 {{ ipv6; route 2001:db8:1::/48 blackhole {{ bgp_path.prepend(64501); }}; }}
protocol static b6 {{ ipv6; route 2001:db8:1::/48 blackhole {{ bgp_path.prepend(64502);
                                                               bgp_path.prepend(64510); }}; }}
filter members4 {{
  if proto = "a4" then bgp_next_hop = 203.0.113.1;
  if proto = "b4" then bgp_next_hop = 203.0.113.2;
  accept;
}}
filter members6 {{
  if proto = "a6" then bgp_next_hop = 2001:db8:ff::1;
  if proto = "b6" then bgp_next_hop = 2001:db8:ff::2;
  accept;
}}
protocol bgp rs4 {{
  local 127.0.0.2 port {listen4} as 65254;
  neighbor 127.0.0.1 port {flowrt_port} as 65162;
  multihop; rs client;
  hold time 9; connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv4 {{ import none; export filter members4; {tx(tx4)} }};
}}
protocol bgp rs6 {{
  local ::1 port {listen6} as 65254;
  neighbor ::1 port {flowrt_port} as 65162;
  multihop; rs client;
  hold time 9; connect delay time 1; connect retry time 1; error wait time 1, 2;
  ipv6 {{ import none; export filter members6; {tx(tx6)} }};
}}
"""


needs_bird = pytest.mark.skipif(BIRD is None, reason="BIRD 2 (Debian bird2) not installed")


@pytest.fixture
def route_server(scripted, tmp_path):
    bgp = scripted.engine.subsystems["bgp"]
    bird = Bird(
        tmp_path / "bird",
        route_server_config(bgp.listen_port, free_tcp_port(), free_tcp_port("::1")),
    ).start()
    try:
        n4, n6 = bgp.neighbors["127.0.0.2"], bgp.neighbors["::1"]
        wait_until(lambda: n4.rib4.path_count == 2 and n6.rib6.path_count == 2)
        yield scripted, bgp, bird
    finally:
        bird.stop()


def put(eng, path, spec):
    req = urllib.request.Request(
        eng.http_url + path,
        data=json.dumps(spec).encode(),
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as reply:
        return reply.status


def samples(flows, seq):
    """A datagram from the source agent: per (dst MAC, src IP, dst IP) a flow sample with an
    Ethernet record (the MACs) and a sampled IPv4/IPv6 record."""
    out = []
    for i, (dmac, src, dst) in enumerate(flows):
        eth = e.encode_flow_record(
            {
                "flowBlock_tag": "0:2",
                "ethernet_len": 1000,
                "ethernet_src": "00005E0053AA",
                "ethernet_dst": dmac,
                "ethernet_type": 0x86DD if ":" in dst else 0x0800,
            }
        )
        if ":" in dst:
            ip = e.encode_flow_record(
                {
                    "flowBlock_tag": "0:4",
                    "sampledPacketSize": 1000,
                    "IPProtocol": 6,
                    "srcIP6": src,
                    "dstIP6": dst,
                    "TCPSrcPort": 40000,
                    "TCPDstPort": 443,
                }
            )
        else:
            ip = e.encode_flow_record(
                {
                    "flowBlock_tag": "0:3",
                    "sampledPacketSize": 1000,
                    "IPProtocol": 6,
                    "srcIP": src,
                    "dstIP": dst,
                    "TCPSrcPort": 40000,
                    "TCPDstPort": 443,
                }
            )
        out.append(e.flow_sample(seq * 100 + i, 0, 3, 10, 10 * (i + 1), 0, 1, 2, [eth, ip]))
    return e.datagram("10.0.0.253", seq, 1000, out)


def active(eng, name) -> set:
    return {f["key"] for f in eng.get_json(f"/activeflows/ALL/{name}/json?maxFlows=50")}


@needs_bird
def test_route_server_paths_arrive_and_withdrawals_remove_one(route_server):
    eng, bgp, bird = route_server
    n4, n6 = bgp.neighbors["127.0.0.2"], bgp.neighbors["::1"]
    assert (len(n4.rib4), len(n6.rib6)) == (1, 1)
    assert n4.session.add_path_rx == {V4} and n6.session.add_path_rx == {V6}
    info = eng.get_json("/bgp/prefix/127.0.0.2/json?address=192.0.2.77")
    assert (info["prefix"], info["nexthop"], info["aspath"]) == (
        "192.0.2.0/24",
        "203.0.113.1",
        "64501",
    )
    assert [(p["nexthop"], p["aspath"]) for p in info["paths"]] == [
        ("203.0.113.1", "64501"),
        ("203.0.113.2", "64510-64502"),
    ]
    ids = [p["pathid"] for p in info["paths"]]
    assert len(set(ids)) == 2
    info6 = eng.get_json("/bgp/prefix/::1/json?address=2001:db8:1::5")
    assert [(p["nexthop"], p["aspath"]) for p in info6["paths"]] == [
        ("2001:db8:ff::1", "64501"),
        ("2001:db8:ff::2", "64510-64502"),
    ]
    top = eng.get_json("/bgp/topprefixes/127.0.0.2/json")
    assert top["nPrefixes"] == 1 and top["learnedPrefixesAdded"] == 1
    # member a leaves: its path (the best) goes, b's path remains and becomes the best
    assert "disabled" in bird.cmd("disable", "a4")
    wait_until(lambda: n4.rib4.path_count == 1)
    info = eng.get_json("/bgp/prefix/127.0.0.2/json?address=192.0.2.77")
    assert info["nexthop"] == "203.0.113.2"
    assert [(p["pathid"], p["nexthop"]) for p in info["paths"]] == [(ids[1], "203.0.113.2")]
    assert len(n4.rib4) == 1 and n4.rib4.removed == 0
    assert "disabled" in bird.cmd("disable", "b6")
    wait_until(lambda: n6.rib6.path_count == 1)
    assert eng.get_json("/bgp/prefix/::1/json?address=2001:db8:1::5")["nexthop"] == "2001:db8:ff::1"
    # the last path gone, the prefix is gone; members back, both paths again
    assert "disabled" in bird.cmd("disable", "b4")
    wait_until(lambda: len(n4.rib4) == 0)
    assert n4.rib4.removed == 1 and n4.rib4.path_count == 0
    bird.cmd("enable", "a4")
    bird.cmd("enable", "b4")
    wait_until(lambda: n4.rib4.path_count == 2)
    assert eng.get_json("/bgp/prefix/127.0.0.2/json?address=192.0.2.77")["nexthop"] == "203.0.113.1"


@needs_bird
def test_flow_keys_follow_the_destination_mac(route_server):
    eng, bgp, bird = route_server
    assert (
        put(
            eng,
            "/flow/member/json",
            {
                "keys": "macdestination,bgpnexthop,bgpdestinationas,bgpdestinationpeeras,"
                "bgpdestinationaspath",
                "value": "bytes",
            },
        )
        == 204
    )
    assert (
        put(
            eng,
            "/flow/member6/json",
            {"keys": "macdestination,bgpnexthop6,bgpdestinationas", "value": "bytes"},
        )
        == 204
    )
    traffic = [
        (MAC_A, "10.1.1.1", "192.0.2.10"),
        (MAC_B, "10.1.1.1", "192.0.2.10"),
        (MAC_A, "2001:db8:9::1", "2001:db8:1::10"),
        (MAC_B, "2001:db8:9::1", "2001:db8:1::10"),
    ]
    # no mapping yet: every packet gets the best path (member a)
    eng.send(samples(traffic, 1))
    wait_until(lambda: len(active(eng, "member")) == 2 and len(active(eng, "member6")) == 2)
    assert active(eng, "member") == {
        f"{mac},203.0.113.1,64501,64501,64501" for mac in (MAC_A, MAC_B)
    }
    assert active(eng, "member6") == {f"{mac},2001:db8:ff::1,64501" for mac in (MAC_A, MAC_B)}
    # the IXP's member list maps next hops to MACs: traffic follows the member carrying it
    assert js(eng, "set") == "returned true"
    eng.send(samples(traffic + [(MAC_OTHER, "10.1.1.1", "192.0.2.10")], 2))
    want = f"{MAC_B},203.0.113.2,64502,64510,64510-64502"
    wait_until(lambda: want in active(eng, "member"))
    wait_until(lambda: f"{MAC_B},2001:db8:ff::2,64502" in active(eng, "member6"))
    keys = active(eng, "member")
    assert f"{MAC_A},203.0.113.1,64501,64501,64501" in keys
    wait_until(lambda: f"{MAC_OTHER},203.0.113.1,64501,64501,64501" in active(eng, "member"))
    assert not any(k.startswith(MAC_OTHER + ",203.0.113.2") for k in active(eng, "member"))
    # cleared: back to the best path (a new definition, so old flows do not linger in it)
    assert js(eng, "clear") == "returned true"
    assert (
        put(eng, "/flow/after/json", {"keys": "macdestination,bgpnexthop", "value": "bytes"}) == 204
    )
    eng.send(samples(traffic[:2], 3))
    wait_until(lambda: len(active(eng, "after")) == 2)
    assert active(eng, "after") == {f"{MAC_A},203.0.113.1", f"{MAC_B},203.0.113.1"}


@needs_bird
def test_route_server_without_add_path_falls_back(make_engine, tmp_path):
    """BIRD sends no path ids to the multipath IPv4 neighbor (no `add paths tx`): one path per
    prefix; the IPv6 neighbor without multipath gets no path ids although BIRD could send them."""
    running = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    bgp = running.engine.subsystems["bgp"]
    running.call(bgp.add_neighbor, "127.0.0.2", 65162, "10.0.0.162", {"multipath": True})
    running.call(bgp.add_neighbor, "::1", 65162, "10.0.0.162", {"multipath": False})
    bird = Bird(
        tmp_path / "bird",
        route_server_config(
            bgp.listen_port, free_tcp_port(), free_tcp_port("::1"), tx4=False, tx6=True
        ),
    ).start()
    try:
        n4, n6 = bgp.neighbors["127.0.0.2"], bgp.neighbors["::1"]
        wait_until(lambda: len(n4.rib4) == 1 and len(n6.rib6) == 1)
        for n, rib in ((n4, n4.rib4), (n6, n6.rib6)):
            assert n.session.add_path_rx is None and rib.paths is None
        info = running.get_json("/bgp/prefix/127.0.0.2/json?address=192.0.2.1")
        assert info["nexthop"] == "203.0.113.1" and "paths" not in info  # BIRD's best path
        assert (
            running.get_json("/bgp/prefix/::1/json?address=2001:db8:1::1")["nexthop"]
            == "2001:db8:ff::1"
        )
        assert (
            "ADD-PATH"
            not in bird.cmd("show", "protocols", "all", "rs6").split("Neighbor capabilities")[1]
        )
    finally:
        bird.stop()
