"""Per-interval flow totals (engine/flows/intervals.py) through FlowEngine's sample entry point
and its 1 s tick, with explicit times: each key's value over an interval must be exactly the
sum of its samples' scaled values, whatever the cache does in between (activeTimeout records,
flows ending and starting again, eviction from a full cache, a definition replaced or
deleted), on the C pipeline and on the Python one."""

import random

import pytest

from engine.flows import pipeline
from engine.flows.engine import FlowEngine

T0 = 1_700_000_040.0  # a multiple of 10 and 60: intervals start here


@pytest.fixture(params=["c", "python"])
def fe(request):
    if request.param == "c" and not pipeline.use_accelerator(True):
        pytest.skip("C pipeline not built (FLOWRT_NO_ACCEL or no compiler)")
    if request.param == "python":
        pipeline.use_accelerator(False)
    try:
        yield FlowEngine(None)
    finally:
        pipeline.use_accelerator(True)


class Recorder:
    def __init__(self):
        self.calls = []

    def __call__(self, name, start, end, rows):
        self.calls.append((name, start, end, sorted(rows)))

    def totals(self, name=None, start=None):
        out = {}
        for n, s, _, rows in self.calls:
            if (name is None or n == name) and (start is None or s == start):
                for a, ds, k, v in rows:
                    out[(n, a, ds, k)] = out.get((n, a, ds, k), 0.0) + v
        return out


def pkt(src, size=100):
    return {"ipsource": src, "ipdestination": "10.9.9.9", "bytes": size, "frames": 1}


def subscribe(fe, interval=10, select=lambda spec: True, now=T0):
    rec = Recorder()
    fe.intervals.subscribe(rec, interval, select, now)
    fe._follow_intervals()
    return rec


def run(fe, samples, until):
    """samples: [(t, attrs, agent, ds, rate)] in time order; tick every second up to until."""
    tick = T0 + 1
    for t, attrs, agent, ds, rate in samples:
        while tick <= t:
            fe.tick(tick)
            tick += 1
        fe.process(attrs, agent, ds, rate, t)
        yield t, attrs, agent, ds, rate
    while tick <= until:
        fe.tick(tick)
        tick += 1


def test_totals_per_interval_are_the_sums_of_the_samples(fe):
    fe.set_flow("src", {"keys": "ipsource", "value": "bytes", "history": True})
    fe.set_flow("other", {"keys": "ipsource", "value": "frames"})
    rec = subscribe(fe, select=lambda spec: bool(spec.history))
    rng = random.Random(5)
    samples = [
        (
            T0 + i * 0.05,
            pkt(f"10.0.0.{rng.randint(1, 5)}", rng.choice((64, 1500))),
            rng.choice(("192.0.2.1", "192.0.2.2")),
            "3",
            rng.choice((1, 10, 100)),
        )
        for i in range(1, 600)
    ]  # 30 s of samples
    want = {}
    for t, attrs, agent, ds, rate in run(fe, samples, T0 + 31):
        start = T0 + (t - T0) // 10 * 10
        key = (start, agent, ds, attrs["ipsource"])
        want[key] = want.get(key, 0) + attrs["bytes"] * rate
    assert {c[0] for c in rec.calls} == {"src"}  # "other" did not ask
    assert [(c[1], c[2]) for c in rec.calls] == [
        (T0, T0 + 10),
        (T0 + 10, T0 + 20),
        (T0 + 20, T0 + 30),
    ]
    got = {(s, a, ds, k): v for _, s, _, rows in rec.calls for a, ds, k, v in rows}
    assert got == pytest.approx(want)
    # the cache itself is unchanged: the live rates still read as before
    assert fe.active_flows("ALL", "src", now=T0 + 31)


