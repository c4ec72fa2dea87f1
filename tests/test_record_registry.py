"""The record-type registry (engine/sflow/registry.py): each record type declared once, and
the decoder's, encoder's, hot path's and forwarding's tables all derived from it."""

from __future__ import annotations

import struct

import pytest

from engine import tenants
from engine.sflow import attributes, encode, records, registry
from engine.sflow.counter_records import FIXED_LAYOUTS
from engine.sflow.sample_layouts import SAMPLE_LAYOUTS
from engine.sflow.xdr import Reader


def test_every_v5_record_type_reads_and_writes_in_one_declaration():
    for table in (registry.FLOW, registry.COUNTER):
        for tag, rt in table.items():
            assert rt.tag == tag and callable(rt.decode)
            if rt.enterprise != registry.V2V4_ENTERPRISE:  # v2/v4: encode.py's own framing
                assert callable(rt.encode), f"{rt.kind} {rt.shown} has no encoder"
    assert set(encode.FLOW_RECORDS) == {
        rt.shown for rt in registry.FLOW.values() if rt.enterprise != registry.V2V4_ENTERPRISE
    }
    assert set(records.FLOW_RECORDS) == {
        (rt.enterprise, rt.format) for rt in registry.FLOW.values()
    }


def test_hot_path_tables_come_from_the_declarations():
    declared = {tag: rt.attributes for tag, rt in registry.FLOW.items() if rt.attributes}
    assert attributes.HANDLERS == declared
    assert attributes.WRITE_ONLY_HANDLERS == {
        t for t, rt in registry.FLOW.items() if rt.attributes and rt.write_only
    }
    # records that carry flow keys but are read inline (sampled header, extended_switch)
    assert 1 not in declared and 1001 not in declared and 3 in declared


def test_fixed_counter_layouts_decode_and_encode_the_same_bytes():
    assert FIXED_LAYOUTS and set(FIXED_LAYOUTS) <= set(registry.COUNTER)
    for tag, (names, codes) in FIXED_LAYOUTS.items():
        rt = registry.COUNTER[tag]
        values = {n: (i + 1) * 3 for i, n in enumerate(names)}
        body = rt.encode(values)
        assert len(body) == struct.calcsize(">" + codes), rt.shown
        d: dict = {}
        rt.decode(Reader(body, 0, len(body)), len(body), d)
        assert d == {n: (float(v) if c == "f" else v) for (n, v), c in zip(values.items(), codes)}


def test_a_record_type_cannot_be_declared_twice():
    with pytest.raises(ValueError, match="declared twice"):
        registry.declare("flow", 0, 1001, lambda r, length, d: None)
    assert registry.FLOW[1001].name == "extended_switch"


def test_tenants_take_sample_spans_from_the_walker_declarations():
    assert tenants._SPANS == {
        "0:1": (1, 32),
        "0:2": (2, 12),
        "0:3": (3, 44),
        "0:4": (4, 16),
        "0:5": (5, 32),
    }
    assert tenants._SPANS == {t: (x.format, x.struct.size) for t, x in SAMPLE_LAYOUTS.items()}
