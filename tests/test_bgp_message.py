"""BGP wire format: OPEN/UPDATE encode-decode round trips, RFC 7606 containment, FlowSpec NLRI
against the RFC 8955 examples, and fuzzing that only ever yields BgpError."""

from __future__ import annotations

import socket
import struct

import pytest
from hypothesis import given, settings, strategies as st

from engine.bgp import message as m
from engine.bgp.flowspec import compile_flow
from bgp_peer import pack_updates


def test_open_round_trip_with_four_octet_as():
    raw = m.encode_open(4200000001, 90, "10.0.0.162", {(1, 1), (2, 1), (1, 133)})
    length, kind = m.check_header(raw, 0)
    assert (length, kind) == (len(raw), m.OPEN)
    assert struct.unpack_from(">H", raw, 20)[0] == m.AS_TRANS  # my_as field when AS > 65535
    o = m.decode_open(raw[19:])
    assert (o.asn, o.hold, o.bgp_id, o.as4, o.route_refresh) == (
        4200000001,
        90,
        "10.0.0.162",
        True,
        True,
    )
    assert o.families == {(1, 1), (2, 1), (1, 133)}


@pytest.mark.parametrize(
    "patch,expected",
    [
        ((0, 3), (2, 1)),  # version 3
        ((3, 0), None),  # hold time high byte 0 -> hold = low byte only (90): fine
        ((4, 1), (2, 6)),  # hold time 1
    ],
)
def test_open_errors(patch, expected):
    body = bytearray(m.encode_open(65001, 90, "10.0.0.1", {(1, 1)})[19:])
    off, value = patch
    body[off] = value
    if off == 4:
        body[3] = 0
    if expected is None:
        m.decode_open(bytes(body))
        return
    with pytest.raises(m.BgpError) as err:
        m.decode_open(bytes(body))
    assert (err.value.code, err.value.subcode) == expected


def test_open_without_capabilities_means_ipv4_unicast():
    body = struct.pack(">BHH4sB", 4, 65001, 180, socket.inet_aton("10.0.0.1"), 0)
    o = m.decode_open(body)
    assert o.families == {(1, 1)} and not o.as4 and o.asn == 65001


def test_zero_bgp_identifier_rejected():
    body = struct.pack(">BHH4sB", 4, 65001, 180, b"\0\0\0\0", 0)
    with pytest.raises(m.BgpError) as err:
        m.decode_open(body)
    assert (err.value.code, err.value.subcode) == (2, 3)


def roundtrip(attrs: m.PathAttrs, prefixes, ibgp=True, as4=True):
    raw = m.encode_update_v4(
        m.encode_attrs(attrs, as4, ibgp, 65000), [m.encode_prefix(p, l) for p, l in prefixes]
    )
    return m.decode_update(raw[19:], as4)


def test_update_round_trip_all_attributes():
    a = m.PathAttrs(
        origin=2,
        aspath=(65001, 4200000000, frozenset({7, 9})),
        nexthop="192.0.2.1",
        med=42,
        localpref=250,
        communities=(65000 << 16 | 666,),
        large_communities=((4200000000, 1, 2),),
    )
    u = roundtrip(a, [(socket.inet_aton("10.1.0.0"), 16), (socket.inet_aton("10.2.3.0"), 24)])
    assert not u.treat_as_withdraw and not u.errors
    assert u.nlri4 == [(socket.inet_aton("10.1.0.0"), 16), (socket.inet_aton("10.2.3.0"), 24)]
    assert u.attrs.key() == a.key()
    assert u.attrs.aspath_str() == "65001-4200000000-{7,9}"
    assert u.attrs.communities_str() == "65000:666-4200000000:1:2"
    assert (u.attrs.first_as(), u.attrs.origin_as()) == (65001, 7)
    j = u.attrs.json()
    assert j["origin"] == "INCOMPLETE" and j["localpref"] == 250 and j["med"] == 42


def test_ebgp_prepends_local_as_and_two_octet_path_uses_as_trans():
    a = m.PathAttrs(aspath=(70000,), nexthop="192.0.2.1")
    u = roundtrip(a, [(socket.inet_aton("10.0.0.0"), 8)], ibgp=False, as4=False)
    assert u.attrs.aspath == (65000, m.AS_TRANS)
    assert u.attrs.localpref is None  # no LOCAL_PREF on eBGP


def test_host_bits_are_cleared():
    out = []
    m.parse_prefixes(bytes((20, 10, 1, 0xFF)), 0, 4, 4, out)
    assert out == [(bytes((10, 1, 0xF0, 0)), 20)]


