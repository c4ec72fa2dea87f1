"""sFlow encoder: the inverse of the decoder, for the generator, tests and benchmarks.

Two levels:

- bytes level (fast, used by the generator's hot loop): ``record(tag, body)``,
  ``flow_sample(...)``, ``counter_sample(...)``, ``discard_sample(...)``, ``datagram(...)``.
- dict level: ``encode_flow_record(d)`` / ``encode_counter_record(d)`` take the record dicts the
  decoder's ``records()`` returns (sflowtool field names, Python values) and
  ``encode_datagram(d)`` takes a whole datagram as a dict (see ``datagram_to_dict``, which
  turns a decoded Datagram into that form, so decode -> encode -> decode round-trips).

Missing numeric fields encode as 0 and missing strings as "" (sflowtool omits empty strings,
so that is the value they had). Values may be given the way sflowtool prints them (numbers as
decimal strings, MACs as hex, headerBytes as "0A-1B-..") or as Python values.
"""

from __future__ import annotations

import ipaddress
import struct

from . import counter_records, flow_records  # noqa: F401  (declare the record types)
from .flow_records import _as_path_segments, _enc_gateway
from .registry import COUNTER, FLOW
from .sample_layouts import COUNTER_COMPACT, COUNTER_EXPANDED, DISCARD, FLOW_COMPACT, FLOW_EXPANDED
from .wire import (  # noqa: F401  (re-exported)
    _F32,
    _F64,
    _TL,
    EncodeError,
    address,
    f32,
    f64,
    hexbytes,
    ip4,
    ip6,
    mac,
    mac6,
    opaque,
    pad,
    percentage,
    record,
    string,
    tag_number,
    u32,
    u64,
)
from .wire import as_float as _float
from .wire import as_int as _int

_FLOW_COMPACT = FLOW_COMPACT.struct
_FLOW_EXPANDED = FLOW_EXPANDED.struct
_DISCARD = DISCARD.struct
_CNT_COMPACT = COUNTER_COMPACT.struct
_CNT_EXPANDED = COUNTER_EXPANDED.struct
_DG_V4 = struct.Struct(">II4sIIII")
_DG_V6 = struct.Struct(">II16sIIII")


# -- samples and datagrams (bytes level) ------------------------------------------------------
def flow_sample(
    seq: int,
    ds_class: int,
    ds_index: int,
    sampling_rate: int,
    sample_pool: int,
    drops: int,
    input: int,
    output: int,
    records: list[bytes],
    input_format: int = 0,
    output_format: int = 0,
    expanded: bool = False,
) -> bytes:
    """Flow sample 0:1 (compact) or 0:3 (expanded) holding already-encoded records."""
    body = b"".join(records)
    if expanded:
        head = _FLOW_EXPANDED.pack(
            seq & 0xFFFFFFFF,
            ds_class,
            ds_index,
            sampling_rate,
            sample_pool & 0xFFFFFFFF,
            drops & 0xFFFFFFFF,
            input_format,
            input,
            output_format,
            output,
            len(records),
        )
        tag = 3
    else:
        if ds_class > 0xFF or ds_index > 0xFFFFFF or input > 0x3FFFFFFF or output > 0x3FFFFFFF:
            raise EncodeError("value too large for a compact flow sample; use expanded")
        head = _FLOW_COMPACT.pack(
            seq & 0xFFFFFFFF,
            ds_class << 24 | ds_index,
            sampling_rate,
            sample_pool & 0xFFFFFFFF,
            drops & 0xFFFFFFFF,
            input_format << 30 | input,
            output_format << 30 | output,
            len(records),
        )
        tag = 1
    return _TL.pack(tag, len(head) + len(body)) + head + body


