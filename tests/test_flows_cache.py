"""Flow caches, smoothing, queries, logging and thresholds through the per-sample entry point
(FlowEngine.process with attribute dicts and explicit times)."""

import math

import pytest

from engine.errors import UnknownName
from engine.flows.cache import idle_timeout
from engine.flows.engine import FlowEngine

T0 = 1_700_000_000.0


def pkt(src="10.0.0.1", dst="10.0.0.2", size=1000, **kw):
    a = {"ipsource": src, "ipdestination": dst, "bytes": size, "frames": 1, "ipprotocol": 6}
    a.update(kw)
    return a


def feed(fe, seconds, per_second, attrs_fn, rate=1, agent="10.0.0.254", ds="1", start=T0):
    n = int(seconds * per_second)
    for i in range(n):
        fe.process(attrs_fn(i), agent, ds, rate, start + (i + 1) / per_second)
    return start + seconds


def test_steady_rate_converges_and_sampling_rate_scales():
    fe = FlowEngine(None)
    fe.set_flow("bytes", {"keys": "ipsource", "value": "bytes", "t": 2})
    # 100 samples/s of 1000-byte frames sampled 1:10 -> 1,000,000 bytes/s on the wire
    end = feed(fe, 30, 100, lambda i: pkt(), rate=10)
    [flow] = fe.active_flows("ALL", "bytes", now=end)
    assert flow["key"] == "10.0.0.1" and flow["agent"] == "10.0.0.254" and flow["dataSource"] == "1"
    assert flow["value"] == pytest.approx(1_000_000, rel=0.01)


def test_exact_smoothing_formula_and_decay():
    fe = FlowEngine(None)
    fe.set_flow("f", {"value": "bytes", "t": 4})
    fe.process(pkt(size=400), "a", "1", 2, T0)
    # one sample: x*R/t
    assert fe.active_flows("ALL", "f", now=T0)[0]["value"] == pytest.approx(400 * 2 / 4)
    fe.process(pkt(size=400), "a", "1", 2, T0 + 1)
    v1 = 200 * math.exp(-1 / 4) + 200
    assert fe.active_flows("ALL", "f", now=T0 + 1)[0]["value"] == pytest.approx(v1)
    # a stopped flow decays with time constant t ...
    assert fe.active_flows("ALL", "f", now=T0 + 5)[0]["value"] == pytest.approx(v1 * math.exp(-1))
    # ... and disappears once idle for idle_timeout(t)
    fe.tick(T0 + 1 + idle_timeout(4) + 0.5)
    assert fe.active_flows("ALL", "f", now=T0 + 1 + idle_timeout(4) + 0.5) == []
    assert fe.flows_json()["f"]["t"] == 4


def test_top_n_order_max_flows_min_value_and_metric_top_keys():
    fe = FlowEngine(None)
    fe.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "frames", "n": 3})
    weights = {f"10.0.0.{i}": i for i in range(1, 9)}  # 10.0.0.8 heaviest
    seq = [s for s, w in weights.items() for _ in range(w)]
    end = feed(fe, 20, len(seq) * 5, lambda i: pkt(src=seq[i % len(seq)]))
    flows = fe.active_flows("ALL", "pair", max_flows=100, now=end)
    assert [f["key"].split(",")[0] for f in flows] == [f"10.0.0.{i}" for i in range(8, 0, -1)]
    assert [f["value"] for f in flows] == sorted((f["value"] for f in flows), reverse=True)
    assert len(fe.active_flows("ALL", "pair", max_flows=2, now=end)) == 2
    big = fe.active_flows("ALL", "pair", min_value=flows[2]["value"], now=end)
    assert len(big) == 3
    [entry] = fe.metric_entries(None, "pair", end)
    assert entry.agent == "10.0.0.254" and entry.data_source == "1"
    assert entry.value == pytest.approx(flows[0]["value"])
    assert [k["key"] for k in entry.top_keys] == [f["key"] for f in flows[:3]]
    assert "pair" in fe.metric_names(end)


