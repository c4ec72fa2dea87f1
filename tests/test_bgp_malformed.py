"""Malformed input from a raw test peer over TCP: RFC 7606 treat-as-withdraw where the error can be
contained, a NOTIFICATION (and a clean close) where it cannot; the engine never crashes."""

from __future__ import annotations

import socket
import struct

import pytest

from engine.bgp import message as m
from bgp_peer import RawPeer, attrs_bytes, pack_updates
from waiting import wait_until

PFX = (socket.inet_aton("10.9.0.0"), 16)
NLRI = m.encode_prefix(*PFX)


def attr(flags, code, value: bytes) -> bytes:
    return bytes((flags, code, len(value))) + value


ORIGIN_OK = attr(0x40, 1, b"\0")
ASPATH_OK = attr(0x40, 2, struct.pack(">BBII", 2, 2, 65254, 3356))
NEXTHOP_OK = attr(0x40, 3, socket.inet_aton("192.0.2.1"))


def update(attrs: bytes, nlri: bytes = NLRI, withdrawn: bytes = b"") -> bytes:
    body = (
        struct.pack(">H", len(withdrawn)) + withdrawn + struct.pack(">H", len(attrs)) + attrs + nlri
    )
    return m.frame(m.UPDATE, body)


@pytest.fixture
def speaker(make_engine):
    running = make_engine({"bgp.start": "yes", "bgp.port": "0"})
    bgp = running.engine.subsystems["bgp"]
    running.call(bgp.add_neighbor, "127.0.0.1", 65162, "10.0.0.162")
    return running, bgp


def connect(bgp, asn=65254, **kw) -> RawPeer:
    peer = RawPeer("127.0.0.1", bgp.listen_port, asn, "10.0.0.254", **kw)
    peer.handshake()
    return peer


def wait(pred, timeout=5.0):
    return wait_until(pred, timeout)


def announced(bgp) -> bool:
    return bgp.neighbors["127.0.0.1"].rib4.lookup("10.9.1.1") is not None


TREAT_AS_WITHDRAW = {
    "origin value": attr(0x40, 1, b"\x07") + ASPATH_OK + NEXTHOP_OK,
    "origin length": attr(0x40, 1, b"\0\0") + ASPATH_OK + NEXTHOP_OK,
    "as_path segment overrun": ORIGIN_OK
    + attr(0x40, 2, struct.pack(">BBI", 2, 3, 65254))
    + NEXTHOP_OK,
    "as_path bad segment type": ORIGIN_OK
    + attr(0x40, 2, struct.pack(">BBI", 9, 1, 65254))
    + NEXTHOP_OK,
    "next_hop length": ORIGIN_OK + ASPATH_OK + attr(0x40, 3, b"\1\2\3"),
    "missing next_hop": ORIGIN_OK + ASPATH_OK,
    "missing as_path": ORIGIN_OK + NEXTHOP_OK,
    "communities length": ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0xC0, 8, b"\1\2\3"),
    "large community length": ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0xC0, 32, b"\0" * 8),
    "med length": ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0x80, 4, b"\0\0"),
    "local_pref length": ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0x40, 5, b"\0"),
    "origin flagged optional": attr(0xC0, 1, b"\0") + ASPATH_OK + NEXTHOP_OK,
    "attribute overruns list": ORIGIN_OK
    + ASPATH_OK
    + NEXTHOP_OK
    + bytes((0xC0, 8, 40))
    + b"\0" * 4,
    # RFC 7606 §7: malformed attributes the route depends on -> treat-as-withdraw
    "extended communities length": ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0xC0, 16, b"\0" * 7),
    "as_path flagged optional": ORIGIN_OK
    + attr(0xC0, 2, struct.pack(">BBI", 2, 1, 65254))
    + NEXTHOP_OK,
    "next_hop flagged optional": ORIGIN_OK
    + ASPATH_OK
    + attr(0xC0, 3, socket.inet_aton("192.0.2.1")),
    "communities flagged well-known": ORIGIN_OK
    + ASPATH_OK
    + NEXTHOP_OK
    + attr(0x40, 8, b"\0\1\0\2"),
    "missing origin": ASPATH_OK + NEXTHOP_OK,
    "as_path truncated segment header": ORIGIN_OK + attr(0x40, 2, b"\2") + NEXTHOP_OK,
    "extended-length attribute overruns list": ORIGIN_OK
    + ASPATH_OK
    + NEXTHOP_OK
    + bytes((0xD0, 8))
    + struct.pack(">H", 999)
    + b"\0" * 4,
}

