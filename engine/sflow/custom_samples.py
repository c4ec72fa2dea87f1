"""sFlow-RT's custom sample types: 4300:1002 RTMETRIC and 4300:1003 RTFLOW.

Decoded eagerly by the walker (datagram.py) into their own sample objects; any other
non-standard sample type is skipped and counted in records.UNKNOWN_RECORDS.
"""

from __future__ import annotations

import struct

from .errors import DecodeError
from .records import UNKNOWN_RECORDS
from .samples import OtherSample
from .xdr import Reader


class RTMetricSample(OtherSample):
    """4300:1002: named metrics pushed by an agent (sFlow-RT custom metrics)."""

    __slots__ = ("datasource", "metrics", "metrics_typed")
    datasource: str
    metrics: dict
    metrics_typed: dict

    def values(self) -> dict:
        return self.metrics

    def records(self) -> list[dict]:
        if self._records is None:
            d = {"rtmetric_datasource_name": self.datasource}
            for name, (mtype, value) in self.metrics_typed.items():
                d[_RTMETRIC_PREFIX[mtype] + name] = value
            self._records = [d]
        return self._records


class RTFlowSample(OtherSample):
    """4300:1003: a flow described by named attributes (sFlow-RT custom flows)."""

    __slots__ = ("datasource", "sampling_rate", "sample_pool", "_attrs", "typed")
    datasource: str
    sampling_rate: int
    sample_pool: int
    _attrs: dict
    typed: dict

    def attributes(self) -> dict:
        return self._attrs

    def records(self) -> list[dict]:
        if self._records is None:
            d = {
                "rtflow_datasource_name": self.datasource,
                "rtflow_sampling_rate": self.sampling_rate,
                "rtflow_sample_pool": self.sample_pool,
            }
            for name, ftype in self.typed.items():
                d[_RTFLOW_PREFIX[ftype] + name] = self._attrs[name]
            self._records = [d]
        return self._records


_RTMETRIC_PREFIX = (
    "rtmetric_string_",
    "rtmetric_counter32_",
    "rtmetric_counter64_",
    "rtmetric_gauge32_",
    "rtmetric_gauge64_",
    "rtmetric_gaugeFloat_",
    "rtmetric_gaugeDouble_",
)
_RTFLOW_PREFIX = (
    "rtflow_string_",
    "rtflow_mac_",
    "rtflow_ip_",
    "rtflow_ip6_",
    "rtflow_int32_",
    "rtflow_int64_",
    "rtflow_float_",
    "rtflow_double_",
)
MAX_RT_FIELDS = 1024


def _base(s, tag: str, name: str):
    s.tag = tag
    s.seq = 0
    s.ds_class = 0
    s.ds_index = 0
    s.data_source = name
    s.buf = None
    s.rec_off = s.rec_end = s.nrec = 0
    s._records = None


def _rtmetric(r: Reader):
    s = RTMetricSample()
    s.kind = "rtmetric"
    s.datasource = r.string()
    n = r.count("rtmetric field", MAX_RT_FIELDS)
    metrics, typed = {}, {}
    for _ in range(n):
        name = r.string()
        t = r.u32()
        if t == 0:
            v = r.string()
        elif t in (1, 3):
            v = r.u32()
        elif t in (2, 4):
            v = r.u64()
        elif t == 5:
            v = r.f32()
        elif t == 6:
            v = r.f64()
        else:
            raise DecodeError(f"rtmetric unknown type {t}")
        metrics[name] = v
        typed[name] = (t, v)
    s.metrics = metrics
    s.metrics_typed = typed
    _base(s, "4300:1002", s.datasource)
    return s


def _rtflow(r: Reader):
    s = RTFlowSample()
    s.kind = "rtflow"
    s.datasource = r.string()
    s.sampling_rate = r.u32()
    s.sample_pool = r.u32()
    n = r.count("rtflow field", MAX_RT_FIELDS)
    attrs, typed = {}, {}
    for _ in range(n):
        name = r.string()
        t = r.u32()
        if t == 0:
            v = r.string()
        elif t == 1:
            v = r.opaque(6).hex().upper()
        elif t == 2:
            v = r.ip4()
        elif t == 3:
            v = r.ip6()
        elif t == 4:
            v = r.u32()
        elif t == 5:
            v = r.u64()
        elif t == 6:
            v = r.f32()
        elif t == 7:
            v = r.f64()
        else:
            raise DecodeError(f"rtflow unknown type {t}")
        attrs[name] = v
        typed[name] = t
    s._attrs = attrs
    s.typed = typed
    _base(s, "4300:1003", s.datasource)
    return s


def other_sample(buf, tag: int, off: int, end: int):
    """Non-standard sample types: RTMETRIC/RTFLOW objects, or None to skip (counted)."""
    try:
        if tag == (4300 << 12) | 1002:
            return _rtmetric(Reader(buf, off, end))
        if tag == (4300 << 12) | 1003:
            return _rtflow(Reader(buf, off, end))
    except DecodeError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError) as exc:
        raise DecodeError(f"malformed sFlow-RT sample: {exc}") from None
    UNKNOWN_RECORDS[("sample", f"{tag >> 12}:{tag & 0xFFF}")] += 1
    return None
