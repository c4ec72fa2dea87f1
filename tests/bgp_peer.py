"""A minimal active BGP speaker for tests and benchmarks: connects to flowrt's BGP port, completes
the OPEN exchange, then sends whatever UPDATEs (well-formed or not) the caller builds.

Also builds UPDATEs the way routers pack them: many prefixes sharing one attribute set per
message, up to the 4096-byte limit.
"""

from __future__ import annotations

import socket
import struct
import time

from engine.bgp import message as m


class RawPeer:
    def __init__(
        self,
        host: str,
        port: int,
        asn: int,
        bgp_id: str = "192.0.2.1",
        families=((m.AFI_IPV4, m.SAFI_UNICAST), (m.AFI_IPV6, m.SAFI_UNICAST)),
        hold: int = 90,
        source: str | None = None,
        timeout: float = 10.0,
        add_path: dict | None = None,
    ):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.asn, self.bgp_id, self.families, self.hold = asn, bgp_id, set(families), hold
        self.add_path = add_path  # {(afi, safi): ADD_PATH_SEND...} offered in our OPEN
        self.buf = b""
        self.peer_open: m.Open | None = None

    def handshake(self) -> m.Open:
        self.send(
            m.encode_open(self.asn, self.hold, self.bgp_id, self.families, add_path=self.add_path)
        )
        kind, body = self.recv()
        if kind != m.OPEN:
            raise AssertionError(f"expected OPEN, got {kind} {body!r}")
        self.peer_open = m.decode_open(body)
        self.send(m.KEEPALIVE_MSG)
        kind, body = self.recv()
        if kind != m.KEEPALIVE:
            raise AssertionError(f"expected KEEPALIVE, got {kind} {body!r}")
        return self.peer_open

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float | None = None) -> tuple[int, bytes]:
        """Next message as (type, body); raises ConnectionError when the peer closed."""
        if timeout is not None:
            self.sock.settimeout(timeout)
        while True:
            if len(self.buf) >= 19:
                length = struct.unpack_from(">H", self.buf, 16)[0]
                if len(self.buf) >= length:
                    kind = self.buf[18]
                    body = self.buf[19:length]
                    self.buf = self.buf[length:]
                    return kind, body
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed the connection")
            self.buf += chunk

    def recv_until(self, kind: int, timeout: float = 5.0) -> bytes:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message of type {kind}")
            k, body = self.recv(left)
            if k == kind:
                return body

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def pack_updates(
    prefixes,
    attrs: bytes,
    family: int = 4,
    nexthop6: bytes | None = None,
    max_len: int = m.MAX_MESSAGE,
) -> list[bytes]:
    """UPDATE messages announcing `prefixes` ((packed, len) pairs, or (packed, len, path id)
    for an ADD-PATH session) with the encoded attribute bytes `attrs`, as many per message as
    fit. IPv6 goes in MP_REACH_NLRI with nexthop6."""
    out = []
    if family == 4:
        room = max_len - 19 - 4 - len(attrs)
        chunk: list[bytes] = []
        size = 0
        for entry in prefixes:
            p = m.encode_prefix(*entry)
            if size + len(p) > room:
                out.append(m.encode_update_v4(attrs, chunk))
                chunk, size = [], 0
            chunk.append(p)
            size += len(p)
        if chunk:
            out.append(m.encode_update_v4(attrs, chunk))
        return out
    if nexthop6 is None:
        raise ValueError("IPv6 prefixes need nexthop6")
    room = max_len - 19 - 4 - len(attrs) - 4 - 5 - len(nexthop6) - 1
    chunk, size = [], 0

    def flush():
        mp = m.mp_reach_value(m.AFI_IPV6, m.SAFI_UNICAST, nexthop6, b"".join(chunk))
        a = attrs + m._attr(m.F_OPTIONAL, m.MP_REACH, mp)
        out.append(m.encode_update_v4(a, []))

    for entry in prefixes:
        p = m.encode_prefix(*entry)
        if size + len(p) > room:
            flush()
            chunk, size = [], 0
        chunk.append(p)
        size += len(p)
    if chunk:
        flush()
    return out


def attrs_bytes(
    aspath=(),
    nexthop: str | None = "192.0.2.254",
    med=None,
    localpref=None,
    communities=(),
    large_communities=(),
    origin: int = 0,
    as4: bool = True,
) -> bytes:
    """Encoded path attributes for test UPDATEs (AS path given as sent, nothing prepended)."""
    a = m.PathAttrs(
        origin=origin,
        aspath=tuple(aspath),
        nexthop=nexthop,
        med=med,
        localpref=localpref,
        communities=tuple(communities),
        large_communities=tuple(large_communities),
    )
    return (
        m.encode_attrs(a, as4, ibgp=localpref is not None, local_as=0)
        if localpref is not None
        else _ebgp_attrs(a, as4)
    )


def _ebgp_attrs(a: m.PathAttrs, as4: bool) -> bytes:
    # encode_attrs prepends the local AS for eBGP; here the caller's path is sent verbatim
    full = m.encode_attrs(a, as4, ibgp=True, local_as=0)
    # strip the LOCAL_PREF encode_attrs adds for iBGP (flags 0x40, type 5, len 4)
    lp = struct.pack(">BBBI", m.F_TRANSITIVE, m.LOCAL_PREF, 4, 100)
    return full.replace(lp, b"", 1)