# RFC 7606 §7: errors in attributes the route does not depend on discard the attribute only;
# unknown optional attributes are passed over (RFC 4271 §5)
ATTRIBUTE_DISCARD = {
    "malformed as4_path": attr(0xC0, 17, b"\2\5\0"),
    "aggregator flagged well-known": attr(
        0x40, 7, struct.pack(">I4s", 65254, socket.inet_aton("10.0.0.1"))
    ),
    "atomic_aggregate flagged optional": attr(0xC0, 6, b""),
    "unknown optional transitive": attr(0xC0, 99, b"\1\2\3"),
    "unknown optional non-transitive": attr(0x80, 98, b"\1\2"),
}


@pytest.mark.parametrize("case", sorted(TREAT_AS_WITHDRAW))
def test_treat_as_withdraw(speaker, case):
    running, bgp = speaker
    peer = connect(bgp)
    try:
        peer.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
        wait(lambda: announced(bgp))
        peer.send(update(TREAT_AS_WITHDRAW[case]))
        wait(lambda: not announced(bgp))
        n = bgp.neighbors["127.0.0.1"]
        assert n.malformed_updates == 1
        # the session survives and keeps working
        peer.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
        wait(lambda: announced(bgp))
        assert n.state == "established"
    finally:
        peer.close()


@pytest.mark.parametrize("case", sorted(ATTRIBUTE_DISCARD))
def test_attribute_discard_keeps_the_route(speaker, case):
    """Inside an established session with a configured neighbor: the route is installed with
    the good attributes, the session stays up."""
    _, bgp = speaker
    peer = connect(bgp)
    try:
        peer.send(
            update(
                ORIGIN_OK
                + ASPATH_OK
                + NEXTHOP_OK
                + ATTRIBUTE_DISCARD[case]
                + attr(0x80, 4, struct.pack(">I", 7))
            )
        )
        wait(lambda: announced(bgp))
        entry = bgp.neighbors["127.0.0.1"].rib4.lookup("10.9.1.1")[1]
        assert entry.med == 7 and entry.aspath == (65254, 3356) and entry.nexthop == "192.0.2.1"
        assert bgp.neighbors["127.0.0.1"].state == "established"
        peer.send(m.KEEPALIVE_MSG)
        with pytest.raises((TimeoutError, socket.timeout)):
            peer.recv_until(m.NOTIFICATION, timeout=0.3)
    finally:
        peer.close()


def test_duplicate_attribute_keeps_first(speaker):
    _, bgp = speaker
    peer = connect(bgp)
    try:
        peer.send(
            update(
                ORIGIN_OK
                + ASPATH_OK
                + NEXTHOP_OK
                + attr(0x80, 4, struct.pack(">I", 5))
                + attr(0x80, 4, struct.pack(">I", 9))
            )
        )
        wait(lambda: announced(bgp))
        assert bgp.neighbors["127.0.0.1"].rib4.lookup("10.9.1.1")[1].med == 5
    finally:
        peer.close()


def _bad_marker():
    return b"\0" * 16 + struct.pack(">HB", 19, 4)


NOTIFY = {
    "withdrawn length overrun": (
        update(b"", b"", b"")[:19] + struct.pack(">H", 500) + b"\0\0",
        (3, 1),
    ),
    "prefix length 33": (
        update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK, bytes((33,)) + b"\1" * 5),
        (3, 10),
    ),
    "prefix overruns message": (
        update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK, bytes((24, 10))),
        (3, 10),
    ),
    "attribute list overruns message": (
        m.frame(m.UPDATE, struct.pack(">HH", 0, 200) + ORIGIN_OK),
        (3, 1),
    ),
    "bad marker": (_bad_marker(), (1, 1)),
    "message too long": (b"\xff" * 16 + struct.pack(">HB", 5000, 2), (1, 2)),
    "unknown message type": (m.frame(9, b"\0\0"), (1, 3)),
    "keepalive with body": (m.frame(m.KEEPALIVE, b"\0"), (1, 2)),
    "unrecognized well-known attribute": (
        update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0x40, 99, b"\0")),
        (3, 2),
    ),
    "mp_reach overrun": (
        update(
            ORIGIN_OK
            + ASPATH_OK
            + attr(0x80, 14, struct.pack(">HBB", 2, 1, 16) + b"\0" * 16 + b"\0" + bytes((64, 1))),
            b"",
        ),
        (3, 10),
    ),
    "duplicate mp_unreach": (
        update(
            attr(0x80, 15, struct.pack(">HB", 2, 1)) + attr(0x80, 15, struct.pack(">HB", 2, 1)), b""
        ),
        (3, 1),
    ),
    "second OPEN": (m.encode_open(65254, 90, "10.0.0.254", {(1, 1)}), (5, 0)),
    "duplicate mp_reach": (
        update(
            ORIGIN_OK
            + ASPATH_OK
            + 2 * attr(0x80, 14, struct.pack(">HBB", 2, 1, 16) + b"\0" * 16 + b"\0"),
            b"",
        ),
        (3, 1),
    ),
    "withdrawn prefix length 40": (
        m.frame(m.UPDATE, struct.pack(">H", 6) + bytes((40,)) + b"\1" * 5 + b"\0\0"),
        (3, 10),
    ),
    "message length below the header": (b"\xff" * 16 + struct.pack(">HB", 18, 2), (1, 2)),
    "route refresh too short": (m.frame(m.ROUTE_REFRESH, b"\0\1"), (1, 2)),
}


