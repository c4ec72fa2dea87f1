"""The record-type registry: one declaration per sFlow record type, found by its tag.

Like dnspython's rdtypes, each record type is declared once, in flow_records.py or
counter_records.py, and that declaration holds everything that knows the record's layout:

- ``decode(r, length, d)``: read the record with an xdr.Reader into sflowtool's field names
  (records(), test ground truth: sflowtool);
- ``encode(d) -> bytes``: the body from such a dict (encode.py, the generator, test fixtures);
- ``attributes(buf, off, rend, a)`` (flow records only): the hot path's sFlow-RT flow keys
  (attributes.py builds its dispatch table from these; ``write_only`` says the handler only
  stores into ``a``, so a subset may run it on an empty dict);
- ``fixed``: for a counter record that is a fixed list of numbers, (names, struct codes), the
  layout the C counter path (_counters.c) is given at run time (metrics/store.counter_plans).

Tags are ``enterprise << 12 | format``; enterprise V2V4_ENTERPRISE marks v2/v4 element layouts
that differ from v5 (decoded by the same machinery after v2v4.py re-frames them).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

# never assigned by sFlow.org; the decoders print the v5 tag sflowtool would show
V2V4_ENTERPRISE = 0xFFFFF


class RecordType(NamedTuple):
    kind: str  # "flow" or "counter"
    enterprise: int
    format: int
    name: str
    decode: Callable
    encode: Callable | None = None
    shown: str = ""  # the tag as records() prints it ("0:1" for a v2/v4 header)
    attributes: Callable | None = None
    write_only: bool = False
    fixed: tuple | None = None

    @property
    def tag(self) -> int:
        return (self.enterprise << 12) | self.format


FLOW: dict[int, RecordType] = {}  # tag -> declaration
COUNTER: dict[int, RecordType] = {}


def declare(
    kind: str,
    enterprise: int,
    fmt: int,
    decode: Callable,
    *,
    encode=None,
    shown: str | None = None,
    attributes=None,
    write_only: bool = False,
    fixed: tuple | None = None,
    name: str | None = None,
) -> RecordType:
    """Register one record type (each tag once: a second declaration is a bug)."""
    table = FLOW if kind == "flow" else COUNTER
    rt = RecordType(
        kind,
        enterprise,
        fmt,
        name or decode.__name__,
        decode,
        encode,
        shown or f"{enterprise}:{fmt}",
        attributes,
        write_only,
        fixed,
    )
    if rt.tag in table:
        raise ValueError(f"{kind} record {enterprise}:{fmt} declared twice")
    table[rt.tag] = rt
    return rt


def flow_record(enterprise: int, fmt: int, **kw):
    """Decorator form of declare() for a flow record's decoder."""

    def deco(fn):
        declare("flow", enterprise, fmt, fn, **kw)
        return fn

    return deco


def counter_record(enterprise: int, fmt: int, **kw):
    """Decorator form of declare() for a counter record's decoder."""

    def deco(fn):
        declare("counter", enterprise, fmt, fn, **kw)
        return fn

    return deco
