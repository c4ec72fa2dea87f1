"""The walker: datagram and sample headers (sFlow v5, and v2/v4 through v2v4.py).

Records are decoded lazily by the sample objects (samples.py). The C walker (_accel.c),
installed by accel.py, hands whatever it does not decode itself to python_decode_datagram.
"""

from __future__ import annotations

import socket
import struct

from . import samples as _samples
from .custom_samples import other_sample
from .errors import MAX_RECORDS, MAX_SAMPLES, DecodeError
from .sample_layouts import COUNTER_COMPACT, COUNTER_EXPANDED, DISCARD, FLOW_COMPACT, FLOW_EXPANDED
from .samples import (  # noqa: F401  (re-exported)
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
    OtherSample,
    _data_source,
)
from .v2v4 import decode_v2v4

_U32 = struct.Struct(">I")
_HDR_V5_V4 = struct.Struct(">4I")  # sub_agent, seq, uptime, nsamples after an IPv4 agent
_SAMPLE_HDR = struct.Struct(">2I")  # tag, length
_FLOW_COMPACT = FLOW_COMPACT.struct
_FLOW_EXPANDED = FLOW_EXPANDED.struct
_DISCARD = DISCARD.struct
_CNT_COMPACT = COUNTER_COMPACT.struct
_CNT_EXPANDED = COUNTER_EXPANDED.struct

_TAG_NAMES = ("0:0", "0:1", "0:2", "0:3", "0:4", "0:5")


def __getattr__(name: str):
    # datagram.flow_attributes: what FlowSample.attributes() calls (it lives in samples.py)
    if name == "flow_attributes":
        return _samples.flow_attributes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_AGENTS: dict = {}  # agent address bytes -> string (few agents, many datagrams)


def _agent(family, raw: bytes) -> str:
    if len(_AGENTS) >= 65536:
        _AGENTS.clear()
    a = _AGENTS[raw] = socket.inet_ntop(family, raw)
    return a


def decode_datagram(buf) -> Datagram:
    return _walk(buf)


def python_decode_datagram(buf) -> Datagram:
    """The pure-Python walker (the C one, when loaded, hands it whatever it does not decode)."""
    try:
        return _decode(buf)
    except struct.error as exc:
        raise DecodeError(f"truncated datagram: {exc}") from None


_walk = python_decode_datagram  # attributes.use_accelerator() swaps in the C walker


def _decode(buf) -> Datagram:
    n = len(buf)
    if n < 28:
        raise DecodeError(f"datagram too short ({n} bytes)")
    version, addr_type = struct.unpack_from(">2I", buf, 0)
    if version != 5:
        if version in (2, 4):
            return decode_v2v4(buf)
        raise DecodeError(f"unexpected datagram version number {version}")
    if addr_type == 1:
        raw = bytes(buf[8:12])
        agent = _AGENTS.get(raw) or _agent(socket.AF_INET, raw)
        off = 12
    elif addr_type == 2:
        raw = bytes(buf[8:24])
        agent = _AGENTS.get(raw) or _agent(socket.AF_INET6, raw)
        off = 24
    else:
        raise DecodeError(f"unknown agent address type {addr_type}")
    sub_agent, seq, uptime, nsamples = _HDR_V5_V4.unpack_from(buf, off)
    off += 16
    if nsamples > MAX_SAMPLES:
        raise DecodeError(f"implausible sample count {nsamples}")
    samples = []
    for _ in range(nsamples):
        if off + 8 > n:
            raise DecodeError("sample header past end of datagram")
        tag, length = _SAMPLE_HDR.unpack_from(buf, off)
        off += 8
        end = off + length
        if end > n or length & 3:
            raise DecodeError(f"sample length {length} invalid")
        if tag == 1 and length >= FLOW_COMPACT.size:
            # compact flow sample, by far the most common: inlined
            seq_, src, rate, pool, drops, inp, out, nrec = _FLOW_COMPACT.unpack_from(buf, off)
            if nrec > MAX_RECORDS:
                raise DecodeError(f"implausible record count {nrec}")
            s = FlowSample()
            s.agent = agent
            s.tag = "0:1"
            s.seq = seq_
            s.ds_class = ds_class = src >> 24
            s.ds_index = ds_index = src & 0xFFFFFF
            s.data_source = str(ds_index) if ds_class == 0 else f"{ds_class}.{ds_index}"
            s.input_format = inp >> 30
            s.input = inp & 0x3FFFFFFF
            s.output_format = out >> 30
            s.output = out & 0x3FFFFFFF
            s.sampling_rate = rate
            s.sample_pool = pool
            s.drops = drops
            s.buf = buf
            s.rec_off = off + FLOW_COMPACT.size
            s.rec_end = end
            s.nrec = nrec
            s._records = None
            s._attrs = None
            samples.append(s)
        else:
            sample = _sample(buf, tag, off, end)
            if sample is not None:
                sample.agent = agent
                samples.append(sample)
        off = end
    return Datagram(5, agent, sub_agent, seq, uptime, samples)