@pytest.mark.parametrize("case", sorted(NOTIFY))
def test_notification_and_close(speaker, case):
    running, bgp = speaker
    peer = connect(bgp)
    data, expected = NOTIFY[case]
    try:
        peer.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
        wait(lambda: announced(bgp))
        peer.send(data)
        body = peer.recv_until(m.NOTIFICATION)
        assert (body[0], body[1]) == expected
        with pytest.raises(ConnectionError):
            while True:
                peer.recv(5)
        wait(lambda: bgp.neighbors["127.0.0.1"].state == "idle")
        assert not announced(bgp)  # the session's routes went with it
    finally:
        peer.close()
    # the speaker still accepts the router's next connection
    again = connect(bgp)
    again.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
    wait(lambda: announced(bgp))
    again.close()
    assert running.engine.stats.handler_errors == 0


def test_bad_open_gets_notification(speaker):
    _, bgp = speaker
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
    try:
        bad = bytearray(m.encode_open(65254, 90, "10.0.0.254", {(1, 1)}))
        bad[19] = 3  # BGP version 3
        peer.send(bytes(bad))
        body = peer.recv_until(m.NOTIFICATION)
        assert (body[0], body[1]) == (2, 1)
    finally:
        peer.close()


def test_bad_open_is_logged_once_per_peer(speaker, caplog):
    """Issue 14 item 11: every bad OPEN gets its NOTIFICATION, the log one line a minute."""
    _, bgp = speaker
    for _ in range(5):
        peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
        try:
            bad = bytearray(m.encode_open(65254, 1, "10.0.0.254", {(1, 1)}))  # hold time 1
            peer.send(bytes(bad))
            body = peer.recv_until(m.NOTIFICATION)
            assert (body[0], body[1]) == (2, 6)
        finally:
            peer.close()
    lines = [r.getMessage() for r in caplog.records if "BGP error 127.0.0.1" in r.getMessage()]
    assert len(lines) == 1 and "hold time" in lines[0] and "notification 2/6" in lines[0], lines


