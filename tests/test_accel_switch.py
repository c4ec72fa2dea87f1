"""Choosing between the C accelerator and the pure-Python attributes() path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from accel_support import require_accel
from engine.sflow import DecodeError, FlowSample, decode_datagram
from engine.sflow import attributes as at
from engine.sflow import datagram as dg
from engine.sflow.pcap import read_pcap
from paths import SFLOW_DATA

REPO = Path(__file__).resolve().parent.parent
CAPTURE = SFLOW_DATA / "akvorado/data-1140.pcap"

PROBE = """
import engine.sflow.attributes as a, engine.sflow.datagram as d
from engine.sflow import decode_datagram
from engine.sflow.pcap import read_pcap
s = [s for p in read_pcap({capture!r}) for s in decode_datagram(p.payload).samples][0]
print(a.accel is not None, d.flow_attributes is a.python_flow_attributes, s.attributes()["stack"])
"""


def _probe(**env) -> list[str]:
    e = dict(os.environ)
    e.pop("FLOWRT_NO_ACCEL", None)
    e.update(env)
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(capture=str(CAPTURE))],
        cwd=REPO,
        env=e,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return out.split()


def test_env_var_forces_pure_python():
    require_accel()
    assert _probe() == ["True", "False", "eth.ip6.tcp"]
    assert _probe(FLOWRT_NO_ACCEL="1") == ["False", "True", "eth.ip6.tcp"]
    assert _probe(FLOWRT_NO_ACCEL="0") == ["True", "False", "eth.ip6.tcp"]


def test_use_accelerator_switches_sample_attributes():
    require_accel()
    payloads = [p.payload for p in read_pcap(CAPTURE)]
    try:
        assert at.use_accelerator(False) is False
        assert dg.flow_attributes is at.python_flow_attributes
        py = [
            s.attributes() for p in payloads for s in decode_datagram(p).samples if s.kind == "flow"
        ]
        assert at.use_accelerator(True) is True
        assert dg.flow_attributes is at.accel.flow_attributes
        c = [
            s.attributes() for p in payloads for s in decode_datagram(p).samples if s.kind == "flow"
        ]
    finally:
        at.use_accelerator(True)
    assert len(c) == len(py) > 0
    assert [list(x.items()) for x in c] == [list(x.items()) for x in py]
    # a fresh dict per sample: flow enrichers add keys to it
    assert len({id(x) for x in c}) == len(c)


def test_bytearray_and_memoryview_datagrams():
    accel = require_accel()
    for p in read_pcap(CAPTURE):
        for buf in (bytearray(p.payload), memoryview(p.payload)):
            for s in decode_datagram(buf).samples:
                if s.kind == "flow":
                    fast = accel.fast_attributes(s)
                    assert fast is not None
                    assert list(fast.items()) == list(at.python_flow_attributes(s).items())


def test_subclass_and_incomplete_samples_use_python():
    accel = require_accel()

    class Custom(FlowSample):
        __slots__ = ()

    s = Custom()
    assert accel.fast_attributes(s) is None  # not the exact FlowSample type
    empty = FlowSample()  # slots never set
    assert accel.fast_attributes(empty) is None
    assert accel.fast_attributes(object()) is None


def test_no_reference_leaks():
    """Fallbacks, errors and normal decodes leave the buffer's and the agent string's
    reference counts where they were (a leaked reference per datagram would show here)."""
    accel = require_accel()
    good = next(p.payload for p in read_pcap(SFLOW_DATA / "overflowd/sflow.pcap"))
    bad = good[:-4]  # the last sample's length now passes the end
    odd = bytearray(good)  # not bytes: the Python walker's case
    agent = accel.decode_datagram(good).agent
    refs = sys.getrefcount(agent), sys.getrefcount(good), sys.getrefcount(odd)
    for _ in range(500):
        for buf in (good, bad, odd):
            try:
                samples = accel.decode_datagram(buf).samples
            except DecodeError:
                continue
            for s in samples:
                if s.kind == "flow":
                    accel.fast_attributes(s)
                    accel.flow_attributes(s)
            del samples, s
    del buf
    assert (sys.getrefcount(agent), sys.getrefcount(good), sys.getrefcount(odd)) == refs
