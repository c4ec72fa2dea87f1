"""The C batch ingest (engine/sflow/_ingest.c, through engine/ingest.py) against the Python
reference: the same datagrams, definitions, thresholds and housekeeping give bit-identical
analyzer counts, /agents/json, flow caches, flow keys, data-source sampling info, counter
metrics, flow records, threshold events and unknown-record counts.

The reference engine runs IngestPath.ingest_python with the pure-Python decoder, AgentStats
records and the generated Python flow pipeline; the other runs Engine.ingest_batch with the C
decoder, AgentRecords, the C pipeline and the C batch path, in batches of random sizes."""

from __future__ import annotations

import random
from contextlib import contextmanager

import pytest

from engine import props
from engine.agents import AgentStats, AgentTable
from engine.core import Engine
from engine.flows import pipeline
from engine.sflow import attributes as at
from engine.sflow.gen import Scenario, TrafficGenerator
from engine.sflow.pcap import read_pcap
from engine.sflow.records import UNKNOWN_RECORDS

from accel_support import c_unavailable_reason
from paths import REPO, SFLOW_DATA
from test_decode_fuzz import mutate
from test_flows_fastpath import EXTRA_DEFS, THRESHOLDS, same

import sys

sys.path.insert(0, str(REPO / "bench"))
from bench_flows import DEFS, GROUPS, ISSUE_DEFS, MAP

_why_no_c = c_unavailable_reason()
needs_c = pytest.mark.skipif(_why_no_c is not None, reason=str(_why_no_c))

T0 = 1_700_000_000.0
# compiled key functions (or:, null:) nested in others and in filters
COMPILED_DEFS = [
    (
        "ornull",
        {
            "keys": "null:[or:tcpsourceport:udpsourceport:icmptype]:none,or:ip6source:ipsource",
            "value": "bytes",
        },
    ),
    (
        "ornested",
        {
            "keys": "map:[or:tcpdestinationport:udpdestinationport]:svc",
            "value": "frames",
            "filter": "or:vlan:vlansource!=null",
        },
    ),
    ("nullfilter", {"keys": "ipprotocol", "value": "frames", "filter": "null:tcpflags:x=x"}),
]


def _all_defs():
    return ISSUE_DEFS + DEFS + EXTRA_DEFS + COMPILED_DEFS


@contextmanager
def accelerated(on: bool):
    was = at.flow_attributes is not at.python_flow_attributes, pipeline.accelerated()
    at.use_accelerator(on)
    pipeline.use_accelerator(on)
    try:
        yield
    finally:
        at.use_accelerator(was[0])
        pipeline.use_accelerator(was[1])


def make(python: bool, defs, thresholds=(), extra_handler=False):
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    if python:
        eng.agents = AgentTable(record=AgentStats)
    fe = eng.subsystems["flows"]
    fe.set_groups("nets", GROUPS)
    fe.set_groups("agents", {"lab": ["192.0.2.0/24"]})
    fe.set_map("svc", MAP)
    fe.set_map("labels", {"inside": ["src", "dst"]})
    fe.set_map("protos", {"tcp": [6], "udp": ["17"]})
    eng.records, eng.events, eng.seen, eng.updates = [], [], [], []
    fe.subscribe_flows(eng.records.append)
    fe.subscribe_events(eng.events.append)
    # a metric update subscriber (as history is): handed every counter sample's metrics
    eng.subsystems["metrics"].subscribe_updates(
        lambda agent, ds, values, now: eng.updates.append((agent, ds, dict(values), now))
    )
    for name, spec in defs:
        fe.set_flow(name, spec)
    for name, spec in thresholds:
        fe.set_threshold(name, spec)
    if extra_handler:
        # another reader of flow samples: every flow sample takes the Python handler path
        eng.flow_handlers.append(lambda s, now: eng.seen.append((s.agent, s.seq, s.tag)))
    return eng


