"""The C flow pipeline (engine/flows/_fastpath.c) against the generated Python one.

Two FlowEngines get the same definitions, samples, housekeeping ticks and redefinitions: one
builds its pipelines in C, the other (PythonFlows) with pipeline.build_python. Every table's
entries, the flow records, threshold events and error counts must come out the same.
"""

import gc
import math
import os
import subprocess
import sys
import tracemalloc

import pytest

from engine.flows import pipeline, registry
from engine.flows.engine import FlowEngine
from engine.sflow import decode_datagram
from engine.sflow.gen import Scenario, TrafficGenerator

from accel_support import c_unavailable_reason
from paths import REPO as ROOT

sys.path.insert(0, str(ROOT / "bench"))
from bench_flows import DEFS, GROUPS, MAP

_why_no_c = c_unavailable_reason()
needs_c = pytest.mark.skipif(_why_no_c is not None, reason=str(_why_no_c))


def test_c_pipeline_is_built_where_it_can_be():
    if _why_no_c is None:
        assert pipeline.fastpath is not None, "engine.flows._fastpath did not build/import"
    else:
        pytest.skip(_why_no_c)
    fe = FlowEngine(None)
    fe.set_flow("x", {"value": "bytes"})
    assert isinstance(fe._process_flow, pipeline.fastpath.Pipeline)


T0 = 1_700_000_000.0


class PythonFlows(FlowEngine):
    """A FlowEngine whose pipelines are always the generated Python functions (the oracle)."""

    def _rebuild(self):
        was = pipeline.accelerated()
        pipeline.use_accelerator(False)
        try:
            super()._rebuild()
        finally:
            pipeline.use_accelerator(was)


EXTRA_DEFS = [
    (
        "vals",
        {
            "keys": "ipsource",
            "value": "bytes",
            "values": ["frames", "avg:bytes", "count:ipdestination", "min:ipttl", "max:bytes"],
        },
    ),
    ("avgproto", {"keys": "ipprotocol", "value": "avg:bytes"}),
    ("cntports", {"keys": "ipdestination", "value": "count:tcpsourceport", "t": 1}),
    ("minagent", {"keys": "agent", "value": "min:bytes"}),
    ("maxttl", {"keys": "agent,ipttl", "value": "max:ipttl"}),
    ("byagent", {"keys": "agent", "value": "frames", "t": 0.5}),
    ("ttlval", {"keys": "ipsource", "value": "ipttl"}),  # not an INT_ATTRIBUTE
    ("strval", {"keys": "ipsource", "value": "tcpflags"}),  # a string: never counts
    ("fnval", {"keys": "ipprotocol", "value": "bits:bytes:0xff"}),  # key-function value
    ("v6", {"keys": "ip6source,ip6destination", "value": "bytes"}),
    (
        "v4or6",
        {
            "keys": "or:ipsource:ip6source",
            "value": "frames",
            "filter": "ipsource!=null|ip6source!=null",
        },
    ),
    (
        "regex",
        {
            "keys": "ipdestination",
            "value": "bytes",
            "filter": "ipsource~10\\.1\\..*&tcpflags!~.......1.|ipprotocol=17",
        },
    ),
    ("nullf", {"keys": "udpsourceport", "value": "frames", "filter": "tcpsourceport=null"}),
    ("notnull", {"keys": "ipprotocol", "value": "frames", "filter": "!(vxlanvni=null,5)"}),
    (
        "neq",
        {
            "keys": "tcpdestinationport",
            "value": "bytes",
            "filter": "tcpdestinationport!=80,443&(ipprotocol=6|ipprotocol=17)",
        },
    ),
    ("numeq", {"keys": "ipprotocol", "value": "bytes", "filter": "ipprotocol=6.0,1e1,0x11"}),
    ("onelit", {"keys": "stack", "value": "frames", "filter": "stack='eth.ip.tcp'"}),
    (
        "range",
        {
            "keys": "range:bytes:100:1000",
            "value": "frames",
            "filter": "range:tcpdestinationport:1:1023=true",
        },
    ),
    (
        "masks",
        {
            "keys": "mask:ipdestination:16,group:ipsource:nets:other",
            "value": "bytes",
            "filter": "map:tcpdestinationport:svc=web,db|map:udpdestinationport:svc=dns",
        },
    ),
    ("missing", {"keys": "nosuchattribute", "value": "frames"}),
    # group:/map: answer from their tables in C; a literal "agent" argument reads attrs (which
    # FlowEngine.process does not fill), not the agent argument
    (
        "nested",
        {
            "keys": "map:[group:ipsource:nets]:labels,group:ipdestination:nets",
            "value": "frames",
            "filter": "group:agent:agents=null",
        },
    ),
    ("agentgroup", {"keys": "group:agent:agents", "value": "frames"}),
    ("mapnum", {"keys": "map:ipprotocol:protos", "value": "bytes"}),
    ("tokens", {"keys": "suffix:ipsource:.:2,first:stack:.:tcp:udp", "value": "frames"}),
    ("tokens6", {"keys": "prefix:[mask:ip6source:48]:\\::2", "value": "frames"}),
    (
        "logged",
        {"keys": "ipsource,ipdestination", "value": "bytes", "log": True, "activeTimeout": 2},
    ),
    (
        "started",
        {"keys": "ipsource,tcpdestinationport", "value": "frames", "log": True, "flowStart": True},
    ),
    ("drops", {"keys": "reason,agent", "value": "frames", "dropped": True}),
    (
        "dropsb",
        {"keys": "reason", "value": "avg:frames", "dropped": True, "log": True, "flowStart": True},
    ),
]
THRESHOLDS = [
    ("th_total", {"metric": "total", "value": 2000}),
    ("th_pair", {"metric": "pair", "value": 200000, "byFlow": True}),
    ("th_avg", {"metric": "avgproto", "value": 700, "byFlow": True}),
    ("th_logged", {"metric": "logged", "value": 100000, "byFlow": True, "timeout": 1}),
]