def test_active_timeout_records_endings_and_restarts_lose_nothing(fe):
    fe.set_flow(
        "logged", {"keys": "ipsource", "value": "bytes", "log": True, "activeTimeout": 3, "t": 1}
    )
    rec = subscribe(fe)
    records = []
    fe.subscribe_flows(records.append)
    samples = []
    for i in range(1, 200):  # 10.0.0.1 steady for 20 s
        samples.append((T0 + i * 0.1, pkt("10.0.0.1", 10), "a", "1", 2))
    for i in range(1, 20):  # 10.0.0.2 twice, with a gap
        samples.append((T0 + 1 + i * 0.1, pkt("10.0.0.2", 7), "a", "1", 3))
        samples.append((T0 + 16 + i * 0.1, pkt("10.0.0.2", 7), "a", "1", 3))
    samples.sort(key=lambda s: s[0])
    list(run(fe, samples, T0 + 40))
    totals = rec.totals()
    assert totals[("logged", "a", "1", "10.0.0.1")] == pytest.approx(199 * 10 * 2)
    assert totals[("logged", "a", "1", "10.0.0.2")] == pytest.approx(38 * 7 * 3)
    # the flow records (reset every 3 s and at each end) add up to the same
    by_key = {}
    for r in records:
        by_key[r["flowKeys"]] = by_key.get(r["flowKeys"], 0) + r["value"]
    assert by_key["10.0.0.1"] == pytest.approx(199 * 10 * 2)
    assert len([r for r in records if r["flowKeys"] == "10.0.0.2"]) >= 2
    # per interval: 10.0.0.2 counted in [0,10) and [10,20) only where its samples were
    first = rec.totals(start=T0)
    assert first[("logged", "a", "1", "10.0.0.2")] == pytest.approx(19 * 7 * 3)


def test_evictions_from_a_full_cache_still_count(fe):
    fe.max_entries = 16
    fe.set_flow("many", {"keys": "ipsource", "value": "frames"})
    rec = subscribe(fe)
    samples = [(T0 + i * 0.01, pkt(f"10.1.{i % 7}.{i % 50}"), "a", "1", 1) for i in range(1, 900)]
    list(run(fe, samples, T0 + 12))
    assert fe.tables["many"].evicted > 0
    assert sum(rec.totals().values()) == pytest.approx(899)


def test_replaced_and_deleted_definitions_publish_at_the_next_boundary(fe):
    fe.set_flow("f", {"keys": "ipsource", "value": "bytes"})
    rec = subscribe(fe)
    fe.process(pkt("10.0.0.1", 100), "a", "1", 1, T0 + 1)
    fe.process(pkt("10.0.0.1", 100), "a", "1", 1, T0 + 2)
    fe.set_flow("f", {"keys": "ipsource", "value": "bytes", "t": 5})  # replaced
    fe.process(pkt("10.0.0.1", 100), "a", "1", 1, T0 + 3)
    fe.set_flow("g", {"keys": "ipsource", "value": "bytes"})
    fe.process(pkt("10.0.0.5", 50), "a", "1", 1, T0 + 4)
    fe.clear_flow("g")  # deleted
    assert rec.calls == []
    fe.tick(T0 + 10)
    assert rec.totals() == {
        ("f", "a", "1", "10.0.0.1"): 300.0,
        ("f", "a", "1", "10.0.0.5"): 50.0,
        ("g", "a", "1", "10.0.0.5"): 50.0,
    }
    fe.tick(T0 + 20)
    assert len(rec.calls) == 2  # nothing new: no empty batches


def test_subscribing_late_counts_from_then_and_flush_ends_the_interval(fe):
    fe.set_flow("f", {"keys": "ipsource", "value": "bytes"})
    fe.process(pkt("10.0.0.1", 1000), "a", "1", 1, T0 + 1)  # before anyone subscribed
    rec = subscribe(fe, now=T0 + 2)
    fe.process(pkt("10.0.0.1", 10), "a", "1", 1, T0 + 3)
    fe.flush_intervals(T0 + 4.5)  # engine stop
    [(name, start, end, rows)] = rec.calls
    assert (name, start, end, rows) == ("f", T0, T0 + 4.5, [("a", "1", "10.0.0.1", 10.0)])
    # a second subscriber must use the same interval
    with pytest.raises(ValueError):
        fe.subscribe_intervals(lambda *a: None, 30, lambda spec: True)


def test_history_spec_option():
    from engine.flows.spec import FlowSpec

    assert FlowSpec("f", {"history": True}).history is True
    assert FlowSpec("f", {"history": 200}).history == 200
    assert FlowSpec("f", {"history": "200"}).history == 200
    assert FlowSpec("f", {}).history is False
    assert FlowSpec("f", {"history": 200}).as_json()["history"] == 200
    for bad in (-1, 1.5, "lots", [1]):
        with pytest.raises(ValueError, match="history"):
            FlowSpec("f", {"history": bad})