def counter_sample(
    seq: int, ds_class: int, ds_index: int, records: list[bytes], expanded: bool = False
) -> bytes:
    body = b"".join(records)
    if expanded:
        head = _CNT_EXPANDED.pack(seq & 0xFFFFFFFF, ds_class, ds_index, len(records))
        tag = 4
    else:
        if ds_class > 0xFF or ds_index > 0xFFFFFF:
            raise EncodeError("data source too large for a compact counter sample")
        head = _CNT_COMPACT.pack(seq & 0xFFFFFFFF, ds_class << 24 | ds_index, len(records))
        tag = 2
    return _TL.pack(tag, len(head) + len(body)) + head + body


def discard_sample(
    seq: int,
    ds_class: int,
    ds_index: int,
    drops: int,
    input: int,
    output: int,
    reason: int,
    records: list[bytes],
) -> bytes:
    body = b"".join(records)
    head = _DISCARD.pack(
        seq & 0xFFFFFFFF,
        ds_class,
        ds_index,
        drops & 0xFFFFFFFF,
        input,
        output,
        reason,
        len(records),
    )
    return _TL.pack(5, len(head) + len(body)) + head + body


def datagram(agent: str, seq: int, uptime: int, samples: list[bytes], sub_agent: int = 0) -> bytes:
    """sFlow v5 datagram from already-encoded samples."""
    ip = ipaddress.ip_address(agent)
    if ip.version == 4:
        head = _DG_V4.pack(
            5, 1, ip.packed, sub_agent, seq & 0xFFFFFFFF, uptime & 0xFFFFFFFF, len(samples)
        )
    else:
        head = _DG_V6.pack(
            5, 2, ip.packed, sub_agent, seq & 0xFFFFFFFF, uptime & 0xFFFFFFFF, len(samples)
        )
    return head + b"".join(samples)


# -- record bodies: each record type's encoder is declared with its decoder (registry.py) --
# "e:f" -> body encoder, for v5 record types
FLOW_RECORDS = {rt.shown: rt.encode for rt in FLOW.values() if rt.encode is not None}
COUNTER_RECORDS = {rt.shown: rt.encode for rt in COUNTER.values() if rt.encode is not None}


def _strip_discard_prefix(d: dict) -> dict:
    """Records inside discard samples carry sflowtool's 'discarded_' prefix on every field."""
    if not any(k.startswith("discarded_") for k in d):
        return d
    return {(k[10:] if k.startswith("discarded_") else k): v for k, v in d.items()}


def _record_tag(d: dict, key: str) -> str:
    tag = d.get(key)
    if tag is None:
        tag = d.get("discarded_" + key)
    if tag is None:
        raise EncodeError(f"record has no {key}")
    return tag if isinstance(tag, str) else f"{tag_number(tag) >> 12}:{tag_number(tag) & 0xFFF}"


def encode_flow_record(d: dict) -> bytes:
    """One flow record (tag + length + body) from a decoded record dict. A dict holding
    "raw" bytes (an undecoded record) is re-emitted as is."""
    tag = _record_tag(d, "flowBlock_tag")
    if "raw" in d and isinstance(d["raw"], (bytes, bytearray)):
        return record(tag, bytes(d["raw"]))
    enc = FLOW_RECORDS.get(tag)
    if enc is None:
        raise EncodeError(f"no encoder for flow record {tag}")
    return record(tag, enc(_strip_discard_prefix(d)))


def encode_counter_record(d: dict) -> bytes:
    tag = _record_tag(d, "counterBlock_tag")
    if "raw" in d and isinstance(d["raw"], (bytes, bytearray)):
        return record(tag, bytes(d["raw"]))
    enc = COUNTER_RECORDS.get(tag)
    if enc is None:
        raise EncodeError(f"no encoder for counter record {tag}")
    return record(tag, enc(d))