def samples(seconds=10.0, step=0.5, seed=7, **kw):
    """[(now, attrs, agent, ds, rate, dropped)] from the generator: IPv4 and IPv6, TCP, UDP,
    ICMP, VXLAN and discard samples; several samples per datagram share a timestamp."""
    sc = dict(
        agents=3,
        flows=150,
        samples_per_second=300,
        sampling_rate=100,
        ipv6_fraction=0.3,
        vxlan_fraction=0.1,
        discards_per_second=15,
        seed=seed,
    )
    sc.update(kw)
    gen = TrafficGenerator(Scenario(**sc))
    out = []
    t = T0
    for _ in range(int(seconds / step)):
        dgs = gen.step(step)
        for i, dg in enumerate(dgs):
            now = t + step * i / max(1, len(dgs))
            for s in decode_datagram(dg).samples:
                if s.kind == "flow":
                    out.append(
                        (now, s.attributes(), s.agent, s.data_source, s.sampling_rate, False)
                    )
                elif s.kind == "discard":
                    attrs = dict(s.attributes())
                    if getattr(s, "reason", None) is not None:
                        attrs.setdefault("reason", s.reason)
                    out.append((now, attrs, s.agent, s.data_source, s.sampling_rate or 1, True))
        t += step
    return out


def engines(defs=DEFS + EXTRA_DEFS, thresholds=THRESHOLDS):
    pair = [FlowEngine(None), PythonFlows(None)]
    for fe in pair:
        fe.set_groups("nets", GROUPS)
        fe.set_groups("agents", {"lab": ["192.0.2.0/24"]})
        fe.set_map("svc", MAP)
        fe.set_map("labels", {"inside": ["src", "dst"]})
        fe.set_map("protos", {"tcp": [6], "udp": ["17"]})
        fe.records, fe.events = [], []
        fe.subscribe_flows(fe.records.append)
        fe.subscribe_events(fe.events.append)
        for name, spec in defs:
            fe.set_flow(name, spec)
        for name, spec in thresholds:
            fe.set_threshold(name, spec)
    c, py = pair
    assert type(c._process_flow).__name__ == "Pipeline"
    assert hasattr(py._process_flow, "source") and callable(py._process_flow)
    return c, py