def test_agg_mode_max_and_sum_across_locations_and_agent_selection():
    fe = FlowEngine(None)
    fe.set_flow("src", {"keys": "ipsource", "value": "frames"})
    for i in range(400):
        now = T0 + i * 0.05
        fe.process(pkt(), "10.0.0.1", "1", 1, now)
        if i % 2:
            fe.process(pkt(), "10.0.0.2", "7", 1, now)
    now = T0 + 20
    [mx] = fe.active_flows("ALL", "src", agg_mode="max", now=now)
    [sm] = fe.active_flows("ALL", "src", agg_mode="sum", now=now)
    assert mx["agent"] == "10.0.0.1" and mx["flowN"] == 2
    assert mx["value"] == pytest.approx(20, rel=0.02)
    assert sm["value"] == pytest.approx(30, rel=0.02)
    [only2] = fe.active_flows("10.0.0.2", "src", now=now)
    assert only2["dataSource"] == "7" and only2["value"] == pytest.approx(10, rel=0.02)
    assert fe.active_flows(["10.0.0.3"], "src", now=now) == []
    assert fe.active_flows("10.0.0.3;10.0.0.2", "src", now=now)[0]["agent"] == "10.0.0.2"
    assert fe.flow_value("10.0.0.2", "7.src", "10.0.0.1", now=now) == pytest.approx(10, rel=0.02)
    assert fe.flow_value("ALL", "9.src", "10.0.0.1", now=now) is None
    with pytest.raises(UnknownName, match="no flow nosuch"):
        fe.active_flows("ALL", "nosuch")
    with pytest.raises(ValueError):
        fe.active_flows("ALL", "src", agg_mode="bogus")


def test_value_functions_and_values_array():
    fe = FlowEngine(None)
    fe.set_flow(
        "v",
        {
            "keys": "ipsource",
            "value": "avg:bytes",
            "values": ["count:ipdestination", "min:bytes", "max:bytes", "rate:frames"],
            "t": 2,
        },
    )
    sizes = [100, 300]
    end = feed(fe, 10, 50, lambda i: pkt(dst=f"10.9.0.{i % 4}", size=sizes[i % 2]), rate=5)
    [f] = fe.active_flows("ALL", "v", now=end)
    assert f["value"] == pytest.approx(200, rel=0.02)
    count, mn, mx, frames = f["values"]
    assert count == 4 and mn == 100 and mx == 300
    assert frames == pytest.approx(250, rel=0.02)


def test_count_value_is_a_sliding_window_of_distinct_values():
    """count: counts the distinct values seen in the last t seconds: values seen again stay,
    values not seen for t seconds drop out (also for thousands of values, e.g. DDoS sources)."""
    fe = FlowEngine(None)
    fe.set_flow("fanin", {"keys": "ipdestination", "value": "count:ipsource", "t": 2})
    now = T0
    for i in range(5000):  # 5000 sources in 0.5 s
        fe.process(pkt(src=f"10.{i >> 8}.{i & 255}.1"), "a", "3", 1, now + i * 1e-4)
    now += 0.5
    assert fe.active_flows("ALL", "fanin", now=now)[0]["value"] == 5000
    for i in range(300):  # 2 more seconds: only 3 sources keep sending
        now += 2.0 / 300
        fe.process(pkt(src=f"10.0.{i % 3}.1"), "a", "3", 1, now)
    assert fe.active_flows("ALL", "fanin", now=now)[0]["value"] == 3
    [e] = fe.tables["fanin"].entries.values()
    assert len(e[4]) == 3  # expired values are dropped, not just skipped