# -- sFlow-RT custom samples (4300:1002 RTMETRIC, 4300:1003 RTFLOW) ---------------------------
RTMETRIC_TYPES = {
    "string": 0,
    "counter32": 1,
    "counter64": 2,
    "gauge32": 3,
    "gauge64": 4,
    "gaugeFloat": 5,
    "float": 5,
    "gaugeDouble": 6,
    "double": 6,
}
RTFLOW_TYPES = {
    "string": 0,
    "mac": 1,
    "ip": 2,
    "ip6": 3,
    "int32": 4,
    "int64": 5,
    "float": 6,
    "double": 7,
}
_RTMETRIC_VALUE = {
    0: string,
    1: u32,
    2: u64,
    3: u32,
    4: u64,
    5: lambda v: _F32.pack(_float(v)),
    6: lambda v: _F64.pack(_float(v)),
}
_RTFLOW_VALUE = {
    0: string,
    1: mac,
    2: ip4,
    3: ip6,
    4: u32,
    5: u64,
    6: lambda v: _F32.pack(_float(v)),
    7: lambda v: _F64.pack(_float(v)),
}


def _typed_items(items, types: dict) -> list[tuple[str, int, object]]:
    out = []
    for name, kind, value in items:
        out.append((name, types[kind] if isinstance(kind, str) else int(kind), value))
    return out


def rtmetric_sample(datasource: str, metrics) -> bytes:
    """4300:1002: metrics is a list of (name, type, value); type is a name from
    RTMETRIC_TYPES or its number."""
    items = _typed_items(metrics, RTMETRIC_TYPES)
    body = (
        string(datasource)
        + u32(len(items))
        + b"".join(string(n) + u32(t) + _RTMETRIC_VALUE[t](v) for n, t, v in items)
    )
    return _TL.pack(tag_number("4300:1002"), len(body)) + body


def rtflow_sample(datasource: str, sampling_rate: int, sample_pool: int, fields) -> bytes:
    """4300:1003: fields is a list of (name, type, value); see RTFLOW_TYPES."""
    items = _typed_items(fields, RTFLOW_TYPES)
    body = (
        string(datasource)
        + u32(sampling_rate)
        + u32(sample_pool)
        + u32(len(items))
        + b"".join(string(n) + u32(t) + _RTFLOW_VALUE[t](v) for n, t, v in items)
    )
    return _TL.pack(tag_number("4300:1003"), len(body)) + body


def _prefixed_items(d: dict, prefix: str, types: dict) -> list:
    """sflowtool's flat form {'rtmetric_gauge32_x': 5} -> [('x', 'gauge32', 5)]."""
    out = []
    for key, value in d.items():
        if not key.startswith(prefix) or key in (
            prefix + "datasource_name",
            prefix + "sampling_rate",
            prefix + "sample_pool",
        ):
            continue
        rest = key[len(prefix) :]
        for tname in sorted(types, key=len, reverse=True):
            if rest.startswith(tname + "_"):
                out.append((rest[len(tname) + 1 :], tname, value))
                break
    return out


