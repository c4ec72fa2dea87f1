"""The per-sample path of Engine.ingest: per-datagram batching of the agent bookkeeping and
sample counters gives the same /agents/json and /analyzer/json as one sample at a time;
failing handlers are isolated; the BGP handler only runs while a source is configured."""

from __future__ import annotations

import logging
import random
import sys

import pytest

from engine import props
from accel_support import require_accel
from engine.agents import AgentStats
from engine.core import Engine
from engine.sflow import attributes as at
from engine.sflow import decode_datagram
from engine.sflow import encode as enc
from engine.sflow.gen import Scenario, TrafficGenerator


class _S:
    """A sample-like object the C tracker does not take (seq 2**70): Python goes on from it."""

    __slots__ = ("kind", "data_source", "seq", "drops")

    def __init__(self, kind, data_source, seq, drops):
        self.kind, self.data_source, self.seq, self.drops = kind, data_source, seq, drops


def _batches(rng, n):
    """Lists of decoded samples (flow compact/expanded, counter, discard, rtmetric) with
    sequence numbers that run on, skip, repeat, go back a little or restart."""
    seqs: dict = {}
    for _ in range(n):
        encoded = []
        for _ in range(rng.randint(0, 8)):
            kind = rng.choice(("flow", "flow", "expanded", "counter", "discard", "rtmetric"))
            ds = rng.choice((1, 2, 7))
            last = seqs.get((kind, ds), rng.randint(0, 3000))
            step = rng.choice((1, 1, 1, 1, 2, 7, 0, -1, -3, None))
            seq = max(0, last + step) if step is not None else rng.randint(0, 4)
            seqs[(kind, ds)] = seq
            drops = rng.choice((0, 0, 5))
            if kind in ("flow", "expanded"):
                encoded.append(
                    enc.flow_sample(
                        seq, 0, ds, 10, 10 * seq, drops, ds, 4, [], expanded=kind == "expanded"
                    )
                )
            elif kind == "counter":
                encoded.append(enc.counter_sample(seq, 0, ds, []))
            elif kind == "discard":
                encoded.append(enc.discard_sample(seq, 0, ds, drops, ds, 0, 1, []))
            else:
                encoded.append(enc.rtmetric_sample(f"ds{ds}", [("m", "gauge32", 1)]))
        samples = decode_datagram(enc.datagram("192.0.2.1", 1, 1, encoded)).samples
        if rng.random() < 0.05:
            samples.insert(rng.randint(0, len(samples)), _S("flow", "1", 2**70, 0))
        yield samples


def _one_sample(stats, kind, data_source, seq, drops):
    """The rule as docs/decoder.md states it, one sample at a time (the oracle): counts
    [samples, lost, duplicate, out of order, drops]; a sequence number just behind the last one
    is out of order and not remembered."""
    counts = stats.samples[kind]
    counts[0] += 1
    counts[4] += drops
    seqs = stats.ds_seq[kind]
    last = seqs.get(data_source)
    if last is not None and seq != last + 1:
        if seq == last:
            counts[2] += 1
        elif seq > last:
            counts[1] += seq - last - 1
        elif last - seq < 1000 and seq > 5:
            counts[3] += 1
            return
    seqs[data_source] = seq


def test_samples_seen_equals_one_sample_at_a_time():
    rng = random.Random(4)
    batched, python, single = AgentStats("a", 0.0), AgentStats("a", 0.0), AgentStats("a", 0.0)
    for batch in _batches(rng, 2500):
        batched.samples_seen(batch)  # in C when the accelerator is loaded
        python.samples_seen_py(batch)
        for s in batch:
            kind = {"discard": "notification"}.get(s.kind, s.kind)
            if kind in ("flow", "counter", "notification"):
                _one_sample(single, kind, s.data_source, s.seq, s.drops if kind != "counter" else 0)
    assert batched.to_json(10.0) == python.to_json(10.0) == single.to_json(10.0)
    assert batched.ds_seq == single.ds_seq
    j = batched.to_json(10.0)
    # the random sequences did exercise every counter
    for key in (
        "sFlowFlowLostSamples",
        "sFlowFlowDuplicateSamples",
        "sFlowFlowOutOfOrderSamples",
        "sFlowCounterLostSamples",
        "sFlowCounterOutOfOrderSamples",
        "sFlowNotificationDuplicateSamples",
        "sFlowNotificationDrops",
        "sFlowFlowDrops",
    ):
        assert j[key] > 0, key
    assert j["sFlowFlowDatasources"] == 3 and j["sFlowCounterDatasources"] == 3


