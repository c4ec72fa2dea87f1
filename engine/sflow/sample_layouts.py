"""The fixed part of each sFlow v5 sample type, declared once.

A sample is a tag and a length, then these fixed fields, then its records. The walker
(datagram.py) and the encoder (encode.py) take their structs from here, engine/tenants.py
its forwarding spans, and the C walker (_accel.c) the sizes through the generated header
_layouts.h (engine/sflow/cheaders.py).
"""

from __future__ import annotations

import struct
from typing import NamedTuple


class SampleLayout(NamedTuple):
    tag: str  # "0:1"
    format: int  # enterprise 0, this format
    name: str
    fields: tuple  # the fixed fields in wire order (all 32-bit)
    struct: struct.Struct

    @property
    def size(self) -> int:
        """Bytes between the 8-byte sample header and the first record."""
        return self.struct.size


def _layout(fmt: int, name: str, fields: str) -> SampleLayout:
    names = tuple(fields.split())
    return SampleLayout(f"0:{fmt}", fmt, name, names, struct.Struct(">" + "I" * len(names)))


FLOW_COMPACT = _layout(1, "flow_sample", "seq source_id rate pool drops input output nrec")
COUNTER_COMPACT = _layout(2, "counters_sample", "seq source_id nrec")
FLOW_EXPANDED = _layout(
    3,
    "flow_sample_expanded",
    "seq ds_class ds_index rate pool drops input_format input output_format output nrec",
)
COUNTER_EXPANDED = _layout(4, "counters_sample_expanded", "seq ds_class ds_index nrec")
DISCARD = _layout(5, "discarded_packet", "seq ds_class ds_index drops input output reason nrec")

SAMPLE_LAYOUTS: dict[str, SampleLayout] = {
    x.tag: x for x in (FLOW_COMPACT, COUNTER_COMPACT, FLOW_EXPANDED, COUNTER_EXPANDED, DISCARD)
}