# -- whole datagrams from dicts ---------------------------------------------------------------
def encode_sample(s: dict) -> bytes:
    """One sample from a dict with kind ("flow", "counter", "discard", "rtmetric", "rtflow"),
    tag ("0:1".."0:5", decides compact vs expanded) and the fields of the decoder's sample
    objects, plus "records": a list of record dicts (or already-encoded bytes)."""
    kind = s.get("kind")
    tag = s.get("tag")
    if kind == "rtmetric" or tag == "4300:1002":
        metrics = s.get("metrics")
        if metrics is None:
            rec = (s.get("records") or [{}])[0]
            metrics = _prefixed_items(rec, "rtmetric_", RTMETRIC_TYPES)
            ds = rec.get("rtmetric_datasource_name", s.get("datasource", ""))
        else:
            ds = s.get("datasource", "")
        return rtmetric_sample(ds, metrics)
    if kind == "rtflow" or tag == "4300:1003":
        fields = s.get("fields")
        rec = (s.get("records") or [{}])[0]
        if fields is None:
            fields = _prefixed_items(rec, "rtflow_", RTFLOW_TYPES)
        return rtflow_sample(
            s.get("datasource", rec.get("rtflow_datasource_name", "")),
            _int(s.get("sampling_rate", rec.get("rtflow_sampling_rate"))),
            _int(s.get("sample_pool", rec.get("rtflow_sample_pool"))),
            fields,
        )
    if kind == "other" and isinstance(s.get("raw"), (bytes, bytearray)):
        return _TL.pack(tag_number(tag), len(pad(s["raw"]))) + pad(s["raw"])
    records = s.get("records") or []
    ds_class, ds_index = _int(s.get("ds_class")), _int(s.get("ds_index"))
    if kind == "counter":
        encoded = [r if isinstance(r, bytes) else encode_counter_record(r) for r in records]
        expanded = tag == "0:4" if tag else (ds_class > 0xFF or ds_index > 0xFFFFFF)
        return counter_sample(_int(s.get("seq")), ds_class, ds_index, encoded, expanded)
    encoded = [r if isinstance(r, bytes) else encode_flow_record(r) for r in records]
    if kind == "discard":
        return discard_sample(
            _int(s.get("seq")),
            ds_class,
            ds_index,
            _int(s.get("drops")),
            _int(s.get("input")),
            _int(s.get("output")),
            _int(s.get("reason")),
            encoded,
        )
    inp, out = _int(s.get("input")), _int(s.get("output"))
    expanded = (
        tag == "0:3"
        if tag
        else (ds_class > 0xFF or ds_index > 0xFFFFFF or inp > 0x3FFFFFFF or out > 0x3FFFFFFF)
    )
    return flow_sample(
        _int(s.get("seq")),
        ds_class,
        ds_index,
        _int(s.get("sampling_rate")),
        _int(s.get("sample_pool")),
        _int(s.get("drops")),
        inp,
        out,
        encoded,
        _int(s.get("input_format")),
        _int(s.get("output_format")),
        expanded,
    )


def encode_datagram(d: dict) -> bytes:
    """A whole datagram from a dict: version (5, or 2/4), agent, sub_agent, seq, uptime,
    samples (dicts for encode_sample, or bytes)."""
    version = _int(d.get("version", 5))
    if version in (2, 4):
        return encode_datagram_v2v4(d)
    samples = [s if isinstance(s, bytes) else encode_sample(s) for s in d.get("samples", [])]
    return datagram(
        d["agent"], _int(d.get("seq")), _int(d.get("uptime")), samples, _int(d.get("sub_agent"))
    )


_SAMPLE_ATTRS = (
    "kind",
    "tag",
    "seq",
    "ds_class",
    "ds_index",
    "sampling_rate",
    "sample_pool",
    "drops",
    "input",
    "output",
    "input_format",
    "output_format",
    "reason",
)


def sample_to_dict(sample) -> dict:
    out = {a: getattr(sample, a) for a in _SAMPLE_ATTRS if hasattr(sample, a)}
    out["records"] = sample.records()
    return out


def datagram_to_dict(dg) -> dict:
    """A decoded Datagram as the dict encode_datagram takes."""
    return {
        "version": dg.version,
        "agent": dg.agent,
        "sub_agent": dg.sub_agent,
        "seq": dg.seq,
        "uptime": dg.uptime,
        "samples": [sample_to_dict(s) for s in dg.samples],
    }


# -- sFlow v2/v4 (no lengths on samples or records; fixed tag sets) ---------------------------
_V2V4_PACKET = {"0:1": 1, "0:3": 2, "0:4": 3}  # packet_data_tag
_V2V4_EXTENDED = {"0:1001": 1, "0:1002": 2, "0:1003": 3, "0:1004": 4, "0:1005": 5}
# counterBlockVersion from the specific block that follows the generic one
_V2V4_COUNTERS = {None: 1, "0:2": 2, "0:3": 3, "fddi": 4, "0:4": 5, "wan": 6, "0:5": 7}


