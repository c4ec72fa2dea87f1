"""The hot path's sFlow-RT flow keys, record by record (see docs/flow-keys.md).

One function per flow record type that carries flow keys: ``fn(buf, off, rend, a)`` unpacks
the record body buf[off:rend] and stores sFlow-RT's key names into ``a``. Each is named in its
record's declaration (flow_records.py, ``attributes=``); attributes.py dispatches to them by
tag. The sampled header (0:1) and extended_switch (0:1001) are inlined in
attributes.python_flow_attributes instead (the two records of nearly every sample).
"""

from __future__ import annotations

import socket
import struct

from .errors import DecodeError
from .header import BIN8, decode_header_bytes
from .xdr import Reader

_HDR3 = struct.Struct(">3I").unpack_from
_U32_2 = struct.Struct(">2I").unpack_from
_U32 = struct.Struct(">I").unpack_from
_IPV4REC = struct.Struct(">II4s4sIIII").unpack_from
_IPV6REC = struct.Struct(">II16s16sIIII").unpack_from
_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF6 = socket.AF_INET6

TCP_FLAGS9 = tuple(format(i, "09b") for i in range(512))
HTTP_METHODS = ("OTHER", "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT")
APP_STATUS = (
    "SUCCESS",
    "OTHER",
    "TIMEOUT",
    "INTERNAL_ERROR",
    "BAD_REQUEST",
    "FORBIDDEN",
    "TOO_LARGE",
    "NOT_IMPLEMENTED",
    "NOT_FOUND",
    "UNAVAILABLE",
    "UNAUTHORIZED",
)
TCP_DIRECTION = ("unknown", "received", "sent")


def _need(off, n, rend):
    if off + n > rend:
        raise DecodeError("flow record too short")


# ------------------------------------------------------------------ record handlers


def header_v2v4(buf, off, rend, a):
    _need(off, 12, rend)
    proto, flen, hlen = _HDR3(buf, off)
    hs = off + 12
    if hs + hlen > rend:
        raise DecodeError(f"sampled header length {hlen} past end of record")
    a["bytes"] = flen
    decode_header_bytes(bytes(buf[hs : hs + hlen]), proto, a)


def sampled_ethernet(buf, off, rend, a):
    _need(off, 24, rend)
    if "macsource" in a:
        return
    a.setdefault("bytes", _U32(buf, off)[0])
    a["macsource"] = buf[off + 4 : off + 10].hex().upper()
    a["macdestination"] = buf[off + 12 : off + 18].hex().upper()
    a["ethernetprotocol"] = _U32(buf, off + 20)[0]


def _l4_fields(a, proto, sport, dport, flags):
    if proto == 6:
        a["tcpsourceport"] = sport
        a["tcpdestinationport"] = dport
        a["tcpflags"] = TCP_FLAGS9[flags & 0x1FF]
    elif proto == 17:
        a["udpsourceport"] = sport
        a["udpdestinationport"] = dport
    elif proto == 1:
        a["icmptype"] = dport
    elif proto == 58:
        a["icmp6type"] = dport


def sampled_ipv4(buf, off, rend, a):
    _need(off, 32, rend)
    if "ipsource" in a:
        return
    length, proto, src, dst, sport, dport, flags, tos = _IPV4REC(buf, off)
    a.setdefault("bytes", length)
    a["ipsource"] = _inet_ntoa(src)
    a["ipdestination"] = _inet_ntoa(dst)
    a["ipprotocol"] = proto
    a["iptos"] = BIN8[tos & 0xFF]
    a["ipbytes"] = length
    _l4_fields(a, proto, sport, dport, flags)


def sampled_ipv6(buf, off, rend, a):
    _need(off, 56, rend)
    if "ip6source" in a:
        return
    length, proto, src, dst, sport, dport, flags, prio = _IPV6REC(buf, off)
    a.setdefault("bytes", length)
    a["ip6source"] = _inet_ntop(_AF6, src)
    a["ip6destination"] = _inet_ntop(_AF6, dst)
    a["ip6nexthdr"] = proto
    a["ip6tos"] = BIN8[prio & 0xFF]
    a["ip6bytes"] = length
    _l4_fields(a, proto, sport, dport, flags)


# Routing records repeat for every packet towards the same prefix: decode each distinct record
# body once and reuse the resulting keys (bounded; cleared when full).
MEMO_MAX = 1 << 14


def memo(decode):
    cache: dict = {}
    get = cache.get

    def fn(buf, off, rend, a):
        key = bytes(buf[off:rend])
        hit = get(key)
        if hit is None:
            hit = {}
            decode(buf, off, rend, hit)
            if len(cache) >= MEMO_MAX:
                cache.clear()
            cache[key] = hit
        a.update(hit)

    fn.cache = cache  # type: ignore[attr-defined]  # the memo, reachable from the function
    return fn