def feed(pair, items, tick_every=1.0, hook=None):
    last_tick = None
    for n, (now, attrs, agent, ds, rate, dropped) in enumerate(items):
        if hook is not None:
            hook(n)
        for fe in pair:
            fe.process(dict(attrs), agent, ds, rate, now, dropped=dropped)
        if last_tick is None or now - last_tick >= tick_every:
            for fe in pair:
                fe.tick(now)
            last_tick = now


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        if a == b or (a != a and b != b):
            return True
        return abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


def assert_same(c, py):
    assert c.tables.keys() == py.tables.keys()
    for name in c.tables:
        ec, ep = c.tables[name].entries, py.tables[name].entries
        assert ec.keys() == ep.keys(), name
        bad = [k for k in ec if not same(ec[k], ep[k])]
        assert not bad, (name, bad[:3], [(ec[k], ep[k]) for k in bad[:3]])
    assert c.errors == py.errors
    assert len(c.records) == len(py.records)
    assert all(same(a, b) for a, b in zip(c.records, py.records))
    assert len(c.events) == len(py.events)
    assert all(same(a, b) for a, b in zip(c.events, py.events))


def exact_floats(c, py) -> tuple[int, int]:
    """(floats compared, floats bit-identical) over every entry of every table."""
    n = same_bits = 0
    for name in c.tables:
        ep = py.tables[name].entries
        for k, e in c.tables[name].entries.items():
            for x, y in zip(e, ep[k]):
                if isinstance(x, float):
                    n += 1
                    same_bits += x.hex() == y.hex()
    return n, same_bits


@needs_c
def test_generator_traffic_all_definitions_identical():
    items = samples()
    assert len(items) > 8000
    assert any(a.get("ip6source") for _, a, *_ in items)
    assert any(d for *_, d in items)
    c, py = engines()
    feed((c, py), items)
    for name in (
        "pair",
        "nets",
        "vals",
        "regex",
        "v6",
        "masks",
        "drops",
        "neq",
        "numeq",
        "onelit",
        "range",
        "nullf",
        "fanin",
        "minagent",
        "ttlval",
        "fnval",
        "v4or6",
        "notnull",
        "byagent",
        "maxttl",
        "cntports",
        "dropsb",
        "nested",
        "mapnum",
        "tokens",
        "tokens6",
    ):
        assert c.tables[name].entries, name
    assert {k[2] for k in c.tables["nested"].entries} == {"inside"}
    assert not c.tables["agentgroup"].entries
    assert_same(c, py)
    n, exact = exact_floats(c, py)
    assert n > 10000 and exact == n  # same double operations in the same order
    for fe in (c, py):
        fe.tick(items[-1][0] + 30.0)  # every flow ends: logged ones are reported
    assert_same(c, py)
    assert c.events and c.records and c.errors == 0
    assert {r["name"] for r in c.records} >= {"logged", "started", "dropsb"}
    assert {e["thresholdID"] for e in c.events} >= {"th_total", "th_pair", "th_avg"}
    assert not c.tables["missing"].entries and not c.tables["strval"].entries