def test_total_flow_without_keys_and_http_transaction_flows():
    fe = FlowEngine(None)
    fe.set_flow("image_bytes", {"value": "resp_bytes", "t": 10, "filter": "httpmimetype~image/.*"})
    fe.set_flow("slow_reqs", {"keys": "httpurl", "value": "duration", "t": 10, "n": 5})
    fe.set_flow(
        "err_reqs",
        {
            "keys": "httpurl,httpstatus",
            "value": "requests",
            "t": 10,
            "n": 5,
            "filter": "range:httpstatus:400=true",
        },
    )
    fe.set_flow(
        "games_reqs", {"value": "requests", "t": 10, "filter": "uri:httpurl:path~/games/.*"}
    )
    reqs = [
        ("/login.php", 500000, 200, "text/html", 2000),
        ("/games/animals.php", 30000, 200, "image/png", 50000),
        ("/games/puzzles.php", 20000, 404, "text/html", 300),
        ("/index.php", 1000, 500, "image/gif", 10000),
    ]

    def http(i):
        url, dur, status, mime, resp = reqs[i % 4]
        return {
            "httpurl": url,
            "duration": dur,
            "httpstatus": status,
            "httpmimetype": mime,
            "resp_bytes": resp,
            "req_bytes": 100,
            "bytes": resp + 100,
            "requests": 1,
        }

    end = feed(fe, 60, 40, http, agent="10.0.0.150", ds="3.80")
    # 10 requests/s of each URL
    [img] = fe.active_flows("ALL", "image_bytes", now=end)
    assert img["value"] == pytest.approx(10 * (50000 + 10000), rel=0.02)
    slow = fe.active_flows("ALL", "slow_reqs", max_flows=5, now=end)
    assert [s["key"] for s in slow] == [
        "/login.php",
        "/games/animals.php",
        "/games/puzzles.php",
        "/index.php",
    ]
    assert slow[0]["dataSource"] == "3.80"
    errs = fe.active_flows("ALL", "err_reqs", now=end)
    assert sorted(e["key"] for e in errs) == ["/games/puzzles.php,404", "/index.php,500"]
    assert all(e["value"] == pytest.approx(10, rel=0.02) for e in errs)
    [games] = fe.active_flows("ALL", "games_reqs", now=end)
    assert games["value"] == pytest.approx(20, rel=0.02)


def test_log_records_active_timeout_end_and_cursor():
    fe = FlowEngine(None)
    fe.set_flow(
        "pair",
        {"keys": "ipsource,ipdestination", "value": "bytes", "log": True, "activeTimeout": 10},
    )
    got = []
    unsub = fe.subscribe_flows(got.append, ["pair"])
    now = T0
    for second in range(25):
        now = T0 + second
        fe.process(pkt(size=100), "10.0.0.254", "1", 10, now)
        fe.tick(now)
    recs = fe.flows_since("pair", -1, 100)
    assert len(recs) == 2  # flushed at 10 s and 20 s
    assert recs[0]["flowID"] > recs[1]["flowID"]  # newest first
    r = recs[1]
    assert r["name"] == "pair" and r["flowKeys"] == "10.0.0.1,10.0.0.2"
    assert r["agent"] == "10.0.0.254" and r["dataSource"] == "1"
    assert r["value"] == 11 * 100 * 10  # samples at 0..10 s
    assert r["end"] - r["start"] == 10000
    assert recs[0]["value"] == 10 * 100 * 10  # samples at 11..20 s
    assert got == recs[::-1]
    # the flow stops: one final record when it ends
    fe.tick(now + idle_timeout(2) + 1)
    newer = fe.flows_since("pair", recs[0]["flowID"], 100)
    assert len(newer) == 1 and newer[0]["value"] == 4 * 1000
    unsub()
    assert fe.flows_since(None, -1, 1) == newer


