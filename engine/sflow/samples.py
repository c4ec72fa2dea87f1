"""The objects the walker (datagram.py) hands on: a Datagram and its samples.

Records stay undecoded until asked: ``records()`` runs the registry's decoders (records.py),
``attributes()`` the hot path (attributes.py, or the C accelerator once
engine/sflow/accel.py has switched ``flow_attributes`` here).
"""

from __future__ import annotations

from typing import Any

from .attributes import python_flow_attributes
from .records import decode_records

# FlowSample.attributes(): swapped by accel.use_accelerator()
flow_attributes = python_flow_attributes


class Datagram:
    __slots__ = ("version", "agent", "sub_agent", "seq", "uptime", "samples")

    def __init__(self, version, agent, sub_agent, seq, uptime, samples):
        self.version = version
        self.agent = agent
        self.sub_agent = sub_agent
        self.seq = seq
        self.uptime = uptime
        self.samples = samples


def _data_source(ds_class: int, ds_index: int) -> str:
    return str(ds_index) if ds_class == 0 else f"{ds_class}.{ds_index}"


class _Sample:
    __slots__ = (
        "agent",
        "tag",
        "seq",
        "ds_class",
        "ds_index",
        "data_source",
        "buf",
        "rec_off",
        "rec_end",
        "nrec",
        "_records",
    )
    agent: str
    tag: str
    seq: int
    ds_class: int
    ds_index: int
    data_source: str
    buf: Any  # bytes-like: bytes, bytearray or memoryview
    rec_off: int
    rec_end: int
    nrec: int
    _records: list[dict] | None
    kind = "other"

    def records(self) -> list[dict]:
        if self._records is None:
            self._records = decode_records(self)
        return self._records


class FlowSample(_Sample):
    __slots__ = (
        "sampling_rate",
        "sample_pool",
        "drops",
        "input",
        "output",
        "input_format",
        "output_format",
        "_attrs",
    )
    sampling_rate: int
    sample_pool: int
    drops: int
    input: int
    output: int
    input_format: int
    output_format: int
    _attrs: dict | None
    kind = "flow"

    def attributes(self) -> dict:
        attrs = self._attrs
        if attrs is None:
            attrs = self._attrs = flow_attributes(self)
        return attrs


class DiscardSample(FlowSample):
    __slots__ = ("reason",)
    reason: int
    kind = "discard"


class CounterSample(_Sample):
    __slots__ = ()
    kind = "counter"


class OtherSample(_Sample):
    __slots__ = ("kind",)