def _sample(buf, tag: int, off: int, end: int):
    fmt = tag & 0xFFF
    enterprise = tag >> 12
    if enterprise == 0 and fmt in (1, 3, 5):
        if fmt == 1:
            if off + FLOW_COMPACT.size > end:
                raise DecodeError("flow sample too short")
            seq, src, rate, pool, drops, inp, out, nrec = _FLOW_COMPACT.unpack_from(buf, off)
            s = FlowSample()
            s.ds_class, s.ds_index = src >> 24, src & 0xFFFFFF
            s.input_format, s.input = inp >> 30, inp & 0x3FFFFFFF
            s.output_format, s.output = out >> 30, out & 0x3FFFFFFF
            rec = off + FLOW_COMPACT.size
        elif fmt == 3:
            if off + FLOW_EXPANDED.size > end:
                raise DecodeError("expanded flow sample too short")
            (seq, s_class, s_index, rate, pool, drops, in_fmt, inp, out_fmt, out, nrec) = (
                _FLOW_EXPANDED.unpack_from(buf, off)
            )
            s = FlowSample()
            s.ds_class, s.ds_index = s_class, s_index
            s.input_format, s.input, s.output_format, s.output = in_fmt, inp, out_fmt, out
            rec = off + FLOW_EXPANDED.size
        else:
            # discard: seq, class, index, drops, input, output, reason, nrec
            if off + DISCARD.size > end:
                raise DecodeError("discard sample too short")
            seq, s_class, s_index, drops, inp, out, reason, nrec = _DISCARD.unpack_from(buf, off)
            s = DiscardSample()
            s.ds_class, s.ds_index = s_class, s_index
            s.input_format, s.input = 0, inp
            s.output_format, s.output = 0, out
            s.reason = reason
            rate, pool = 1, 0
            rec = off + DISCARD.size
        s.sampling_rate, s.sample_pool, s.drops = rate, pool, drops
        s._attrs = None
    elif enterprise == 0 and fmt in (2, 4):
        if fmt == 2:
            if off + COUNTER_COMPACT.size > end:
                raise DecodeError("counter sample too short")
            seq, src, nrec = _CNT_COMPACT.unpack_from(buf, off)
            s = CounterSample()
            s.ds_class, s.ds_index = src >> 24, src & 0xFFFFFF
            rec = off + COUNTER_COMPACT.size
        else:
            if off + COUNTER_EXPANDED.size > end:
                raise DecodeError("expanded counter sample too short")
            seq, s_class, s_index, nrec = _CNT_EXPANDED.unpack_from(buf, off)
            s = CounterSample()
            s.ds_class, s.ds_index = s_class, s_index
            rec = off + COUNTER_EXPANDED.size
    else:
        return other_sample(buf, tag, off, end)
    if nrec > MAX_RECORDS:
        raise DecodeError(f"implausible record count {nrec}")
    s.tag = _TAG_NAMES[fmt]
    s.seq = seq
    s.data_source = str(s.ds_index) if s.ds_class == 0 else f"{s.ds_class}.{s.ds_index}"
    s.buf, s.rec_off, s.rec_end, s.nrec = buf, rec, end, nrec
    s._records = None
    return s