def router(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["ipnexthoprouter"] = r.address()
    a["ipsourcemaskbits"] = r.u32()
    a["ipdestinationmaskbits"] = r.u32()


def _gateway_common(r, a, communities):
    a["bgpas"] = r.u32()
    a["bgpsourceas"] = r.u32()
    a["bgpsourcepeeras"] = r.u32()
    nseg = r.count("AS path segment")
    path: list[int] = []
    for _ in range(nseg):
        r.u32()  # AS_SET or AS_SEQUENCE: sFlow-RT lists the ASNs in order either way
        n = r.count("AS path")
        if len(path) + n > 1000:
            raise DecodeError("AS path seems quite large")
        path.extend(r.u32() for _ in range(n))
    if path:
        a["bgpdestinationaspath"] = "-".join(map(str, path))
        a["bgpdestinationpeeras"] = path[0]
        a["bgpdestinationas"] = path[-1]
    if communities:
        n = r.count("BGP community")
        if n:
            a["bgpcommunities"] = "-".join(
                f"{c >> 16}:{c & 0xFFFF}" for c in (r.u32() for _ in range(n))
            )
        a["bgplocalpref"] = r.u32()


def gateway(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["bgpnexthop"] = r.address()
    _gateway_common(r, a, True)


def gateway_v4(buf, off, rend, a):
    _gateway_common(Reader(buf, off, rend), a, True)


def gateway_v2(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["bgpas"] = r.u32()
    a["bgpsourceas"] = r.u32()
    a["bgpsourcepeeras"] = r.u32()
    n = r.count("AS path")
    path = [r.u32() for _ in range(n)]
    if path:
        a["bgpdestinationaspath"] = "-".join(map(str, path))
        a["bgpdestinationpeeras"] = path[0]
        a["bgpdestinationas"] = path[-1]


def user(buf, off, rend, a):
    r = Reader(buf, off, rend)
    r.u32()
    a["usersource"] = r.string()
    r.u32()
    a["userdestination"] = r.string()


def user_v4(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["usersource"] = r.string()
    a["userdestination"] = r.string()


def url(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["urldirection"] = r.u32()
    a["url"] = r.string()
    a["urlhost"] = r.string()


def url_v4(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["urldirection"] = r.u32()
    a["url"] = r.string()


def mpls_rec(buf, off, rend, a):
    a["mplsnexthop"] = Reader(buf, off, rend).address()


def nat(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["natipsource"] = r.address()
    a["natipdestination"] = r.address()


def nat_port(buf, off, rend, a):
    _need(off, 8, rend)
    a["natsourceport"], a["natdestinationport"] = _U32_2(buf, off)


def one_u32(key):
    def fn(buf, off, rend, a):
        _need(off, 4, rend)
        a[key] = _U32(buf, off)[0]

    return fn


def vni_out(buf, off, rend, a):
    _need(off, 4, rend)
    a.setdefault("vni", _U32(buf, off)[0])


def vni_in(buf, off, rend, a):
    _need(off, 4, rend)
    a["vni"] = _U32(buf, off)[0]


def strings(*keys):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        for k in keys:
            v = r.string()
            if v:
                a[k] = v

    return fn


def socket4(prefix):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        a[prefix + "protocol"] = r.u32()
        a[prefix + "serveraddress"] = r.ip4()
        a[prefix + "clientaddress"] = r.ip4()
        a[prefix + "serverport"] = r.u32()
        a[prefix + "clientport"] = r.u32()

    return fn


def socket6(prefix):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        a[prefix + "protocol"] = r.u32()
        a[prefix + "serveraddress6"] = r.ip6()
        a[prefix + "clientaddress6"] = r.ip6()
        a[prefix + "serverport"] = r.u32()
        a[prefix + "clientport"] = r.u32()

    return fn


def http(new):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        m = r.u32()
        a["httpmethod"] = HTTP_METHODS[m] if m < len(HTTP_METHODS) else str(m)
        p = r.u32()
        a["httpprotocol"] = f"HTTP/{p // 1000}.{p % 1000}"
        for k in ("httpurl", "httphost", "httpreferer", "httpuseragent"):
            v = r.string()
            if v:
                a[k] = v
        if new:
            v = r.string()
            if v:
                a["httpxff"] = v
        for k in ("httpauthuser", "httpmimetype"):
            v = r.string()
            if v:
                a[k] = v
        req = r.u64() if new else 0
        resp = r.u64()
        a["req_bytes"] = req
        a["resp_bytes"] = resp
        a.setdefault("bytes", req + resp)
        a["duration"] = r.u32()
        a["httpstatus"] = r.u32()
        a["requests"] = 1

    return fn


def memcache(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["memcacheprotocol"] = r.u32()
    a["memcachecommand"] = r.u32()
    k = r.string()
    if k:
        a["memcachekey"] = k
    a["memcachenkeys"] = r.u32()
    vb = r.u32()
    a["memcachevaluebytes"] = vb
    a.setdefault("bytes", vb)
    a["duration"] = r.u32()
    a["memcachestatus"] = r.u32()
    a["requests"] = 1


def app(buf, off, rend, a):
    r = Reader(buf, off, rend)
    for k in ("application", "operation", "appattributes", "appstatusdescr"):
        v = r.string()
        if v:
            a[k] = v
    req = r.u64()
    resp = r.u64()
    a["req_bytes"] = req
    a["resp_bytes"] = resp
    a.setdefault("bytes", req + resp)
    a["duration"] = r.u32()
    st = r.u32()
    a["appstatus"] = APP_STATUS[st] if st < len(APP_STATUS) else str(st)
    a["requests"] = 1


_TCPINFO = (
    "tcpmss",
    "tcprcvmss",
    "tcpunacked",
    "tcplost",
    "tcpretrans",
    "tcppmtu",
    "tcprtt",
    "tcprttsdev",
    "tcpcwndsnd",
    "tcpreordering",
    "tcprttmin",
)
_TCPINFO_ST = struct.Struct(">12I").unpack_from


def tcp_info(buf, off, rend, a):
    _need(off, 48, rend)
    v = _TCPINFO_ST(buf, off)
    a["tcpinfodirection"] = TCP_DIRECTION[v[0]] if v[0] < 3 else str(v[0])
    a.update(zip(_TCPINFO, v[1:]))