def _v2v4_flow(s: dict, version: int) -> bytes:
    out = [
        u32(1),
        u32(s.get("seq")),
        u32(_int(s.get("ds_class")) << 24 | _int(s.get("ds_index"))),
        u32(s.get("sampling_rate")),
        u32(s.get("sample_pool")),
        u32(s.get("drops")),
        u32(s.get("input")),
        # v2/v4 flag "multiple outputs" (format 2) in the top bit
        u32(_int(s.get("output")) | (0x80000000 if _int(s.get("output_format")) == 2 else 0)),
    ]
    records = s.get("records") or []
    packet = [r for r in records if _record_tag(r, "flowBlock_tag") in _V2V4_PACKET]
    extended = [r for r in records if _record_tag(r, "flowBlock_tag") in _V2V4_EXTENDED]
    if len(packet) != 1 or len(packet) + len(extended) != len(records):
        raise EncodeError("a v2/v4 flow sample holds one packet record and extended 1001-1005")
    p = packet[0]
    ptag = _record_tag(p, "flowBlock_tag")
    out.append(u32(_V2V4_PACKET[ptag]))
    if ptag == "0:1":
        data = hexbytes(p.get("headerBytes"))
        hlen = p.get("headerLen")
        out.append(
            u32(p.get("headerProtocol"))
            + u32(p.get("sampledPacketSize"))
            + u32(len(data) if hlen in (None, "") else hlen)
            + pad(data)
        )
    else:
        out.append(FLOW_RECORDS[ptag](p))
    out.append(u32(len(extended)))
    for r in extended:
        etag = _record_tag(r, "flowBlock_tag")
        out.append(u32(_V2V4_EXTENDED[etag]))
        if etag == "0:1003":
            if version == 2:
                path = [a for _, seg in _as_path_segments(r) for a in seg]
                out.append(
                    u32(r.get("my_as"))
                    + u32(r.get("src_as"))
                    + u32(r.get("src_peer_as"))
                    + u32(len(path))
                    + b"".join(u32(a) for a in path)
                )
            else:
                out.append(_enc_gateway(r, version))
        elif etag == "0:1004":
            out.append(string(r.get("src_user")) + string(r.get("dst_user")))
        elif etag == "0:1005":
            out.append(u32(r.get("url_direction")) + string(r.get("url")))
        else:
            out.append(FLOW_RECORDS[etag](r))
    return b"".join(out)


def _v2v4_counters(s: dict) -> bytes:
    records = s.get("records") or []
    generic = next((r for r in records if _record_tag(r, "counterBlock_tag") == "0:1"), None)
    specific = [r for r in records if _record_tag(r, "counterBlock_tag") != "0:1"]
    if len(specific) > 1:
        raise EncodeError("a v2/v4 counter sample holds at most one specific block")
    spec_tag = _record_tag(specific[0], "counterBlock_tag") if specific else None
    if spec_tag not in _V2V4_COUNTERS:
        raise EncodeError(f"counter block {spec_tag} has no v2/v4 form")
    block = s.get("counterBlockVersion") or _V2V4_COUNTERS[spec_tag]
    out = [
        u32(2),
        u32(s.get("seq")),
        u32(_int(s.get("ds_class")) << 24 | _int(s.get("ds_index"))),
        u32(s.get("statsSamplingInterval", s.get("interval", 0))),
        u32(block),
    ]
    if block != 7:
        out.append(COUNTER_RECORDS["0:1"](generic or {}))
    if specific:
        assert spec_tag is not None  # _record_tag() returns a tag or raises
        out.append(COUNTER_RECORDS[spec_tag](specific[0]))
    return b"".join(out)


def encode_datagram_v2v4(d: dict) -> bytes:
    version = _int(d.get("version"))
    samples = []
    for s in d.get("samples", []):
        if isinstance(s, bytes):
            samples.append(s)
        elif s.get("kind") == "counter":
            samples.append(_v2v4_counters(s))
        else:
            samples.append(_v2v4_flow(s, version))
    return (
        u32(version)
        + address(d["agent"])
        + u32(d.get("seq"))
        + u32(d.get("uptime"))
        + u32(len(samples))
        + b"".join(samples)
    )
