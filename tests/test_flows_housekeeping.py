"""Periodic flow work that does not grow with definitions x agents per tick, and definitions
that register in constant time:

- FlowTable.sweep's scan and the thresholds' per-location maxima in C (_fastpath.scan,
  _fastpath.location_max) give what the Python loops give;
- a housekeeping tick sweeps every reporting cache but only a bounded share of the others,
  which all take their turn;
- set_flow only marks the per-sample pipelines stale: 10,000 definitions cost no rebuild until
  a sample (or a query of the pipeline) needs one, and then one."""

from __future__ import annotations

import math
import random

import pytest

from engine.flows import cache, engine as flows_engine, thresholds
from engine.flows.engine import FlowEngine

from accel_support import c_unavailable_reason

_why_no_c = c_unavailable_reason()
needs_c = pytest.mark.skipif(_why_no_c is not None, reason=str(_why_no_c))
T0 = 1_700_000_000.0


def _entries(rng, n, odd=False):
    out = {}
    for i in range(n):
        last = T0 + rng.uniform(-30, 0)
        start = last - rng.uniform(0, 120)
        total = rng.choice((0, 0.0, 5, 1e9, rng.random()))
        e = [rng.random() * 1000, last, total, start]
        if odd and rng.random() < 0.01:
            e[1] = int(last)  # ints are numbers too
        out[(f"10.0.{i % 7}.1", str(i % 5), i)] = e
    return out


@needs_c
def test_c_scan_finds_what_the_python_loop_finds():
    rng = random.Random(1)
    for n in (0, 1, 50, 5000):
        entries = _entries(rng, n, odd=True)
        for at in (None, 0.5, 60):
            for idle in (0.0, 10.0, 25.0):
                assert cache._c_scan(entries, T0, idle, at) == cache._python_scan(
                    entries, T0, idle, at
                )
    # an entry that is not a list of numbers sends the whole scan the Python way
    entries = _entries(rng, 100)
    entries[("x", "1", "odd")] = [1.0, "not a time", 0, T0]
    with pytest.raises(TypeError):
        cache._c_scan(entries, T0, 10.0, None)
    with pytest.raises(TypeError):
        cache._python_scan(entries, T0, 10.0, None)


@needs_c
def test_c_location_maxima_match_python():
    rng = random.Random(2)
    fe = FlowEngine(None)
    fe.set_flow("f", {"keys": "ipsource", "value": "bytes", "t": 3})
    table = fe.tables["f"]
    table.entries.update(_entries(rng, 3000))
    locs = {
        ("10.0.1.1", "2"): [None, None],
        ("10.0.3.1", "4"): [None, None],
        ("10.0.9.9", "1"): [None, None],
    }
    c = thresholds.location_maxima(table, locs, T0 + 1.5)
    fp, cache._fastpath = cache._fastpath, None
    try:
        py = thresholds.location_maxima(table, locs, T0 + 1.5)
    finally:
        cache._fastpath = fp
    assert c.keys() == py.keys() == {("10.0.1.1", "2"), ("10.0.3.1", "4")}
    assert all(c[k].hex() == py[k].hex() for k in c)
    # values decay with the cache's time constant
    e = max(
        (e for k, e in table.entries.items() if k[:2] == ("10.0.1.1", "2")),
        key=lambda e: e[0] * math.exp(-(T0 + 1.5 - e[1]) / 3) if T0 + 1.5 > e[1] else e[0],
    )
    assert c[("10.0.1.1", "2")] == pytest.approx(table.value(e, T0 + 1.5))