def test_flow_start_records_once_per_flow():
    fe = FlowEngine(None)
    fe.set_groups("emerging", {"block": ["192.0.2.0/24"]})
    fe.set_flow(
        "emerging",
        {
            "keys": "ipsource,ipdestination,group:ipdestination:emerging",
            "value": "frames",
            "log": True,
            "flowStart": True,
        },
    )
    for i in range(50):
        fe.process(pkt(dst="192.0.2.7"), "10.0.0.253", "1", 1, T0 + i * 0.1)
        fe.process(pkt(dst="198.51.100.1"), "10.0.0.253", "1", 1, T0 + i * 0.1)
        fe.tick(T0 + i * 0.1)
    recs = fe.flows_since("emerging")
    assert [r["flowKeys"] for r in recs] == ["10.0.0.1,192.0.2.7,block"]
    assert recs[0]["agent"] == "10.0.0.253"


def test_threshold_by_flow_fires_once_per_crossing_and_rearms():
    fe = FlowEngine(None)
    fe.set_flow("ddos", {"keys": "ipsource", "value": "frames"})
    fe.set_threshold("ddos", {"metric": "ddos", "value": 100, "byFlow": True, "timeout": 2})
    events = []
    fe.subscribe_events(events.append)
    now = T0

    def run(seconds, rates):
        nonlocal now
        for step in range(int(seconds * 10)):
            now += 0.1
            for src, pps in rates.items():
                for _ in range(int(pps / 10)):
                    fe.process(pkt(src=src), "10.0.0.254", "4", 1, now)
            if step % 10 == 0:
                fe.tick(now)

    run(10, {"10.1.1.1": 500, "10.2.2.2": 50})
    assert [e["flowKey"] for e in events] == ["10.1.1.1"]
    e = events[0]
    assert e["thresholdID"] == "ddos" and e["metric"] == "ddos" and e["agent"] == "10.0.0.254"
    assert e["dataSource"] == "4" and e["value"] > 100 and e["threshold"] == 100
    assert fe.threshold_triggered("ddos", "10.0.0.254", "4.ddos", "10.1.1.1")
    assert not fe.threshold_triggered("ddos", "10.0.0.254", "4.ddos", "10.2.2.2")
    run(10, {"10.1.1.1": 500, "10.3.3.3": 300})  # still above: no repeat; new flow fires
    assert [e["flowKey"] for e in events] == ["10.1.1.1", "10.3.3.3"]
    run(20, {})  # everything stops -> re-armed
    assert not fe.threshold_triggered("ddos", "10.0.0.254", "4.ddos", "10.1.1.1")
    run(10, {"10.1.1.1": 500})
    assert [e["flowKey"] for e in events] == ["10.1.1.1", "10.3.3.3", "10.1.1.1"]
    ids = [e["eventID"] for e in fe.events_since("ddos", -1, 10)]
    assert ids == sorted(ids, reverse=True) and len(ids) == 3
    assert fe.events_since("ddos", ids[1], 10)[0]["eventID"] == ids[0]


def test_threshold_not_by_flow_one_event_per_data_source():
    fe = FlowEngine(None)
    fe.set_threshold("big", {"metric": "tcp", "value": 10})  # before the flow exists
    fe.set_flow("tcp", {"keys": "ipsource", "value": "frames"})
    for i in range(200):
        fe.process(pkt(src=f"10.0.0.{i % 5}"), "a", "1", 1, T0 + i * 0.01)
    evts = fe.events_since("big")
    assert len(evts) == 1 and fe.threshold_triggered("big", "a", "1.tcp")
    assert not fe.threshold_triggered("big", "a", "2.tcp")


