"""Fuzz: mutated BGP messages, first straight into the decoders (only BgpError may escape, and
a decoded UPDATE is consistent), then as byte streams over TCP into established sessions of a
configured neighbor (each connection either keeps working or ends with a NOTIFICATION; the
speaker never fails and keeps accepting the router) (docs/testing.md)."""

from __future__ import annotations

import logging
import socket
import struct

from engine.bgp import message as m
from bgp_peer import RawPeer, attrs_bytes, pack_updates
from fuzz_support import count, mutate_bytes, rng
from waiting import wait_until

V4 = [(socket.inet_aton(f"10.{i}.0.0"), 16) for i in range(40)]
V6 = [(socket.inet_pton(socket.AF_INET6, f"2001:db8:{i:x}::"), 48) for i in range(20)]
NH6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1") + socket.inet_pton(
    socket.AF_INET6, "fe80::1"
)


def _messages() -> list[bytes]:
    """Valid messages of every kind a session without ADD-PATH reads (header included)."""
    a = attrs_bytes(
        aspath=(65254, 1299, 3356),
        med=10,
        communities=(65000 << 16 | 666,),
        large_communities=((65000, 1, 2),),
    )
    out = pack_updates(V4, a, max_len=600)
    out += pack_updates(
        V6, attrs_bytes(aspath=(65254,), nexthop=None), family=6, nexthop6=NH6, max_len=600
    )
    withdrawn = b"".join(m.encode_prefix(*p) for p in V4[:5])
    out.append(m.frame(m.UPDATE, struct.pack(">H", len(withdrawn)) + withdrawn + b"\0\0"))
    out.append(m.encode_mp_unreach(m.AFI_IPV6, m.SAFI_UNICAST, m.encode_prefix(*V6[0])))
    out.append(m.end_of_rib(m.AFI_IPV4, m.SAFI_UNICAST))
    out.append(m.end_of_rib(m.AFI_IPV6, m.SAFI_UNICAST))
    out.append(m.route_refresh(m.AFI_IPV4, m.SAFI_UNICAST))
    out.append(m.KEEPALIVE_MSG)
    return out


MESSAGES = _messages()
# with path identifiers (RFC 7911): for the decoder, as a session that negotiated ADD-PATH
ADD_PATH = pack_updates(
    [(p, l, i + 1) for i, (p, l) in enumerate(V4[:10])], attrs_bytes(aspath=(65254,)), max_len=600
)
OPENS = [
    m.encode_open(
        65254, 90, "10.0.0.254", {(1, 1), (2, 1), (1, 133)}, add_path={(1, 1): m.ADD_PATH_SEND}
    ),
    m.encode_open(4200000001, 0, "10.0.0.254", {(1, 1)}, route_refresh=False),
]
UPDATES = [msg for msg in MESSAGES if msg[18] == m.UPDATE] + ADD_PATH


def test_decoders_only_raise_bgp_errors():
    r = rng("bgp-decode")
    intern = m.Interner()
    add_path = frozenset({(m.AFI_IPV4, m.SAFI_UNICAST), (m.AFI_IPV6, m.SAFI_UNICAST)})
    outcomes = {"ok": 0, "treat-as-withdraw": 0, "notification": 0}
    n = count(20000)
    for k in range(n):
        if k % 5 == 0:
            body = mutate_bytes(r, r.choice(OPENS)[19:], [o[19:] for o in OPENS])
            try:
                o = m.decode_open(body)
                assert o.families and 0 <= o.asn <= 0xFFFFFFFF
                outcomes["ok"] += 1
            except m.BgpError as exc:
                assert 1 <= exc.code <= 6, exc
                outcomes["notification"] += 1
            continue
        whole = mutate_bytes(r, r.choice(UPDATES), UPDATES)
        if len(whole) >= 19:
            try:
                m.check_header(whole, 0)
            except m.BgpError as exc:
                assert exc.code == m.ERR_HEADER
        body = whole[19:]
        try:
            u = m.decode_update(
                body, r.random() < 0.8, intern, add_path if r.random() < 0.2 else None
            )
        except m.BgpError as exc:
            assert exc.code == m.ERR_UPDATE and str(exc), exc
            outcomes["notification"] += 1
            continue
        if u.treat_as_withdraw:
            assert u.errors
            outcomes["treat-as-withdraw"] += 1
        else:
            outcomes["ok"] += 1
            if u.nlri4 and not u.nlri4_mp:
                assert u.attrs4 is not None
            if u.nlri6:
                assert u.attrs6 is not None
        for packed, plen, *_ in u.nlri4 + u.withdrawn4:
            assert len(packed) == 4 and 0 <= plen <= 32
        for packed, plen, *_ in u.nlri6 + u.withdrawn6:
            assert len(packed) == 16 and 0 <= plen <= 128
    print(f"\n{n} mutated messages: {outcomes}")
    assert all(outcomes.values())


def test_mutated_streams_into_established_sessions(make_engine, caplog):
    caplog.set_level(logging.WARNING)
    running = make_engine({"bgp.start": "yes", "bgp.port": "0", "bgp.hostname": "127.0.0.1"})
    bgp = running.engine.subsystems["bgp"]
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162", {"multipath": True})
    r = rng("bgp-session")
    outcomes = {"notification": 0, "survived": 0}
    for _ in range(count(60)):
        peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254", timeout=5)
        try:
            peer.handshake()
            stream = b"".join(MESSAGES[:3])
            for _ in range(r.randint(1, 6)):
                msg = r.choice(MESSAGES)
                stream += mutate_bytes(r, msg, MESSAGES) if r.random() < 0.7 else msg
            peer.send(stream + m.KEEPALIVE_MSG)
            try:
                while True:
                    kind, body = peer.recv(0.3)
                    if kind == m.NOTIFICATION:
                        outcomes["notification"] += 1
                        break
            except (TimeoutError, socket.timeout):
                outcomes["survived"] += 1
            except ConnectionError:
                raise AssertionError(
                    f"closed without a NOTIFICATION after {stream.hex()}"
                ) from None
        finally:
            peer.close()
        wait_until(lambda: bgp.neighbors["127.0.0.1"].state == "idle", 5)
    print(f"\nmutated sessions: {outcomes}")
    assert outcomes["notification"] and outcomes["survived"]
    assert running.engine.stats.handler_errors == 0
    unexpected = [
        rec.getMessage()
        for rec in caplog.records
        if rec.levelno >= logging.ERROR or "unexpected" in rec.getMessage()
    ]
    assert not unexpected, unexpected[:3]
    last = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
    try:
        last.handshake()
        for msg in MESSAGES[:2]:
            last.send(msg)
        wait_until(lambda: len(bgp.neighbors["127.0.0.1"].rib4), 5)
    finally:
        last.close()
