"""sFlow version 2 and 4 datagrams (as far as sflowtool decodes them).

v2/v4 samples and their elements carry no length fields, so each sample is walked eagerly here.
Its elements are then re-framed as v5 records (tag, length, body) in a small private buffer,
which lets the ordinary lazy machinery (records(), attributes()) handle them. Elements whose
layout differs from v5 (header without stripped count, v2/v4 gateway, user, url) get tags in the
unassigned enterprise V2V4_ENTERPRISE; their decoders print the v5 tag sflowtool shows.
"""

from __future__ import annotations

import struct

from .errors import MAX_SAMPLES, DecodeError
from .registry import V2V4_ENTERPRISE
from .samples import CounterSample, Datagram, FlowSample, _data_source
from .xdr import Reader

_TLV = struct.Struct(">II").pack
_PRIV = V2V4_ENTERPRISE << 12
MAX_EXTENDED = 64

# v2/v4 element types -> (v5-or-private tag)
_PACKET_TAGS = {1: _PRIV | 1, 2: 3, 3: 4}  # header, ipv4, ipv6
_COUNTER_SPECIFIC = {2: 2, 3: 3, 5: 4, 7: 5}  # ethernet, tokenring, vg, vlan
_COUNTER_SIZES = {1: 88, 2: 52, 3: 72, 4: 80, 5: 28}  # by v5 tag


def decode_v2v4(buf) -> Datagram:
    try:
        return _decode(buf)
    except DecodeError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise DecodeError(f"malformed v2/v4 datagram: {exc}") from None


def _decode(buf) -> Datagram:
    r = Reader(buf, 0, len(buf))
    version = r.u32()
    at = r.u32()
    if at == 1:
        agent = r.ip4()
    elif at == 2:
        agent = r.ip6()
    else:
        raise DecodeError(f"unknown agent address type {at}")
    seq = r.u32()
    uptime = r.u32()
    n = r.u32()
    if n > MAX_SAMPLES:
        raise DecodeError(f"implausible sample count {n}")
    samples = []
    for _ in range(n):
        stype = r.u32()
        if stype == 1:
            s = _flow(r, version)
        elif stype == 2:
            s = _counters(r)
        else:
            raise DecodeError(f"unexpected sample type {stype} in v{version} datagram")
        s.agent = agent
        samples.append(s)
    return Datagram(version, agent, 0, seq, uptime, samples)


def _tlv(tag: int, body) -> bytes:
    body = bytes(body)
    return _TLV(tag, len(body)) + body + b"\0" * (-len(body) & 3)


def _flow(r: Reader, version: int) -> FlowSample:
    seq, src, rate, pool, drops, inp, out = (r.u32() for _ in range(7))
    s = FlowSample()
    s.ds_class, s.ds_index = src >> 24, src & 0xFFFFFF
    s.input_format, s.input = 0, inp
    if out & 0x80000000:
        s.output_format, s.output = 2, out & 0x7FFFFFFF
    else:
        s.output_format, s.output = 0, out
    s.sampling_rate, s.sample_pool, s.drops = rate, pool, drops
    parts = []
    ptag = r.u32()
    start = r.pos
    if ptag == 1:
        r.u32()
        r.u32()
        r.opaque(r.u32())
    elif ptag == 2:
        r._need(32)
    elif ptag == 3:
        r._need(56)
    else:
        raise DecodeError(f"unexpected packet_data_tag {ptag}")
    parts.append(_tlv(_PACKET_TAGS[ptag], r.buf[start : r.pos]))
    n = r.count("extended element", MAX_EXTENDED)
    for _ in range(n):
        etag = r.u32()
        start = r.pos
        if etag == 1:  # switch
            r._need(16)
            tag = 1001
        elif etag == 2:  # router
            r.address()
            r._need(8)
            tag = 1002
        elif etag == 3:  # gateway
            r._need(12)
            if version == 2:
                r._need(4 * r.count("AS path"))
                tag = _PRIV | 2003
            else:
                for _ in range(r.count("AS path segment")):
                    r.u32()
                    r._need(4 * r.count("AS path"))
                r._need(4 * r.count("BGP community"))
                r.u32()
                tag = _PRIV | 1003
        elif etag == 4:  # user
            r.string()
            r.string()
            tag = _PRIV | 1004
        elif etag == 5:  # url
            r.u32()
            r.string()
            tag = _PRIV | 1005
        else:
            raise DecodeError(f"unrecognized extended data tag {etag}")
        parts.append(_tlv(tag, r.buf[start : r.pos]))
    _finish(s, "0:1", seq, parts)
    s._attrs = None
    return s


def _counters(r: Reader) -> CounterSample:
    seq, src, _interval, version = (r.u32() for _ in range(4))
    s = CounterSample()
    s.ds_class, s.ds_index = src >> 24, src & 0xFFFFFF
    parts = []
    if 1 <= version <= 6:
        p = r._need(88)
        parts.append(_tlv(1, r.buf[p : p + 88]))
    elif version != 7:
        raise DecodeError(f"unknown counters version {version}")
    tag = _COUNTER_SPECIFIC.get(version)
    if tag is not None:
        size = _COUNTER_SIZES[tag]
        p = r._need(size)
        parts.append(_tlv(tag, r.buf[p : p + size]))
    _finish(s, "0:2", seq, parts)
    return s


def _finish(s, tag: str, seq: int, parts: list) -> None:
    s.tag = tag
    s.seq = seq
    s.data_source = _data_source(s.ds_class, s.ds_index)
    buf = b"".join(parts)
    s.buf, s.rec_off, s.rec_end, s.nrec = buf, 0, len(buf), len(parts)
    s._records = None