@needs_c
def test_redefinitions_while_traffic_flows_and_from_an_event_subscriber():
    items = samples(seconds=6.0, seed=11)
    c, py = engines()

    def hook(n):
        if n == 1500:
            for fe in (c, py):
                fe.set_flow("pair", {"keys": "ipdestination,ipsource", "value": "frames"})
                fe.clear_flow("macs")
                fe.set_threshold("th_total", {"metric": "total", "value": 3000, "byFlow": True})
        elif n == 2000:
            for fe in (c, py):  # group and map tables are rebound: no stale answers
                fe.set_groups("nets", {"a": ["10.1.0.0/24"], "b": ["10.2.0.0/17", "10.1.0.0/16"]})
                fe.set_map("svc", {"https": [443], "other": ["80", "53"]})
                fe.clear_map("protos")
        elif n == 2500:
            for fe in (c, py):
                fe.clear_groups("nets")
                fe.set_map("protos", {"icmp": [1]})
        elif n == 3000:
            for fe in (c, py):
                fe.set_groups("nets", GROUPS)
                fe.clear_threshold("th_pair")
                fe.set_flow(
                    "macs", {"keys": "macsource", "value": "bytes", "filter": "ipprotocol!=6"}
                )
                fe.clear_flow("vals")

    # an event subscriber redefining flows while the pipeline is running in its sample
    for fe in (c, py):

        def redefine(evt, fe=fe):
            if evt["thresholdID"] == "th_avg":
                fe.set_flow("stack", {"keys": "prefix:stack:.:1", "value": "bytes"})
                fe.clear_flow("dscp")

        fe.subscribe_events(redefine)
    feed((c, py), items, hook=hook)
    assert "dscp" not in c.tables and "vals" not in c.tables and "macs" in c.tables
    assert {k[2] for k in c.tables["svc"].entries} >= {"https", "web"}
    assert {k[2] for k in c.tables["mapnum"].entries} == {"tcp", "udp", "icmp"}
    assert any(e["thresholdID"] == "th_avg" for e in c.events)
    assert_same(c, py)


@needs_c
def test_a_raising_key_function_counts_errors_and_other_definitions_go_on(monkeypatch):
    def boom_factory(args, engine):
        key = args[0].key

        def boom(attrs):
            v = key(attrs)
            if v == 17:
                raise RuntimeError("boom")
            if v == 1:
                return [v]  # unhashable: the flow-key lookup raises
            return v

        return boom

    monkeypatch.setitem(registry.KEY_FUNCTIONS, "boom", boom_factory)
    defs = [
        ("bad", {"keys": "boom:ipprotocol", "value": "frames"}),
        ("badfilter", {"keys": "ipsource", "value": "frames", "filter": "boom:ipprotocol=6"}),
        ("badvalue", {"keys": "ipsource", "value": "avg:[boom:ipprotocol]"}),
        ("good", {"keys": "ipprotocol", "value": "frames"}),
        ("alsobad", {"keys": "ipsource,boom:ipprotocol", "value": "bytes"}),
    ]
    items = samples(seconds=3.0, seed=3, discards_per_second=0)
    c, py = engines(defs, [("th", {"metric": "good", "value": 10})])
    feed((c, py), items)
    udp = sum(1 for _, a, *_ in items if a.get("ipprotocol") == 17)
    icmp = sum(1 for _, a, *_ in items if a.get("ipprotocol") == 1)
    assert udp and icmp
    # per UDP sample: bad, badfilter, badvalue and alsobad raise; ICMP ([1], unhashable): the
    # flow-key lookups of bad and alsobad and the set membership of badfilter's filter
    assert c.errors == 4 * udp + 3 * icmp
    assert_same(c, py)
    assert {k[2] for k in c.tables["good"].entries} >= {1, 6, 17}
    assert {k[2] for k in c.tables["bad"].entries} == {6}


@needs_c
def test_base_exceptions_propagate_like_the_python_pipeline(monkeypatch):
    def stop_factory(args, engine):
        def stop(attrs):
            raise KeyboardInterrupt

        return stop

    monkeypatch.setitem(registry.KEY_FUNCTIONS, "stop", stop_factory)
    c, py = engines(
        [
            ("a", {"value": "frames"}),
            ("b", {"keys": "stop:x", "value": "frames"}),
            ("c", {"value": "bytes"}),
        ],
        [],
    )
    for fe in (c, py):
        with pytest.raises(KeyboardInterrupt):
            fe.process({"frames": 1, "bytes": 100}, "1.2.3.4", "1", 10, T0)
    assert c.tables["a"].entries and not c.tables["c"].entries
    assert_same(c, py)