def test_unknown_peer_is_refused(speaker, caplog):
    """Issue 14 item 11: an unconfigured peer gets Cease / Connection Rejected (RFC 4486) and
    one log line per peer a minute, however often it connects."""
    running, bgp = speaker
    for i in range(20):
        peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254", source="127.0.0.5")
        try:
            if i % 2:
                peer.send(m.encode_open(65254, 90, "10.0.0.254", {(1, 1)}))
            body = peer.recv_until(m.NOTIFICATION)
            assert (body[0], body[1]) == (m.ERR_CEASE, m.CEASE_REJECTED)
            with pytest.raises(ConnectionError):
                while True:
                    peer.recv(5)
        finally:
            peer.close()
    assert bgp.unknown_connections == 20
    lines = [r for r in caplog.records if "127.0.0.5" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING", [r.getMessage() for r in lines]
    assert "not a configured neighbor" in lines[0].getMessage()
    # another unknown peer is reported on its own
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254", source="127.0.0.6")
    try:
        assert peer.recv_until(m.NOTIFICATION)[:2] == bytes((6, 5))
    finally:
        peer.close()
    assert len([r for r in caplog.records if "refused" in r.getMessage()]) == 2


def test_hold_timer_expiry(speaker):
    _, bgp = speaker
    peer = connect(bgp, hold=3)  # then stays silent
    try:
        body = peer.recv_until(m.NOTIFICATION, timeout=8)
        assert (body[0], body[1]) == (4, 0)
    finally:
        peer.close()
    wait(lambda: bgp.neighbors["127.0.0.1"].state == "idle")


def test_two_octet_as_peer_with_as4_path(speaker):
    """A peer without 4-octet AS support: AS_PATH carries AS_TRANS, AS4_PATH the real ASes."""
    _, bgp = speaker
    peer = RawPeer("127.0.0.1", bgp.listen_port, 65254, "10.0.0.254")
    try:
        # an OPEN without the 4-octet AS capability
        params = struct.pack(">BBBBHBB", 2, 6, 1, 4, 1, 0, 1)
        body = struct.pack(">BHH4sB", 4, 65254, 90, socket.inet_aton("10.0.0.254"), len(params))
        peer.send(m.frame(m.OPEN, body + params))
        assert peer.recv()[0] == m.OPEN
        peer.send(m.KEEPALIVE_MSG)
        assert peer.recv()[0] == m.KEEPALIVE
        aspath = attr(0x40, 2, struct.pack(">BBHHH", 2, 3, 65254, m.AS_TRANS, 3356))
        as4path = attr(0xC0, 17, struct.pack(">BBII", 2, 2, 4200000001, 3356))
        peer.send(update(ORIGIN_OK + aspath + NEXTHOP_OK + as4path))
        wait(lambda: announced(bgp))
        a = bgp.neighbors["127.0.0.1"].rib4.lookup("10.9.1.1")[1]
        assert a.aspath_str() == "65254-4200000001-3356"
    finally:
        peer.close()


def test_route_refresh_resends_pushed_routes(speaker):
    running, bgp = speaker
    running.call(bgp.add_route, "127.0.0.1", {"prefix": "100.64.0.0/10", "nexthop": "192.0.2.1"})
    peer = connect(bgp)
    try:
        first = peer.recv_until(m.UPDATE)
        u = m.decode_update(first, True)
        assert u.nlri4 == [(socket.inet_aton("100.64.0.0"), 10)]
        assert u.attrs.aspath == (65162,)  # eBGP: our AS prepended
        assert m.decode_update(peer.recv_until(m.UPDATE), True).eor == (1, 1)
        assert m.decode_update(peer.recv_until(m.UPDATE), True).eor == (2, 1)
        peer.send(m.route_refresh(1, 1))
        again = m.decode_update(peer.recv_until(m.UPDATE), True)
        assert again.nlri4 == u.nlri4
        assert m.decode_update(peer.recv_until(m.UPDATE), True).eor == (1, 1)
    finally:
        peer.close()


def test_full_speed_table_through_session(speaker):
    """20k prefixes packed as a router packs them, then withdrawn in bulk."""
    _, bgp = speaker
    peer = connect(bgp)
    try:
        prefixes = [(struct.pack(">I", 0x0B000000 + (i << 8)), 24) for i in range(20000)]
        for msg in pack_updates(prefixes, attrs_bytes(aspath=(65254, 1299, 3356))):
            peer.send(msg)
        wait(lambda: len(bgp.neighbors["127.0.0.1"].rib4) == 20000)
        withdrawn = b"".join(m.encode_prefix(*p) for p in prefixes[:1000])
        peer.send(m.frame(m.UPDATE, struct.pack(">H", len(withdrawn)) + withdrawn + b"\0\0"))
        wait(lambda: len(bgp.neighbors["127.0.0.1"].rib4) == 19000)
        assert bgp.neighbors["127.0.0.1"].rib4.removed == 1000
        assert len(bgp.intern) <= 2  # one shared attribute set for all 20k prefixes
    finally:
        peer.close()


def test_reconnect_replaces_the_old_session(speaker):
    _, bgp = speaker
    first = connect(bgp)
    try:
        first.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
        wait(lambda: announced(bgp))
        second = connect(bgp)  # the router gave up on the first connection and came back
        body = first.recv_until(m.NOTIFICATION)
        assert (body[0], body[1]) == (6, 7)  # Cease / connection collision resolution
        wait(lambda: bgp.neighbors["127.0.0.1"].state == "established")
        assert not announced(bgp)  # the new session starts with an empty table
        second.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
        wait(lambda: announced(bgp))
        second.close()
    finally:
        first.close()


def test_random_garbage_never_hurts_the_speaker(speaker):
    """Random mutations of valid UPDATE streams: every connection either keeps working or ends
    with a NOTIFICATION; the speaker keeps accepting the router and nothing escapes."""
    import random

    running, bgp = speaker
    rng = random.Random(1234)
    valid = update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK + attr(0xC0, 8, b"\0\1\0\2"))
    outcomes = {"notification": 0, "survived": 0}
    for _ in range(30):
        data = bytearray(valid * 3)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        peer = connect(bgp)
        try:
            peer.send(bytes(data) + m.KEEPALIVE_MSG)
            try:
                while True:
                    kind, body = peer.recv(0.3)
                    if kind == m.NOTIFICATION:
                        outcomes["notification"] += 1
                        break
            except (TimeoutError, socket.timeout):
                outcomes["survived"] += 1
            except ConnectionError:
                raise AssertionError("closed without a NOTIFICATION") from None
        finally:
            peer.close()
        wait(lambda: bgp.neighbors["127.0.0.1"].state == "idle")
    assert outcomes["notification"] and outcomes["survived"]
    assert running.engine.stats.handler_errors == 0
    last = connect(bgp)
    last.send(update(ORIGIN_OK + ASPATH_OK + NEXTHOP_OK))
    wait(lambda: announced(bgp))
    last.close()
