"""Flow/discard sample -> dict of sFlow-RT flow keys (the hot path; see docs/flow-keys.md).

One pass over the sample's records: the sampled header goes to header.decode_header, the few
other records that carry flow keys are unpacked directly with precompiled structs, everything
else is skipped by length. No per-record dicts are built.
"""
from __future__ import annotations

import socket
import struct

from .datagram import DecodeError
from .enums import APP_STATUS, TCP_DIRECTION
from .header import BIN8, decode_header_bytes
from .records import DROP_REASONS, V2V4_ENTERPRISE
from .xdr import Reader

_REC = struct.Struct(">II").unpack_from
_HDR4 = struct.Struct(">4I").unpack_from
_HDR3 = struct.Struct(">3I").unpack_from
_U32_4 = struct.Struct(">4I").unpack_from
_U32_2 = struct.Struct(">2I").unpack_from
_U32 = struct.Struct(">I").unpack_from
_IPV4REC = struct.Struct(">II4s4sIIII").unpack_from
_IPV6REC = struct.Struct(">II16s16sIIII").unpack_from
_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF6 = socket.AF_INET6

INTERNAL = 0x3FFFFFFF
TCP_FLAGS9 = tuple(format(i, "09b") for i in range(512))
HTTP_METHODS = ("OTHER", "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT")


def port_value(fmt: int, value: int):
    """inputifindex/outputifindex value: the ifIndex, or sFlow-RT's special strings."""
    if fmt == 0:
        if value == INTERNAL:
            return "internal"
        if value == 0:
            return "unknown"
        return value
    if fmt == 1:
        return "discard"
    if fmt == 2:
        return "multiple"
    return "unknown"


def python_flow_attributes(s) -> dict:
    """The pure-Python path (always available; the C accelerator falls back to it)."""
    a: dict = {}
    buf = s.buf
    off = s.rec_off
    end = s.rec_end
    try:
        for _ in range(s.nrec):
            if off + 8 > end:
                raise DecodeError("flow record header past end of sample")
            tag, length = _REC(buf, off)
            off += 8
            rend = off + length
            if rend > end:
                raise DecodeError(f"flow record {tag >> 12}:{tag & 0xFFF} length {length} past end of sample")
            if tag == 1:
                if length < 16:
                    raise DecodeError("sampled header record too short")
                proto, flen, stripped, hlen = _HDR4(buf, off)
                hs = off + 16
                if hs + hlen > rend:
                    raise DecodeError(f"sampled header length {hlen} past end of record")
                a["bytes"] = flen
                a["stripped"] = stripped
                hb = buf[hs:hs + hlen]
                if hb.__class__ is not bytes:
                    hb = bytes(hb)
                decode_header_bytes(hb, proto, a)
            elif tag == 1001:
                if length < 16:
                    raise DecodeError("extended_switch record too short")
                in_vlan, in_prio, out_vlan, out_prio = _U32_4(buf, off)
                if in_vlan != 0xFFFFFFFF:
                    a["vlansource"] = in_vlan
                    a["prioritysource"] = in_prio
                if out_vlan != 0xFFFFFFFF:
                    a["vlandestination"] = out_vlan
                    a["prioritydestination"] = out_prio
            else:
                fn = _HANDLERS.get(tag)
                if fn is not None:
                    fn(buf, off, rend, a)
            off += (length + 3) & ~3
    except DecodeError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, KeyError, TypeError) as exc:
        raise DecodeError(f"malformed flow record: {exc}") from None
    a["frames"] = 1
    inp = s.input
    out = s.output
    a["inputifindex"] = inp if 0 < inp < INTERNAL and s.input_format == 0 else port_value(s.input_format, inp)
    a["outputifindex"] = out if 0 < out < INTERNAL and s.output_format == 0 else port_value(s.output_format, out)
    if s.ds_class == 0:
        if s.ds_index == inp and s.input_format == 0:
            a["direction"] = "ingress"
        elif s.ds_index == out and s.output_format == 0:
            a["direction"] = "egress"
    a["samplingrate"] = s.sampling_rate
    if s.kind == "discard":
        a["reason"] = DROP_REASONS.get(s.reason) or str(s.reason)
    return a


def _need(off, n, rend):
    if off + n > rend:
        raise DecodeError("flow record too short")


# ------------------------------------------------------------------ record handlers

def _header_v2v4(buf, off, rend, a):
    _need(off, 12, rend)
    proto, flen, hlen = _HDR3(buf, off)
    hs = off + 12
    if hs + hlen > rend:
        raise DecodeError(f"sampled header length {hlen} past end of record")
    a["bytes"] = flen
    decode_header_bytes(bytes(buf[hs:hs + hlen]), proto, a)


def _sampled_ethernet(buf, off, rend, a):
    _need(off, 24, rend)
    if "macsource" in a:
        return
    a.setdefault("bytes", _U32(buf, off)[0])
    a["macsource"] = buf[off + 4:off + 10].hex().upper()
    a["macdestination"] = buf[off + 12:off + 18].hex().upper()
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