@needs_c
def test_unusual_numbers_and_mappings_take_the_same_path():
    class Attrs(dict):
        def get(self, k, default=None):
            return "x" + self[k] if k == "label" else super().get(k, default)

    defs = [
        ("big", {"keys": "label", "value": "bytes"}),
        ("real", {"keys": "label", "value": "ratio", "log": True, "flowStart": True}),
        ("tot", {"value": "frames"}),
    ]
    c, py = engines(defs, [("th", {"metric": "real", "value": 1.0, "byFlow": True})])
    rows = [
        ({"label": "a", "bytes": 10**30, "frames": 1, "ratio": 1.5}, 1000, T0),
        ({"label": "a", "bytes": 2**62, "frames": True, "ratio": float("inf")}, 7, T0 + 1),
        ({"label": "a", "bytes": 3, "frames": 2, "ratio": 2}, 1.5, T0 + 2),  # float rate
        ({"label": "b", "bytes": 5, "frames": 1, "ratio": float("nan")}, 3, 1_700_000_003),
        ({"label": "b", "bytes": -4, "frames": 1, "ratio": -1.0}, 3, 1_700_000_004),
        ({"label": "b", "bytes": 1, "frames": 1, "ratio": 0.5}, 2**70, T0 + 5),  # huge rate
        ({"label": "c", "bytes": "12", "frames": 1, "ratio": True}, 2, T0 + 6),  # str * rate
        ({"label": "c", "bytes": 1, "frames": 1, "ratio": 1e308}, 10, T0 + 6),
        ({"label": "c", "bytes": 1, "frames": 1, "ratio": 1e308}, 10, T0 + 6),
    ]
    for attrs, rate, now in rows:
        for cls in (dict, Attrs):
            for fe in (c, py):
                fe.process(cls(attrs), "10.0.0.1", "3", rate, now)
    assert c.errors and c.events and c.records
    assert {k[2] for k in c.tables["big"].entries} == {"a", "b", "c", "xa", "xb", "xc"}
    assert_same(c, py)
    # an int value keeps an exact int total
    assert c.tables["big"].entries[("10.0.0.1", "3", "a")][2] == 10**33 + 7 * 2**62 + 4.5


@needs_c
def test_no_leaks_over_many_samples():
    items = samples(seconds=3.0, seed=5)
    # no thresholds: their states legitimately keep more flow keys (and agent strings)
    c, _ = engines(DEFS[:5] + [d for d in EXTRA_DEFS if d[0] in ("vals", "regex", "fnval")], [])
    process = c._process_flow
    args = [(a, ag, ds, r) for _, a, ag, ds, r, d in items if not d][:2000]
    name = sys.intern("ipsource")
    agent = args[0][1]

    def run(rounds, t):
        for i in range(rounds):
            now = t + i * 0.25
            for a, ag, ds, r in args:
                process(a, ag, ds, r, now)
        return t + rounds * 0.25

    t = run(5, T0)  # every flow exists now
    gc.collect()
    refs = (
        sys.getrefcount(name),
        sys.getrefcount(agent),
        sys.getrefcount(args[0][0]),
        sys.getrefcount(process),
        sum(len(t.entries) for t in c.tables.values()),
    )
    tracemalloc.start()
    t = run(10, t)
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    t = run(60, t)  # 120,000 more samples
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert after - before < 200_000, after - before
    assert (
        sys.getrefcount(name),
        sys.getrefcount(agent),
        sys.getrefcount(args[0][0]),
        sys.getrefcount(process),
        sum(len(t.entries) for t in c.tables.values()),
    ) == refs
    assert c.errors == 0


@needs_c
def test_errors_do_not_leak(monkeypatch):
    def fail_factory(args, engine):
        def fail(attrs):
            raise ValueError("no")

        return fail

    monkeypatch.setitem(registry.KEY_FUNCTIONS, "fail", fail_factory)
    c, _ = engines(
        [
            ("f", {"keys": "fail:x", "value": "frames"}),
            ("g", {"value": "frames", "filter": "fail:y=1"}),
        ],
        [],
    )
    process, attrs = c._process_flow, {"frames": 1}
    for _ in range(2000):
        process(attrs, "a", "1", 1, T0)
    gc.collect()
    tracemalloc.start()
    for _ in range(20000):
        process(attrs, "a", "1", 1, T0)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert c.errors == 2 * 22000
    assert grown < 100_000