def test_c_tracker_stops_where_it_cannot_decide():
    track = at.track_samples
    if track is None:
        require_accel()
        pytest.fail("engine.sflow._accel is built but has no track_samples (stale build?)")
    samples = decode_datagram(
        enc.datagram(
            "192.0.2.1",
            1,
            1,
            [enc.flow_sample(5, 0, 1, 10, 10, 2, 1, 4, []), enc.counter_sample(9, 0, 1, [])],
        )
    ).samples
    odd = _S("flow", "1", 2**70, 0)
    seqs, counts = [{}, {}, {}], [[0] * 5, [0] * 5, [0] * 5]
    args = [x for pair in zip(seqs, counts) for x in pair]
    assert track(samples + [odd] + samples, *args) == 2
    assert counts == [[1, 0, 0, 0, 2], [1, 0, 0, 0, 0], [0] * 5]
    assert seqs == [{"1": 5}, {"1": 9}, {}]
    assert track([_S("rtflow", "1", 1, 0), _S("other", 1, None, None)], *args) == 2
    before = sys.getrefcount(samples[0].data_source), sys.getrefcount(samples[0].seq)
    for _ in range(100):
        track(samples, *args)
    assert (sys.getrefcount(samples[0].data_source), sys.getrefcount(samples[0].seq)) == before
    assert counts[0][2] == 100  # the same sequence number again: duplicates
    with pytest.raises(TypeError):
        track(samples, {}, [0] * 4, {}, [0] * 5, {}, [0] * 5)


def test_c_tracker_totals_beyond_64_bits_are_pythons():
    # sequence gaps and drops whose sums do not fit 64 bits (not what the decoder makes, but
    # what the Python loop counts exactly): the C tracker hands such a sample to Python
    batch = [
        _S("flow", "1", 0, 2**64 - 1),
        _S("flow", "1", 2**64 - 1, 2**64 - 1),
        _S("flow", "2", 0, 0),
        _S("flow", "2", 2**64 - 1, 0),
    ]
    batched, python = AgentStats("a", 0.0), AgentStats("a", 0.0)
    batched.samples_seen(batch)
    python.samples_seen_py(batch)
    assert python.samples["flow"] == [4, 2 * (2**64 - 2), 0, 0, 2 * (2**64 - 1)]
    assert batched.samples == python.samples and batched.ds_seq == python.ds_seq


def test_c_tracker_compares_kinds_as_python_does():
    class Kind(str):
        def __eq__(self, other):
            return other == "flow"

        __hash__ = str.__hash__

    batch = [_S(Kind("custom"), "1", 3, 1)]
    batched, python = AgentStats("a", 0.0), AgentStats("a", 0.0)
    batched.samples_seen(batch)
    python.samples_seen_py(batch)
    assert python.samples["flow"][0] == 1
    assert batched.samples == python.samples and batched.ds_seq == python.ds_seq


def test_c_tracker_error_propagates_unchanged():
    """An exception from a sequence lookup propagates as itself: the counts of the samples
    before it are committed without running Python code while it is pending."""
    track = at.track_samples
    if track is None:
        require_accel()
        pytest.fail("engine.sflow._accel is built but has no track_samples (stale build?)")

    class Boom:
        def __hash__(self):
            return hash("1")

        def __eq__(self, other):
            raise ValueError("boom")

    class Count(int):
        def __add__(self, other):
            return Count(int(self) + other)

    samples = decode_datagram(
        enc.datagram(
            "192.0.2.1",
            1,
            1,
            [enc.counter_sample(9, 0, 1, []), enc.flow_sample(5, 0, 1, 10, 10, 2, 1, 4, [])],
        )
    ).samples
    seqs, counts = [{Boom(): 1}, {}, {}], [[0] * 5, [Count(0), 0, 0, 0, 0], [0] * 5]
    args = [x for pair in zip(seqs, counts) for x in pair]
    with pytest.raises(ValueError, match="boom"):
        track(samples, *args)
    assert seqs[1] == {"1": 9} and counts[1] == [1, 0, 0, 0, 0]
    # a counts list a sample's attribute shortened: one TypeError, nothing run after it
    seqs, counts = [{}, {}, {}], [[0] * 5, [Count(0), 0, 0, 0, 0], [0] * 5]
    args = [x for pair in zip(seqs, counts) for x in pair]

    class Shrinks:
        __slots__ = ("data_source", "seq", "drops")

        def __init__(self):
            self.data_source, self.seq, self.drops = "1", 1, 0

        @property
        def kind(self):
            del counts[0][1:]
            return "flow"

    with pytest.raises(TypeError, match="counts lists of 5"):
        track([Shrinks()] + samples, *args)