def test_a_tick_sweeps_reporting_caches_always_and_the_others_in_turn(monkeypatch):
    monkeypatch.setattr(flows_engine, "SWEEP_BUDGET", 1000)
    fe = FlowEngine(None)
    for i in range(30):
        fe.set_flow(f"q{i}", {"keys": "ipsource", "value": "bytes"})
    fe.set_flow("logged", {"keys": "ipsource", "value": "bytes", "log": True})
    rng = random.Random(3)
    for t in fe.tables.values():
        t.entries.update(_entries(rng, 400))
    swept, when = [], {}
    real = cache.FlowTable.sweep
    monkeypatch.setattr(
        cache.FlowTable,
        "sweep",
        lambda self, now: (
            swept.append(self.name),
            when.__setitem__(self.name, now),
            real(self, now),
        )[2],
    )
    fe.tick(T0)
    # 1000 entries of unreported caches a tick: three caches of 400 (the third passes it)
    assert swept.count("logged") == 1 and len(swept) == 4
    for k in range(1, 10):
        fe.tick(T0 + k)
    assert swept.count("logged") == 10
    quiet = [n for n in swept if n != "logged"]
    assert len(quiet) == 30 and set(quiet) == {f"q{i}" for i in range(30)}  # each in turn
    # a sweep leaves no flow that was idle when it ran
    for t in fe.tables.values():
        assert t.entries and all(when[t.name] - e[1] <= t.idle for e in t.entries.values())


class CountingFlows(FlowEngine):
    rebuilds = 0

    def _rebuild(self):
        self.rebuilds += 1
        super()._rebuild()


def test_ten_thousand_definitions_cost_one_pipeline_rebuild():
    fe = CountingFlows(None)
    base = fe.rebuilds
    for i in range(10_000):
        fe.set_flow(
            f"f{i}",
            {"keys": "ipsource,ipdestination", "value": "bytes", "filter": f"ipprotocol={i % 250}"},
        )
    assert fe.rebuilds == base  # nothing rebuilt while definitions arrive
    fe.process(
        {"ipsource": "10.0.0.1", "ipdestination": "10.0.0.2", "ipprotocol": 17, "bytes": 100},
        "192.0.2.1",
        "1",
        10,
        T0,
    )
    assert fe.rebuilds == base + 1
    assert list(fe.tables["f17"].entries) == [("192.0.2.1", "1", "10.0.0.1", "10.0.0.2")]
    assert not fe.tables["f18"].entries
    fe.process(
        {"ipsource": "10.0.0.1", "ipdestination": "10.0.0.2", "ipprotocol": 18, "bytes": 100},
        "192.0.2.1",
        "1",
        10,
        T0,
    )
    assert fe.rebuilds == base + 1 and fe.tables["f18"].entries
    fe.clear_flow("f18")
    fe.set_flow("f18", {"keys": "ipsource", "value": "frames"})
    assert fe.rebuilds == base + 1
    assert fe._process_flow is not None and fe.rebuilds == base + 2


def test_a_definition_the_pipeline_cannot_build_goes_alone(monkeypatch, caplog):
    """Rebuilt lazily, the pipeline meets a new definition after set_flow returned: should
    one be a definition it cannot build (FlowSpec refuses what it can foresee), that one is
    removed and logged, and every other one keeps counting."""
    real = flows_engine.pipeline.build

    def build(tables, on_error):  # a fault no FlowSpec check would catch
        if any(t.name == "bad" for t in tables):
            raise RuntimeError("cannot compile this one")
        return real(tables, on_error)

    monkeypatch.setattr(flows_engine.pipeline, "build", build)
    fe = FlowEngine(None)
    fe.set_flow("good", {"keys": "ipsource", "value": "bytes"})
    fe.set_flow("bad", {"keys": "ipdestination", "value": "bytes"})
    fe.set_flow("also", {"keys": "ipprotocol", "value": "bytes"})
    fe.process(
        {"ipsource": "10.0.0.1", "ipdestination": "10.0.0.2", "ipprotocol": 6, "bytes": 100},
        "192.0.2.1",
        "1",
        10,
        T0,
    )
    assert sorted(fe.tables) == ["also", "good"]
    assert fe.tables["good"].entries and fe.tables["also"].entries
    assert any("flow bad: removed" in r.getMessage() for r in caplog.records)