def test_ipv6_mp_reach_with_link_local_and_mp_unreach():
    nh = socket.inet_pton(socket.AF_INET6, "2001:db8::1") + socket.inet_pton(
        socket.AF_INET6, "fe80::1"
    )
    pfx = socket.inet_pton(socket.AF_INET6, "2001:db8:5::")
    mp = m.mp_reach_value(2, 1, nh, m.encode_prefix(pfx, 48))
    raw = m.encode_update_v4(m.encode_attrs(m.PathAttrs(aspath=(1,)), True, True, 1, mp=mp), [])
    u = m.decode_update(raw[19:], True)
    assert u.nlri6 == [(pfx, 48)]
    assert (u.attrs.nexthop, u.attrs.nexthop_ll) == ("2001:db8::1", "fe80::1")
    w = m.decode_update(m.encode_mp_unreach(2, 1, m.encode_prefix(pfx, 48))[19:], True)
    assert w.withdrawn6 == [(pfx, 48)] and w.eor is None


def test_end_of_rib_markers():
    assert m.decode_update(m.end_of_rib(1, 1)[19:], True).eor == (1, 1)
    assert m.decode_update(m.end_of_rib(2, 1)[19:], True).eor == (2, 1)


def test_interning_shares_equal_attribute_sets():
    intern = m.Interner()
    a = m.PathAttrs(aspath=(1, 2), nexthop="192.0.2.1")
    raw = m.encode_update_v4(m.encode_attrs(a, True, True, 1), [m.encode_prefix(b"\n\0\0\0", 8)])
    u1 = m.decode_update(raw[19:], True, intern)
    u2 = m.decode_update(raw[19:], True, intern)
    assert u1.attrs is u2.attrs and len(intern) == 1


def test_pack_updates_fills_messages_up_to_4096_bytes():
    prefixes = [(struct.pack(">I", 0x0A000000 + (i << 8)), 24) for i in range(3000)]
    attrs = m.encode_attrs(m.PathAttrs(aspath=(1,), nexthop="192.0.2.1"), True, True, 1)
    msgs = pack_updates(prefixes, attrs)
    assert all(len(x) <= 4096 for x in msgs)
    assert len(msgs) == 3  # 3000 x 4 bytes of NLRI
    got = [p for x in msgs for p in m.decode_update(x[19:], True).nlri4]
    assert got == prefixes


@pytest.mark.parametrize(
    "text,std,large",
    [
        ("65000:1 65000:2", (65000 << 16 | 1, 65000 << 16 | 2), ()),
        ("1:2:3,65000:666", (65000 << 16 | 666,), ((1, 2, 3),)),
        (["7:8"], (7 << 16 | 8,), ()),
        ("", (), ()),
    ],
)
def test_parse_communities(text, std, large):
    assert m.parse_communities(text) == (std, large)


@pytest.mark.parametrize("bad", ["65536:1", "1", "a:b", "1:2:3:4"])
def test_parse_communities_rejects(bad):
    with pytest.raises(ValueError):
        m.parse_communities(bad)


def test_parse_aspath():
    assert m.parse_aspath("1-2-3") == (1, 2, 3)
    assert m.parse_aspath([65001, "65002"]) == (65001, 65002)
    with pytest.raises(ValueError):
        m.parse_aspath("1-x")


# -- FlowSpec NLRI: the examples of RFC 8955 §4.3 --------------------------------------------
def test_flowspec_rfc8955_example_1():
    r = compile_flow(
        {
            "match": {"destination": "192.0.2.0/24", "protocol": "=6", "port": "=25"},
            "then": {"traffic-rate": "0"},
        }
    )
    assert r.nlri.hex() == "0b0118c0000203810604 8119".replace(" ", "")
    assert r.ext_communities == (bytes.fromhex("8006000000000000"),)


def test_flowspec_rfc8955_example_2():
    r = compile_flow(
        {
            "match": {
                "destination": "192.0.2.0/24",
                "source": "203.0.113.0/24",
                "port": ">=137&<=139|=8080",
            },
            "then": {},
        }
    )
    assert r.nlri.hex() == "120118c0000202 18cb0071 0403 89 45 8b 91 1f90".replace(" ", "")