@needs_c
def test_reporting_an_error_leaves_no_handled_exception_behind(monkeypatch):
    """on_error runs as in an except block; afterwards a generator that called the pipeline
    while an outer frame was handling an exception does not keep that exception as its own."""

    def fail_factory(args, engine):
        def fail(attrs):
            raise ValueError("no")

        return fail

    monkeypatch.setitem(registry.KEY_FUNCTIONS, "fail", fail_factory)
    c, py = engines([("f", {"keys": "fail:x", "value": "frames"})], [])
    seen = []
    c._definition_failed = py._definition_failed = lambda table, exc: seen.append(
        sys.exception() is exc
    )
    c._rebuild()
    py._rebuild()
    out = []
    for fe in (c, py):

        def gen():
            fe.process({"frames": 1}, "a", "1", 1, T0)
            yield sys.exception()
            yield sys.exception()

        try:
            raise KeyError("outer")
        except KeyError:
            g = gen()
            inside = next(g)
        out.append((type(fe._process_flow).__name__, repr(inside), repr(next(g))))
    assert seen == [True, True]
    assert out == [
        ("Pipeline", "KeyError('outer')", "None"),
        ("function", "KeyError('outer')", "None"),
    ]


def test_pipeline_is_collected_with_its_engine():
    import weakref

    fe = FlowEngine(None)
    fe.set_flow("a", {"keys": "ipsource", "value": "bytes", "filter": "ipprotocol=6"})
    table = weakref.ref(fe.tables["a"])
    ref = weakref.ref(fe)
    del fe
    gc.collect()
    assert ref() is None and table() is None


def test_no_accel_environment_builds_python_pipelines():
    code = (
        "from engine.flows import pipeline; from engine.flows.engine import FlowEngine; "
        "fe = FlowEngine(None); fe.set_flow('a', {'value': 'frames'}); "
        "print(pipeline.fastpath is None, type(fe._process_flow).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, FLOWRT_NO_ACCEL="1"),
        timeout=60,
    )
    assert out.stdout.split() == ["True", "function"], out.stderr


@needs_c
def test_malformed_descriptions_are_refused():
    P = pipeline.fastpath.Pipeline
    ok_slot = ((0, "bytes"),)
    with pytest.raises(TypeError):
        P(((5, "x"),), (), print, math.exp)
    with pytest.raises(TypeError):
        P(ok_slot, ((None, {}, None, (3,), True),), print, math.exp)  # slot out of range
    with pytest.raises(TypeError):
        P(
            ok_slot,
            ((None, {}, (3, 0, False, False, 2, "notaset"), (), False, (0,), (1,), print),),
            print,
            math.exp,
        )
    p = P(ok_slot, (), print, math.exp)
    assert p({}, "a", "1", 1, T0) is None
    with pytest.raises(TypeError):
        p({}, "a", "1", 1)


@needs_c
def test_a_cleared_table_is_never_written_through_a_stale_dict():
    fe = FlowEngine(None)
    fe.set_flow("a", {"keys": "ipsource", "value": "bytes"})
    process, table = fe._process_flow, fe.tables["a"]
    process({"ipsource": "10.0.0.1", "bytes": 100}, "1.2.3.4", "1", 10, T0)
    old = table.entries
    table.clear(T0 + 1)  # rebinds table.entries, as on redefinition
    process({"ipsource": "10.0.0.2", "bytes": 100}, "1.2.3.4", "1", 10, T0 + 1)
    assert list(table.entries) == [("1.2.3.4", "1", "10.0.0.2")]
    assert list(old) == [("1.2.3.4", "1", "10.0.0.1")]