def run(eng, batches, python: bool, hook=None):
    """Feed the batches; the flows' housekeeping every simulated second. Returns the unknown
    record counts the decoding added."""
    before = dict(UNKNOWN_RECORDS)
    fe = eng.subsystems["flows"]
    last = None
    with accelerated(not python):
        for n, batch in enumerate(batches):
            if hook is not None:
                hook(eng, n)
            if python:
                for data, src, now in batch:
                    eng.ingest_path.ingest_python(data, src, now)
            else:
                eng.ingest_batch(batch)
            now = batch[-1][2]
            if last is None or now - last >= 1.0:
                fe.tick(now)
                last = now
    return {k: v - before.get(k, 0) for k, v in UNKNOWN_RECORDS.items() if v != before.get(k, 0)}


def snapshot(eng, now: float) -> dict:
    fe = eng.subsystems["flows"]
    metrics = eng.subsystems["metrics"]
    s = eng.stats
    return {
        "stats": {k: getattr(s, k) for k in type(s).__slots__ if k != "start"},
        "agents": eng.agents.to_json(now=now),
        "errors_by_source": dict(eng.agents.errors_by_source),
        "keys_seen": dict(fe.keys_seen),
        "sources": {k: list(v) for k, v in fe.sources.items()},
        "tables": {n: dict(t.entries) for n, t in fe.tables.items()},
        "evicted": {n: t.evicted for n, t in fe.tables.items()},
        "flow_errors": fe.errors,
        "records": eng.records,
        "events": eng.events,
        "seen": eng.seen,
        "updates": eng.updates,
        "metrics": metrics.query_dump("ALL", "ALL", now=now),
        "store": _store_state(metrics),
    }


def _store_state(store) -> dict:
    """Everything the metric store keeps, data sources named by (agent, id)."""

    def where(ds):
        return (ds.agent.address, ds.id)

    return {
        "counts": (
            store.counter_samples,
            store.ignored_samples,
            store.names_version,
            store._min_expires,
            store._next_sweep,
        ),
        "sources": {
            (a, i): (
                ds.values,
                ds.prev,
                ds.last,
                ds.uptime,
                ds.seq,
                ds.samples,
                ds.interval,
                ds.expires,
                ds.parent,
                ds.ds_class,
                ds.sub,
                ds.deadline,
            )
            for a, st in store.agents.items()
            for i, ds in st.sources.items()
        },
        "clocks": {a: (st.clocks, st.clock_next) for a, st in store.agents.items()},
        "hosts": {a: st.host.id if st.host is not None else None for a, st in store.agents.items()},
        "index": {
            name: [(where(ds), v) for ds, v in entry.items()] for name, entry in store.index.items()
        },
        "name_seen": store.name_seen,
    }