def test_flowspec_rfc8955_example_3_fragment_and_ipv6():
    r = compile_flow({"match": {"destination": "192.0.1.0/24", "fragment": "=I|F"}, "then": {}})
    # bitmask: '=I' match bit set (0x01), 'I' = 0x02; then any-of F (0x04), end of list
    assert r.nlri.hex() == "0a0118c000010c0102" + "8004"
    r6 = compile_flow(
        {
            "match": {"destination": "2001:db8::/32", "tcp-flags": "=S", "dscp": "ef"},
            "then": {"traffic-marking": "le", "traffic-action": "sample", "communities": "128:6:0"},
        }
    )
    assert r6.afi == m.AFI_IPV6
    assert r6.nlri.hex() == "0d012000" + "20010db8" + "098102" + "0b812e"
    assert bytes.fromhex("8009000000000001") in r6.ext_communities
    assert bytes.fromhex("8007000000000002") in r6.ext_communities
    assert r6.large_communities == ((128, 6, 0),)


@pytest.mark.parametrize(
    "spec",
    [
        {"match": {}},
        {"match": {"protocol": "=x"}},
        {"match": {"colour": "=1"}},
        {"match": {"tcp-flags": "=Z"}},
        {"match": {"destination": "10.0.0.0/8", "version": "6"}},
        {"match": {"protocol": "=6"}, "then": {"teleport": "yes"}},
        {"match": {"protocol": "=6"}, "then": {"traffic-action": "explode"}},
        "not an object",
    ],
)
def test_flowspec_rejects_bad_specs(spec):
    with pytest.raises((ValueError, KeyError)):
        compile_flow(spec)


# -- fuzzing -----------------------------------------------------------------------------------
def valid_update_body() -> bytes:
    a = m.PathAttrs(
        origin=0,
        aspath=(65001, 65002),
        nexthop="192.0.2.1",
        med=1,
        communities=(1, 2),
        large_communities=((1, 2, 3),),
    )
    nh = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    mp = m.mp_reach_value(
        2, 1, nh, m.encode_prefix(socket.inet_pton(socket.AF_INET6, "2001:db8::"), 32)
    )
    attrs = m.encode_attrs(a, True, True, 1, mp=mp) + m.encode_attrs(a, True, True, 1)[:0]
    return m.encode_update_v4(attrs, [m.encode_prefix(b"\n\0\0\0", 8)])[19:]


@settings(max_examples=400, deadline=None)
@given(st.binary(min_size=4, max_size=200))
def test_fuzz_random_bodies_only_raise_bgp_error(body):
    try:
        m.decode_update(body, True)
    except m.BgpError:
        pass


@settings(max_examples=400, deadline=None)
@given(st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=4), st.booleans())
def test_fuzz_mutated_updates_only_raise_bgp_error(pos, patch, as4):
    body = bytearray(valid_update_body())
    pos %= len(body)
    body[pos : pos + len(patch)] = patch
    try:
        u = m.decode_update(bytes(body), as4)
    except m.BgpError:
        return
    if u.attrs is not None:
        u.attrs.json()  # whatever was accepted can be presented


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_fuzz_open_only_raises_bgp_error(body):
    try:
        m.decode_open(body)
    except m.BgpError:
        pass


def test_interner_sweeps_sets_nobody_uses():
    from engine.bgp.rib import Rib

    intern = m.Interner()
    rib = Rib(m.AFI_IPV4)
    kept = []
    for i in range(3000):
        a = intern(m.PathAttrs(aspath=(65001, i), nexthop="192.0.2.1"))
        if i % 3 == 0:
            rib.announce([(struct.pack(">I", 0x0A000000 + (i << 8)), 24)], a)
            kept.append(i)
    del a  # the loop variable holds the last set
    intern.sweep()
    assert len(intern) == len(kept)  # only the sets a RIB still points at survive
    rib.clear()
    intern.sweep()
    assert len(intern) == 0


def test_attributes_we_do_not_use_are_discarded_not_withdrawn():
    base = m.encode_attrs(m.PathAttrs(aspath=(65001,), nexthop="192.0.2.1"), True, False, 65000)
    for extra in (
        bytes((0x40, 7, 8)) + b"\0" * 8,  # AGGREGATOR without the optional flag
        bytes((0xC0, 6, 1, 0)),  # ATOMIC_AGGREGATE flagged optional, length 1
        bytes((0x40, 17, 2, 9, 9)),
    ):  # AS4_PATH without the optional flag
        raw = m.encode_update_v4(base + extra, [m.encode_prefix(b"\n\0\0\0", 8)])
        u = m.decode_update(raw[19:], True)
        assert not u.treat_as_withdraw and u.attrs is not None, extra
        assert u.attrs.aspath == (65000, 65001)