def test_redefine_and_delete_while_traffic_flows_and_bad_specs():
    fe = FlowEngine(None)
    fe.set_flow("f", {"keys": "ipsource", "value": "bytes"})
    for i in range(100):
        fe.process(pkt(), "a", "1", 1, T0 + i * 0.01)
        if i == 50:
            fe.set_flow("f", {"keys": "ipdestination", "value": "frames"})
    assert fe.active_flows("ALL", "f", now=T0 + 1)[0]["key"] == "10.0.0.2"
    assert fe.clear_flow("f") and not fe.clear_flow("f")
    fe.process(pkt(), "a", "1", 1, T0 + 2)
    assert fe.get_flow("f") is None
    for bad, reason in [
        ({"keys": 5}, "keys"),
        ({"value": 3}, "value"),
        ({"t": 0}, "t"),
        ({"t": "x"}, "t"),
        ({"n": -1}, "n"),
        ({"log": "maybe"}, "log"),
        ({"filter": "a="}, ""),
        ({"keys": "nosuch:x"}, "nosuch"),
        ({"aggMode": "weird"}, "aggMode"),
        ({"value": "avg:"}, ""),
        ({"activeTimeout": -1}, "activeTimeout"),
        ({"fs": 1}, "fs"),
    ]:
        with pytest.raises(ValueError) as exc:
            fe.set_flow("g", bad)
        assert reason in str(exc.value)
    with pytest.raises(ValueError):
        fe.set_flow("g", ["not", "an", "object"])
    with pytest.raises(ValueError):
        fe.set_flow("a/b", {})
    with pytest.raises(ValueError):
        fe.set_threshold("t", {"metric": "x"})
    with pytest.raises(ValueError):
        fe.set_threshold("t", {"metric": "x", "value": 1, "byFlow": "yes"})


def test_dropped_flows_see_only_discard_samples_and_fs():
    fe = FlowEngine(None)
    fe.set_flow(
        "drops", {"keys": "reason,ipsource", "value": "frames", "dropped": True, "fs": "_SEP_"}
    )
    fe.set_flow("all", {"value": "frames"})
    fe.process(pkt(reason="acl"), "a", "1", 1, T0, dropped=True)
    fe.process(pkt(), "a", "1", 1, T0)
    assert fe.active_flows("ALL", "drops", now=T0)[0]["key"] == "acl_SEP_10.0.0.1"
    assert fe.active_flows("ALL", "all", now=T0)[0]["value"] == pytest.approx(0.5)


def test_enricher_runs_only_when_a_definition_needs_it():
    fe = FlowEngine(None)
    calls = []

    def enrich(sample, attrs):
        calls.append(1)
        attrs["bgpsourceas"] = 65001

    fe.add_enricher(enrich, {"bgpsourceas"})
    fe.set_flow("plain", {"keys": "ipsource"})
    fe.process(pkt(), "a", "1", 1, T0)
    assert calls == []
    fe.set_flow("as", {"keys": "mask:ipsource:16,bgpsourceas", "value": "frames"})
    fe.process(pkt(), "a", "1", 1, T0)
    assert calls == [1]
    assert fe.active_flows("ALL", "as", now=T0)[0]["key"] == "10.0.0.0/16,65001"