def test_c_tracker_count_that_empties_its_list_raises_as_python():
    class Count(int):
        def __add__(self, other):
            counts.clear()
            return Count(int(self) + other)

    samples = decode_datagram(
        enc.datagram("192.0.2.1", 1, 1, [enc.counter_sample(9, 0, 1, [])])
    ).samples
    for path in ("samples_seen", "samples_seen_py"):
        stats = AgentStats("a", 0.0)
        counts = stats.samples["counter"] = [Count(0), 0, 0, 0, 0]
        with pytest.raises(IndexError):
            getattr(stats, path)(samples)


def _engine():
    return Engine(props.Properties(dict(props.DEFAULTS)))


def test_counts_match_generator_traffic_with_discards():
    gen = TrafficGenerator(
        Scenario(agents=3, samples_per_second=400, discards_per_second=20, seed=2)
    )
    dgs = [d for _, step in gen.run(3) for d in step]
    eng = _engine()
    for d in dgs:
        eng.ingest(d, "127.0.0.1", 100.0)
    agents = eng.agents.to_json(now=100.0)
    assert (
        eng.stats.flow_samples
        == gen.flow_samples()
        == sum(a["sFlowFlowSamples"] for a in agents.values())
    )
    assert (
        eng.stats.discard_samples
        == 180
        == sum(a["sFlowNotificationSamples"] for a in agents.values())
    )
    assert eng.stats.counter_samples == sum(a["sFlowCounterSamples"] for a in agents.values()) > 0
    assert all(a["sFlowFlowLostSamples"] == 0 for a in agents.values())


def test_failing_handlers_are_counted_and_do_not_stop_the_others(caplog):
    eng = _engine()
    seen = []

    def broken(sample, now):
        raise RuntimeError("boom")

    eng.flow_handlers = [broken, lambda s, now: seen.append(s.seq)] + eng.flow_handlers
    rec = enc.record("0:1001", enc.u32(1) + enc.u32(0) + enc.u32(2) + enc.u32(0))
    samples = [enc.flow_sample(i, 0, 3, 10, 10 * i, 0, 3, 4, [rec]) for i in range(1, 4)]
    with caplog.at_level(logging.ERROR, logger="flowrt"):
        eng.ingest(enc.datagram("192.0.2.1", 1, 1, samples), "127.0.0.1", 1.0)
    assert seen == [1, 2, 3]
    assert eng.stats.handler_errors == 3 and eng.stats.flow_samples == 3
    assert "boom" in caplog.text


def test_decode_error_inside_a_sample_is_counted_for_its_agent():
    eng = _engine()
    eng.subsystems["flows"].set_flow("f", {"keys": "ipsource", "value": "bytes"})
    bad = enc.record("0:1", enc.u32(1) + enc.u32(100) + enc.u32(0) + enc.u32(500) + b"\0" * 8)
    good = enc.record("0:1001", enc.u32(1) + enc.u32(0) + enc.u32(2) + enc.u32(0))
    dg = enc.datagram(
        "192.0.2.7",
        1,
        1,
        [
            enc.flow_sample(1, 0, 3, 10, 10, 0, 3, 4, [bad]),
            enc.flow_sample(2, 0, 3, 10, 20, 0, 3, 4, [good]),
        ],
    )
    eng.ingest(dg, "127.0.0.1", 1.0)
    assert eng.stats.decode_errors == 1 and eng.stats.flow_samples == 2
    assert eng.agents.to_json(now=1.0)["192.0.2.7"]["sFlowDecodeErrors"] == 1


def test_bgp_handler_runs_only_while_a_source_is_configured():
    eng = _engine()
    bgp = eng.subsystems["bgp"]
    flows = eng.subsystems["flows"]

    def names():
        return [getattr(h, "__qualname__", "") for h in eng.flow_handlers]

    assert names() == ["FlowEngine.on_flow_sample"]
    bgp.add_neighbor("127.0.0.1", 65000, "10.0.0.1")
    before = eng.flow_handlers
    bgp.add_source("192.0.2.1", "127.0.0.1")
    assert names() == ["FlowEngine.on_flow_sample", "BgpSpeaker.on_flow_sample"]
    assert before == [flows.on_flow_sample]  # replaced, not changed under a running loop
    bgp.add_source("ALL", "127.0.0.1")
    assert names().count("BgpSpeaker.on_flow_sample") == 1
    assert bgp.remove_source("192.0.2.1")
    assert "BgpSpeaker.on_flow_sample" in names()  # the wildcard source is left
    assert bgp.remove_source("ALL")
    assert names() == ["FlowEngine.on_flow_sample"]
    assert not bgp.remove_source("ALL")
    assert names() == ["FlowEngine.on_flow_sample"]