def exact(a, b) -> bool:
    """Equal, floats to the bit (NaN equal to NaN), containers in the same order."""
    if isinstance(a, float) and isinstance(b, float):
        return a.hex() == b.hex() or (a != a and b != b)
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(exact(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(exact(a[k], b[k]) for k in a)
    return a == b


def assert_same(c: dict, py: dict) -> None:
    for part in py:
        if part == "tables":
            assert c[part].keys() == py[part].keys()
            for name, ep in py[part].items():
                ec = c[part][name]
                assert ec.keys() == ep.keys(), name
                bad = [k for k in ec if not same(ec[k], ep[k])]
                assert not bad, (name, bad[:3])
                # the same double operations in the same order: bit-identical floats
                for k, e in ec.items():
                    assert [x.hex() if isinstance(x, float) else x for x in e] == [
                        x.hex() if isinstance(x, float) else x for x in ep[k]
                    ], (name, k)
        else:
            assert exact(c[part], py[part]), part


def batched(datagrams, seed=1, start=T0, spacing=0.0005):
    """[(data, src, now)] in batches of random sizes (1 to 80), times increasing."""
    rng = random.Random(seed)
    items = [(d, src, start + i * spacing) for i, (d, src) in enumerate(datagrams)]
    out, i = [], 0
    while i < len(items):
        k = rng.choice((1, 2, 7, 64, 80))
        out.append(items[i : i + k])
        i += k
    return out


def capture_datagrams():
    out = []
    for f in sorted(SFLOW_DATA.glob("*/*.pcap")):
        for p in read_pcap(f):
            out.append((p.payload, p.src))
    return out


def generator_datagrams(seconds=8, **kw):
    sc = dict(
        agents=4,
        flows=120,
        samples_per_second=250,
        sampling_rate=100,
        ipv6_fraction=0.3,
        vxlan_fraction=0.1,
        discards_per_second=10,
        hosts=True,
        containers=2,
        polling_interval=2.0,
        seed=7,
    )
    sc.update(kw)
    gen = TrafficGenerator(Scenario(**sc))
    return [(d, "10.9.9.9") for _, step in gen.run(seconds, 0.5) for d in step]


def compare(datagrams, defs, thresholds=(), extra_handler=False, hook=None, seed=1):
    batches = batched(datagrams, seed)
    end = batches[-1][-1][2]
    py = make(True, defs, thresholds, extra_handler)
    unknown_py = run(py, batches, True, hook)
    c = make(False, defs, thresholds, extra_handler)
    unknown_c = run(c, batches, False, hook)
    assert c.ingest_path._c is not None, "the C batch path did not run"
    counts = c.ingest_path._c.counts()
    assert unknown_c == unknown_py
    snap_c = snapshot(c, end)
    assert_same(snap_c, snapshot(py, end))
    for eng in (py, c):
        eng.subsystems["flows"].tick(end + 30.0)  # every flow ends: logged ones reported
    assert_same(snapshot(c, end + 30.0), snapshot(py, end + 30.0))
    snap_c["routes"] = counts
    return snap_c


@needs_c
def test_captures_and_generator_every_definition():
    dgs = capture_datagrams() + generator_datagrams()
    snap = compare(dgs, _all_defs(), THRESHOLDS)
    assert snap["stats"]["flow_samples"] > 10000 and snap["stats"]["counter_samples"] > 100
    assert snap["stats"]["discard_samples"] and snap["records"] and snap["events"]
    for name in ("f1", "f4", "ornull", "ornested", "nullfilter", "svc", "drops", "tokens"):
        assert snap["tables"][name], name
    # most flow samples went from the datagram into the C pipeline; tunnels, ARP, QinQ and
    # the like took the Python handler path
    routes = snap["routes"]
    assert routes["c_flow_samples"] > 0.9 * snap["stats"]["flow_samples"]
    assert routes["python_flow_samples"] > 0
    # port counters went into the store in C; first samples, host and VM counters in Python
    assert routes["c_counter_samples"] > 100 and routes["python_counter_samples"] > 100
    assert len(snap["updates"]) > 200


@needs_c
def test_issue_definitions_only_and_no_definitions():
    dgs = capture_datagrams() + generator_datagrams(seconds=4)
    snap = compare(dgs, ISSUE_DEFS)
    assert all(snap["tables"][n] for n, _ in ISSUE_DEFS)
    assert snap["routes"]["c_flow_samples"] > 0.9 * snap["stats"]["flow_samples"]
    snap = compare(dgs, [])
    assert snap["keys_seen"] and snap["sources"]


@needs_c
def test_mutated_datagrams_decode_errors_and_odd_samples():
    rng = random.Random(13)
    base = capture_datagrams()
    dgs = [(mutate(rng, rng.choice(base)[0]), "192.0.2.%d" % rng.randrange(4)) for _ in range(3000)]
    dgs += [(b"not sflow", "198.51.100.1"), (bytearray(base[0][0]), "198.51.100.2")]
    snap = compare(dgs, ISSUE_DEFS + COMPILED_DEFS + EXTRA_DEFS[:6], seed=3)
    assert snap["stats"]["decode_errors"] > 100
    assert snap["routes"]["python_datagrams"] > 100 and snap["routes"]["c_flow_samples"] > 1000


@needs_c
def test_another_flow_reader_takes_the_python_path():
    dgs = generator_datagrams(seconds=3)
    snap = compare(dgs, ISSUE_DEFS, extra_handler=True)
    assert len(snap["seen"]) == snap["stats"]["flow_samples"]
    assert snap["routes"]["c_flow_samples"] == 0


@needs_c
def test_redefinitions_in_the_middle_of_a_batch():
    dgs = generator_datagrams(seconds=6, seed=11)

    def hook(eng, n):
        fe = eng.subsystems["flows"]
        if n == 20:
            fe.set_flow("pair", {"keys": "ipdestination,ipsource", "value": "frames"})
            fe.clear_flow("f3")
        elif n == 40:
            fe.set_groups("nets", {"a": ["10.1.0.0/24"], "b": ["10.2.0.0/17", "10.1.0.0/16"]})
            fe.set_map("svc", {"https": [443], "other": ["80", "53"]})

    def subscriber(eng):
        def redefine(evt):
            if evt["thresholdID"] == "th_total":
                fe = eng.subsystems["flows"]
                fe.set_flow("stack", {"keys": "prefix:stack:.:1", "value": "bytes"})
                fe.clear_flow("dscp")

        eng.subsystems["flows"].subscribe_events(redefine)

    def hook_with_subscriber(eng, n):
        if n == 0:
            subscriber(eng)
        hook(eng, n)

    snap = compare(dgs, ISSUE_DEFS + DEFS, THRESHOLDS, hook=hook_with_subscriber)
    assert "dscp" not in snap["tables"] and "f3" not in snap["tables"]
    assert any(e["thresholdID"] == "th_total" for e in snap["events"])


@needs_c
def test_handler_errors_in_a_batch_are_counted_alike():
    dgs = generator_datagrams(seconds=5)

    def hook(eng, n):
        if n == 0:

            def broken(sample, now):
                if sample.seq % 2 == 0:
                    raise RuntimeError("boom")

            eng.counter_handlers = [broken] + eng.counter_handlers

    snap = compare(dgs, ISSUE_DEFS, hook=hook)
    assert snap["stats"]["handler_errors"] > 0


@needs_c
def test_the_c_path_keeps_no_more_memory_than_the_python_path():
    """The same traffic again and again (caches, agents and data sources already made; odd
    and malformed datagrams on the error paths), on both paths: the C path ends up holding
    no more than the Python one (a reference leaked per sample would be 100,000s of
    objects). Both grow a little with these captures: their counter streams make the metric
    store drop and remake data sources, whose dicts then resize."""
    import gc
    import tracemalloc

    rng = random.Random(21)
    base = capture_datagrams()[::3]
    dgs = base + [(mutate(rng, rng.choice(base)[0]), "192.0.2.77") for _ in range(200)]
    defs = ISSUE_DEFS + COMPILED_DEFS + DEFS[:5]  # no thresholds: events.max fills up

    def growth(python: bool) -> int:
        eng = make(python, defs)
        fe = eng.subsystems["flows"]
        t = T0

        def one_pass():
            nonlocal t
            batches = batched(dgs, seed=int(t) % 7, start=t, spacing=1e-5)
            with accelerated(not python):
                for batch in batches:
                    if python:
                        for d, src, now in batch:
                            eng.ingest_path.ingest_python(d, src, now)
                    else:
                        eng.ingest_batch(batch)
            t += 1.0
            fe.tick(t)
            eng.records.clear()

        for _ in range(4):
            one_pass()
        gc.collect()
        tracemalloc.start()
        try:
            one_pass()
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(4):
                one_pass()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        if not python:
            counts = eng.ingest_path._c.counts()
            assert counts["c_flow_samples"] > 10000 and counts["c_counter_samples"] > 100
            assert counts["python_datagrams"] > 500
        return grown

    py, c = growth(True), growth(False)
    assert c < py + 64 * 1024, (c, py)