def _sampled_ipv4(buf, off, rend, a):
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


def _sampled_ipv6(buf, off, rend, a):
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


def _memo(decode):
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
    fn.cache = cache
    return fn


def _router(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["ipnexthoprouter"] = r.address()
    a["ipsourcemaskbits"] = r.u32()
    a["ipdestinationmaskbits"] = r.u32()


def _gateway_common(r, a, communities):
    a["bgpas"] = r.u32()
    a["bgpsourceas"] = r.u32()
    a["bgpsourcepeeras"] = r.u32()
    nseg = r.count("AS path segment")
    path = []
    for _ in range(nseg):
        r.u32()          # AS_SET or AS_SEQUENCE: sFlow-RT lists the ASNs in order either way
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
            a["bgpcommunities"] = "-".join(f"{c >> 16}:{c & 0xFFFF}" for c in (r.u32() for _ in range(n)))
        a["bgplocalpref"] = r.u32()


def _gateway(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["bgpnexthop"] = r.address()
    _gateway_common(r, a, True)


def _gateway_v4(buf, off, rend, a):
    _gateway_common(Reader(buf, off, rend), a, True)


def _gateway_v2(buf, off, rend, a):
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


def _user(buf, off, rend, a):
    r = Reader(buf, off, rend)
    r.u32()
    a["usersource"] = r.string()
    r.u32()
    a["userdestination"] = r.string()


def _user_v4(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["usersource"] = r.string()
    a["userdestination"] = r.string()


def _url(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["urldirection"] = r.u32()
    a["url"] = r.string()
    a["urlhost"] = r.string()


def _url_v4(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["urldirection"] = r.u32()
    a["url"] = r.string()


def _mpls_rec(buf, off, rend, a):
    a["mplsnexthop"] = Reader(buf, off, rend).address()


def _nat(buf, off, rend, a):
    r = Reader(buf, off, rend)
    a["natipsource"] = r.address()
    a["natipdestination"] = r.address()


def _nat_port(buf, off, rend, a):
    _need(off, 8, rend)
    a["natsourceport"], a["natdestinationport"] = _U32_2(buf, off)


def _one_u32(key):
    def fn(buf, off, rend, a):
        _need(off, 4, rend)
        a[key] = _U32(buf, off)[0]
    return fn


def _vni_out(buf, off, rend, a):
    _need(off, 4, rend)
    a.setdefault("vni", _U32(buf, off)[0])


def _vni_in(buf, off, rend, a):
    _need(off, 4, rend)
    a["vni"] = _U32(buf, off)[0]


def _strings(*keys):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        for k in keys:
            v = r.string()
            if v:
                a[k] = v
    return fn


def _socket4(prefix):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        a[prefix + "protocol"] = r.u32()
        a[prefix + "serveraddress"] = r.ip4()
        a[prefix + "clientaddress"] = r.ip4()
        a[prefix + "serverport"] = r.u32()
        a[prefix + "clientport"] = r.u32()
    return fn


def _socket6(prefix):
    def fn(buf, off, rend, a):
        r = Reader(buf, off, rend)
        a[prefix + "protocol"] = r.u32()
        a[prefix + "serveraddress6"] = r.ip6()
        a[prefix + "clientaddress6"] = r.ip6()
        a[prefix + "serverport"] = r.u32()
        a[prefix + "clientport"] = r.u32()
    return fn


def _http(new):
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


def _memcache(buf, off, rend, a):
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


def _app(buf, off, rend, a):
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


_TCPINFO = ("tcpmss", "tcprcvmss", "tcpunacked", "tcplost", "tcpretrans", "tcppmtu", "tcprtt",
            "tcprttsdev", "tcpcwndsnd", "tcpreordering", "tcprttmin")
_TCPINFO_ST = struct.Struct(">12I").unpack_from


def _tcp_info(buf, off, rend, a):
    _need(off, 48, rend)
    v = _TCPINFO_ST(buf, off)
    a["tcpinfodirection"] = TCP_DIRECTION[v[0]] if v[0] < 3 else str(v[0])
    a.update(zip(_TCPINFO, v[1:]))


_HANDLERS = {
    2: _sampled_ethernet,
    3: _sampled_ipv4,
    4: _sampled_ipv6,
    1002: _memo(_router),
    1003: _memo(_gateway),
    1004: _user,
    1005: _url,
    1006: _mpls_rec,
    1007: _nat,
    1020: _nat_port,
    1029: _vni_out,
    1030: _vni_in,
    1036: _one_u32("queueindex"),
    1038: _strings("function"),
    1039: _one_u32("transitdelay"),
    1040: _one_u32("queuedepth"),
    1041: _strings("hwtrapgroup", "hwtrapname"),
    1042: _strings("linuxdropreason"),
    2100: _socket4(""),
    2101: _socket6(""),
    2102: _socket4("proxy"),
    2103: _socket6("proxy"),
    2200: _memcache,
    2201: _http(False),
    2206: _http(True),
    2202: _app,
    2203: _strings("appparentapplication", "appparentoperation", "appparentattributes"),
    2204: _strings("actorinitiator"),
    2205: _strings("actortarget"),
    2209: _tcp_info,
    (V2V4_ENTERPRISE << 12) | 1: _header_v2v4,
    (V2V4_ENTERPRISE << 12) | 1003: _memo(_gateway_v4),
    (V2V4_ENTERPRISE << 12) | 2003: _memo(_gateway_v2),
    (V2V4_ENTERPRISE << 12) | 1004: _user_v4,
    (V2V4_ENTERPRISE << 12) | 1005: _url_v4,
}


# Handlers that only store into the dict they are given (never read it, no setdefault): a
# subset (flow_attributes_subset) runs them on an empty dict and keeps the wanted keys. The
# others decide by what the dict already holds ("ipsource" in a, setdefault("bytes")), so a
# sample with one of them takes its subset from the full dict. Unlisted = safe.
WRITE_ONLY_HANDLERS = frozenset({
    1002, 1003, 1004, 1005, 1006, 1007, 1020, 1030, 1036, 1038, 1039, 1040, 1041, 1042,
    2100, 2101, 2102, 2103, 2203, 2204, 2205, 2209,
    (V2V4_ENTERPRISE << 12) | 1003, (V2V4_ENTERPRISE << 12) | 2003,
    (V2V4_ENTERPRISE << 12) | 1004, (V2V4_ENTERPRISE << 12) | 1005,
})


def python_flow_attributes_subset(s, wanted: frozenset | None, shared: bool = False) -> dict:
    """``s.attributes()`` restricted to the names in ``wanted`` (a frozenset; None: the full
    dict itself). Names nobody decodes are ignored. The C version builds only those keys.
    ``shared=True``, for readers that do not change the dict: where the sample has its full
    dict (here: always), that dict itself is returned, i.e. every key, not only the wanted."""
    if wanted is None:
        return s.attributes()
    if wanted.__class__ is not frozenset:
        raise TypeError("flow_attributes_subset: wanted must be a frozenset or None")
    if shared:
        return s.attributes()
    return {k: v for k, v in s.attributes().items() if k in wanted}


# ------------------------------------------------------------------ C accelerator
# engine/sflow/_accel.c (built by pip when a compiler is present) produces the same dicts for
# the common cases and calls python_flow_attributes for everything else. FLOWRT_NO_ACCEL=1 in
# the environment, or use_accelerator(False), keeps the pure-Python path.

from .. import accel_disabled  # noqa: E402


def _load_accel():
    if accel_disabled():
        return None
    try:
        from . import _accel
    except ImportError:
        return None
    from . import datagram, header
    try:
        _accel.setup({"fallback": python_flow_attributes, "flow_type": datagram.FlowSample,
                      "handlers": _HANDLERS, "dns_types": header.DNS_TYPES,
                      "write_only": WRITE_ONLY_HANDLERS,
                      "tcp_flags": header.TCP_FLAGS, "bin8": header.BIN8, "bin2": header.BIN2,
                      "bin3": header.BIN3, "dscp_names": header.DSCP_NAMES})
        _accel.setup_walk({"decode": datagram.python_decode_datagram, "sample": datagram._sample,
                           "agent": datagram._agent, "agents": datagram._AGENTS,
                           "af_inet": socket.AF_INET, "af_inet6": socket.AF_INET6,
                           "datagram_type": datagram.Datagram, "decode_error": DecodeError,
                           "tag_names": datagram._TAG_NAMES})
    except (AttributeError, TypeError, ValueError):   # a stale build that does not fit
        return None
    return _accel


def use_accelerator(enabled: bool = True) -> bool:
    """Route decode_datagram(), FlowSample.attributes() and flow_attributes_subset() through
    the C code (if it was built and loaded) or the pure-Python one; returns whether the C code
    is now in use."""
    global flow_attributes, flow_attributes_subset, track_samples
    from . import datagram
    on = enabled and accel is not None
    flow_attributes = datagram.flow_attributes = (accel.flow_attributes if on
                                                  else python_flow_attributes)
    # (a stale build without the subset function serves subsets from its full dicts)
    flow_attributes_subset = (getattr(accel, "flow_attributes_subset", None) if on else None) \
        or python_flow_attributes_subset
    # AgentStats.samples_seen's loop (engine/agents.py), on the walker's sample slots
    track_samples = getattr(accel, "track_samples", None) if on else None
    datagram._walk = accel.decode_datagram if on else datagram.python_decode_datagram
    return on


accel = _load_accel()
flow_attributes = python_flow_attributes
flow_attributes_subset = python_flow_attributes_subset
track_samples = None
use_accelerator(True)
