"""Flow/discard sample -> dict of sFlow-RT flow keys (the hot path; see docs/flow-keys.md).

One pass over the sample's records: the sampled header goes to header.decode_header, the few
other records that carry flow keys go to the key extraction their declaration names
(flow_records.py -> flow_keys.py), everything else is skipped by length. No per-record dicts
are built.
"""

from __future__ import annotations

import struct
from typing import Any

from .errors import DecodeError
from .flow_keys import APP_STATUS, HTTP_METHODS, TCP_DIRECTION, TCP_FLAGS9  # noqa: F401
from .header import decode_header_bytes
from .records import DROP_REASONS
from .registry import FLOW

_REC = struct.Struct(">II").unpack_from
_HDR4 = struct.Struct(">4I").unpack_from
_U32_4 = struct.Struct(">4I").unpack_from

INTERNAL = 0x3FFFFFFF


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
                raise DecodeError(
                    f"flow record {tag >> 12}:{tag & 0xFFF} length {length} past end of sample"
                )
            if tag == 1:
                if length < 16:
                    raise DecodeError("sampled header record too short")
                proto, flen, stripped, hlen = _HDR4(buf, off)
                hs = off + 16
                if hs + hlen > rend:
                    raise DecodeError(f"sampled header length {hlen} past end of record")
                a["bytes"] = flen
                a["stripped"] = stripped
                hb = buf[hs : hs + hlen]
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
    a["inputifindex"] = (
        inp if 0 < inp < INTERNAL and s.input_format == 0 else port_value(s.input_format, inp)
    )
    a["outputifindex"] = (
        out if 0 < out < INTERNAL and s.output_format == 0 else port_value(s.output_format, out)
    )
    if s.ds_class == 0:
        if s.ds_index == inp and s.input_format == 0:
            a["direction"] = "ingress"
        elif s.ds_index == out and s.output_format == 0:
            a["direction"] = "egress"
    a["samplingrate"] = s.sampling_rate
    if s.kind == "discard":
        a["reason"] = DROP_REASONS.get(s.reason) or str(s.reason)
    return a


# tag -> the record's key extraction and the write-only tags (see python_flow_attributes_subset),
# from the record declarations (flow_records.py); the C decoder is handed the same tables
HANDLERS = {tag: rt.attributes for tag, rt in FLOW.items() if rt.attributes is not None}
_HANDLERS = HANDLERS
# Handlers that only store into the dict they are given (never read it, no setdefault): a
# subset (flow_attributes_subset) runs them on an empty dict and keeps the wanted keys. The
# others decide by what the dict already holds ("ipsource" in a, setdefault("bytes")), so a
# sample with one of them takes its subset from the full dict. Unlisted = safe.
WRITE_ONLY_HANDLERS = frozenset(
    tag for tag, rt in FLOW.items() if rt.attributes is not None and rt.write_only
)


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
# engine/sflow/_accel.c produces the same dicts for the common cases and calls
# python_flow_attributes for everything else; engine/sflow/accel.py installs it (or not:
# FLOWRT_NO_ACCEL=1, not built, stale) when engine.sflow is imported and sets these.

accel: Any = None  # the loaded C module, or None
flow_attributes = python_flow_attributes
flow_attributes_subset = python_flow_attributes_subset
track_samples = None


def use_accelerator(enabled: bool = True) -> bool:
    """See engine.sflow.accel.use_accelerator (kept here for callers of the old name)."""
    from .accel import use_accelerator as switch  # accel.py sits above this module

    return switch(enabled)