@needs_c
def test_random_filters_match_the_same_samples():
    import random

    rng = random.Random(42)
    keys = ["a", "b", "c", "[bits:a:0x3]", "null:d:7"]
    lits = [
        "1",
        "2",
        "6",
        "6.0",
        "1e1",
        "0x11",
        "x",
        "'x,y'",
        "True",
        "null",
        "-3",
        "2.5",
        "nan",
        "inf",
        "''",
    ]
    pats = ["1.*", "x|y", "[0-9]+", "(a|b)c", ".*\\..*", "T.*"]

    def term():
        k = rng.choice(keys)
        if rng.random() < 0.25:
            alts = ",".join(f'"{p}"' for p in rng.sample(pats, rng.randint(1, 2)))
            return f"{k}{rng.choice(['~', '!~'])}{alts}"
        return f"{k}{rng.choice(['=', '!='])}{','.join(rng.sample(lits, rng.randint(1, 3)))}"

    def expr(depth=0):
        r = rng.random()
        if depth > 2 or r < 0.4:
            return term()
        if r < 0.55:
            return f"!({expr(depth + 1)})"
        op = rng.choice(["&", "|"])
        return "(" + op.join(expr(depth + 1) for _ in range(rng.randint(2, 3))) + ")"

    values = [
        1,
        2,
        6,
        6.0,
        10,
        17,
        -3,
        2.5,
        float("nan"),
        float("inf"),
        True,
        False,
        "x",
        "x,y",
        "1",
        "6",
        "",
        "abc",
        "1.5",
        None,
    ]
    rows = []
    for i in range(100):
        attrs = {"frames": 1, "idx": i}
        for k in ("a", "b", "c", "d"):
            v = rng.choice(values)
            if v is not None:
                attrs[k] = v
        rows.append(attrs)
    # every set_flow rebuilds (and recompiles the Python oracle): a moderate number of filters
    defs = [(f"f{j}", {"keys": "idx", "value": "frames", "filter": expr()}) for j in range(70)]
    c, py = engines(defs, [])
    for attrs in rows:
        for fe in (c, py):
            fe.process(dict(attrs), "a", "1", 1, T0)
    matched = sum(len(t.entries) for t in c.tables.values())
    assert 0.1 < matched / (70 * 100) < 0.9
    assert_same(c, py)


@needs_c
def test_a_key_compared_with_the_pipeline_running_again_inside(monkeypatch):
    """The C pipeline looks flows up with a flow-key tuple it reuses; a key whose __eq__ runs
    the same pipeline again (re-entrance) must not find that tuple half-filled: the inner run
    takes a tuple of its own, and both engines end up alike."""

    class Key:
        inner = None

        def __init__(self, v):
            self.v = v

        def __hash__(self):
            return 7  # every key collides: __eq__ runs on each lookup

        def __eq__(self, other):
            if Key.inner is not None and not Key.busy:
                Key.busy = True
                try:
                    Key.inner()
                finally:
                    Key.busy = False
            return isinstance(other, Key) and other.v == self.v

        def __repr__(self):
            return f"Key({self.v})"

    Key.busy = False

    def key_factory(args, engine):
        return lambda attrs: Key(attrs.get("ipprotocol"))

    monkeypatch.setitem(registry.KEY_FUNCTIONS, "wrapkey", key_factory)
    c, py = engines(
        [
            ("k", {"keys": "wrapkey:x,ipsource", "value": "frames"}),
            ("plain", {"keys": "ipsource", "value": "bytes"}),
        ],
        [],
    )
    runs = []
    for fe in (c, py):
        n = [0]
        runs.append(n)

        def again(fe=fe, n=n):
            n[0] += 1
            fe.process(
                {"ipprotocol": 6, "ipsource": f"10.0.0.{n[0] % 3}", "frames": 1, "bytes": 10},
                "a",
                "1",
                1,
                T0 + 1,
            )

        Key.inner = again
        for i in range(30):
            fe.process(
                {"ipprotocol": i % 4, "ipsource": f"10.0.0.{i % 5}", "frames": 1, "bytes": 100},
                "a",
                "1",
                1,
                T0 + i * 0.01,
            )
        Key.inner = None
    assert runs[0][0] == runs[1][0] > 5  # the pipeline did run inside lookups
    ek, pk = c.tables["k"].entries, py.tables["k"].entries
    assert sorted((k[2].v, k[3]) for k in ek) == sorted((k[2].v, k[3]) for k in pk)
    assert sorted(map(repr, ek.values())) == sorted(map(repr, pk.values()))
    assert c.tables["plain"].entries == py.tables["plain"].entries
