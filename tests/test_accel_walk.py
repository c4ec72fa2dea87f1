"""The C datagram walker gives exactly what the Python walker gives: the same Datagram and
sample fields for every datagram of the captures, of the generator and of the decoder's fuzz
corpus (mutated captures, hypothesis-built datagrams, raw bytes), or the same DecodeError."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accel_support import require_accel
from engine.sflow import DecodeError
from engine.sflow import datagram as dgm
from engine.sflow.records import UNKNOWN_RECORDS
from engine.sflow.gen import Scenario, TrafficGenerator
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA
from test_decode_fuzz import SEEDS, _v4_datagram, datagrams, mutate

_MISSING = object()


def _slots(obj) -> dict:
    names = [n for k in type(obj).__mro__ for n in getattr(k, "__slots__", ())]
    return {n: getattr(obj, n, _MISSING) for n in names if n not in ("buf", "samples")}


def _view(fn, buf):
    try:
        d = fn(buf)
    except DecodeError as exc:
        return ("error", str(exc))
    samples = [
        (type(s).__name__, s.kind, _slots(s), s.buf is buf or s.buf == buf) for s in d.samples
    ]
    return ("ok", _slots(d), samples)


COUNT = {"ok": 0, "error": 0}


def _counted(fn, buf):
    """The result, and what decoding added to the unknown-sample/record counters."""
    before = dict(UNKNOWN_RECORDS)
    view = _view(fn, buf)
    return view, {
        k: v - before.get(k, 0) for k, v in UNKNOWN_RECORDS.items() if v != before.get(k, 0)
    }


def check(buf) -> None:
    accel = require_accel()
    py = _counted(dgm.python_decode_datagram, buf)
    c = _counted(accel.decode_datagram, buf)
    assert c == py
    py = py[0]
    COUNT[py[0]] += 1


def test_captures_and_generator():
    require_accel()
    n = 0
    for f in sorted(SFLOW_DATA.glob("*/*.pcap")):
        for p in read_pcap(f):
            check(p.payload)
            n += 1
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            flows=100,
            ipv6_fraction=0.3,
            expanded=True,
            discards_per_second=50,
            hosts=True,
            containers=2,
            seed=3,
        )
    )
    for dg in gen.step(2.0):
        check(dg)
        n += 1
    agent6 = TrafficGenerator(Scenario(agent_base="2001:db8::1", seed=4))
    for dg in agent6.step(1.0):
        check(dg)
        n += 1
    assert n > 2000


def test_mutated_datagrams():
    rng = random.Random(11)
    before = dict(COUNT)
    for k in range(4000):
        check(mutate(rng, SEEDS[k % len(SEEDS)]))
    base = _v4_datagram()
    for _ in range(300):
        check(mutate(rng, base))
    assert COUNT["ok"] > before["ok"] and COUNT["error"] > before["error"]


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(datagrams())
def test_hypothesis_datagrams(buf):
    check(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300))
def test_raw_bytes(buf):
    check(b"\0\0\0\x05\0\0\0\x01" + buf)
    check(b"\0\0\0\x05\0\0\0\x02" + buf)
    check(buf)


def test_non_bytes_buffers_use_python_walker():
    accel = require_accel()
    p = SEEDS[0]
    for buf in (bytearray(p), memoryview(p)):
        d = accel.decode_datagram(buf)
        assert d.samples and all(s.buf is buf for s in d.samples)