def test_cache_is_bounded():
    fe = FlowEngine(None)
    fe.max_entries = 1000
    fe.set_flow("f", {"keys": "ipsource", "value": "frames"})
    for i in range(5000):
        fe.process(
            pkt(src=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"), "a", "1", 1, T0 + i * 1e-4
        )
    assert len(fe.tables["f"].entries) <= 1000
    assert fe.tables["f"].evicted > 0


def test_flow_keys_seen():
    fe = FlowEngine(None)
    fe.process(pkt(tcpsourceport=80), "a", "1", 1, T0)
    keys = fe.flow_keys(now=T0 + 2)
    assert keys["ipsource"] == 2000 and "tcpsourceport" in keys


def test_enricher_runs_for_attributes_a_key_function_reads():
    fe = FlowEngine(None)
    fe.add_enricher(
        lambda sample, attrs: attrs.setdefault("ipsourcemaskbits", 12), {"ipsourcemaskbits"}
    )
    fe.set_flow("ddos", {"keys": "mask:ipsource,bgpsourceas", "value": "frames"})
    fe.process(pkt(src="198.51.100.7", bgpsourceas=64500), "a", "1", 1, T0)
    assert fe.active_flows("ALL", "ddos", now=T0)[0]["key"] == "198.48.0.0/12,64500"


def test_a_failing_key_function_does_not_stop_other_definitions():
    from engine.flows.registry import KEY_FUNCTIONS, register

    if "testboom" not in KEY_FUNCTIONS:

        def boom(args, engine):
            def extract(attrs):
                raise RuntimeError("boom")

            return extract

        register("testboom", boom)
    fe = FlowEngine(None)
    fe.set_flow("bad", {"keys": "testboom:ipsource", "value": "frames"})
    fe.set_flow("good", {"keys": "ipsource", "value": "frames"})
    fe.process(pkt(), "a", "1", 1, T0)
    assert fe.errors == 1
    assert fe.active_flows("ALL", "good", now=T0)[0]["key"] == "10.0.0.1"
    assert fe.active_flows("ALL", "bad", now=T0) == []


def test_activeflows_key_filter():
    fe = FlowEngine(None)
    fe.set_flow("pair", {"keys": "ipsource,mask:ipdestination:24", "value": "frames"})
    for i in range(30):
        fe.process(pkt(src=f"10.0.0.{i % 3}", dst="10.9.9.9"), "a", "1", 1, T0 + i * 0.01)
    now = T0 + 1
    assert {
        r["key"]
        for r in fe.active_flows("ALL", "pair", now=now, key_filter="ipsource=10.0.0.1,10.0.0.2")
    } == {"10.0.0.1,10.9.9.0/24", "10.0.0.2,10.9.9.0/24"}
    assert (
        fe.active_flows("ALL", "pair", now=now, key_filter="mask:ipdestination:24~10\\.8.*") == []
    )
    assert (
        len(fe.active_flows("ALL", "pair", now=now, key_filter="agent=a&ipsource!=10.0.0.0")) == 2
    )
    with pytest.raises(ValueError):
        fe.active_flows("ALL", "pair", now=now, key_filter="ipsource=(")


def test_threshold_filter_uses_metric_filter_patterns():
    """A threshold filter matches like a metric query filter: '*' patterns, and a name the data
    source lacks is looked up on the agent's host data source (host_name here)."""
    import time

    from engine.core import Engine
    from engine.props import DEFAULTS, Properties

    eng = Engine(Properties(dict(DEFAULTS)))
    metrics, fe = eng.subsystems["metrics"], eng.subsystems["flows"]
    now = time.time()
    for agent, host in (("10.0.0.1", "web1.example"), ("10.0.0.2", "db1.example")):
        metrics.update(
            agent,
            "2.1",
            2,
            1,
            [
                {
                    "counterBlock_tag": "0:2000",
                    "hostname": host,
                    "UUID": "",
                    "machine_type": 3,
                    "os_name": 2,
                    "os_release": "6.1",
                }
            ],
            now,
        )
    fe.set_threshold("web", {"metric": "tcp", "value": 10, "filter": {"host_name": ["web*"]}})
    fe.set_flow("tcp", {"keys": "ipsource", "value": "frames"})
    for agent in ("10.0.0.1", "10.0.0.2"):
        for i in range(200):
            fe.process(pkt(), agent, "3", 1, now + i * 0.01)
    evts = fe.events_since("web")
    assert [e["agent"] for e in evts] == ["10.0.0.1"]
    with pytest.raises(ValueError):
        fe.set_threshold("bad", {"metric": "tcp", "value": 1, "filter": {"host_name": [{}]}})


def test_flow_queries_select_agents_like_metric_queries():
    """activeFlows, flowValue and the flow metric in metric()/dump() resolve agent selectors
    with the metric store's one implementation: host names, lists, TOPOLOGY (nothing until a
    topology registers it), and a malformed selector is refused."""
    import time

    from engine.core import Engine
    from engine.props import DEFAULTS, Properties

    eng = Engine(Properties(dict(DEFAULTS)))
    metrics, fe = eng.subsystems["metrics"], eng.subsystems["flows"]
    now = time.time()
    metrics.update(
        "10.0.0.1",
        "2.1",
        2,
        1,
        [
            {
                "counterBlock_tag": "0:2000",
                "hostname": "web1",
                "UUID": "",
                "machine_type": 3,
                "os_name": 2,
                "os_release": "6.1",
            }
        ],
        now,
    )
    fe.set_flow("src", {"keys": "ipsource", "value": "frames"})
    for agent in ("10.0.0.1", "10.0.0.2"):
        for i in range(20):
            fe.process(pkt(), agent, "3", 1, now + i * 0.01)
    now += 0.2
    assert {f["agent"] for f in fe.active_flows("web1", "src", now=now)} == {"10.0.0.1"}
    assert fe.active_flows("10.0.0.2;web1", "src", now=now)[0]["flowN"] == 2
    assert fe.flow_value("web1", "3.src", "10.0.0.1", now=now) > 0
    assert fe.flow_value("10.0.0.2", "3.src", "10.0.0.1", now=now) > 0
    assert fe.active_flows("TOPOLOGY", "src", now=now) == []
    assert metrics.query_dump("TOPOLOGY", "src", now=now) == []
    metrics.add_agent_selector("TOPOLOGY", lambda: {"10.0.0.2"})
    assert [f["agent"] for f in fe.active_flows("TOPOLOGY", "src", now=now)] == ["10.0.0.2"]
    assert [m["agent"] for m in metrics.query_dump("TOPOLOGY", "src", now=now)] == ["10.0.0.2"]
    with pytest.raises(ValueError):
        fe.active_flows(" ; ", "src", now=now)


def test_threshold_spec_numbers_as_strings_and_echo():
    """REST bodies and JS objects get the same coercion (in the engine, not the adapters)."""
    fe = FlowEngine(None)
    fe.set_threshold("t", {"metric": "load_one", "value": "1.5", "timeout": "10"})
    assert fe.get_threshold("t") == {
        "metric": "load_one",
        "value": 1.5,
        "byFlow": False,
        "timeout": 10,
    }
    fe.set_threshold("u", {"metric": "tcp", "value": 125000.0, "byFlow": True})
    assert fe.get_threshold("u")["value"] == 125000 and fe.get_threshold("u")["timeout"] == 0
    for bad in (
        {"metric": "x"},
        {"metric": "x", "value": "lots"},
        {"metric": "x", "value": 1, "timeout": -1},
    ):
        with pytest.raises(ValueError):
            fe.set_threshold("bad", bad)
    fe.set_flow("f", {"keys": ["ipsource", "ipdestination"], "n": "20", "t": "2"})
    assert fe.get_flow("f")["keys"] == "ipsource,ipdestination" and fe.get_flow("f")["n"] == 20


def test_active_flows_arguments_as_text_or_numbers():
    """maxFlows/minValue come as query-string text (REST) or numbers/strings (JS): one
    coercion, in the engine; bad text is a ValueError (REST 400)."""
    fe = FlowEngine(None)
    fe.set_flow("src", {"keys": "ipsource", "value": "frames"})
    for i in range(30):
        fe.process(pkt(src=f"10.0.0.{i % 3}"), "a", "3", 1, T0 + i * 0.01)
    now = T0 + 0.3
    assert len(fe.active_flows("ALL", "src", "2", now=now)) == 2
    assert len(fe.active_flows("ALL", "src", 1.0, now=now)) == 1
    assert fe.active_flows("ALL", "src", None, "1e9", now=now) == []
    assert len(fe.active_flows("ALL", "src", None, None, now=now)) == 3
    for bad in ({"max_flows": "lots"}, {"min_value": "x"}, {"min_value": float("nan")}):
        with pytest.raises(ValueError):
            fe.active_flows("ALL", "src", now=now, **bad)
