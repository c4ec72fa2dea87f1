"""metric()/table()/dump() semantics over a store filled through update(): agent selectors,
aggregations, filters (exact and pattern), datasource-qualified names, table sort/null, dump,
providers (flow metrics with topKeys), staleness."""

from __future__ import annotations

import math
import statistics
import time

import pytest

from engine.metrics import MetricEntry, MetricStore
from engine.metrics.aggregate import quantile
from engine.metrics.filters import compile_filter

T0 = 2_000_000.0
NOW = T0 + 10.5


def host(store, agent, name, load, *, os_name=2, cpus=4, t=T0, seq=1, up=0, domains=None):
    recs = [
        {
            "counterBlock_tag": "0:2000",
            "hostname": name,
            "UUID": "u",
            "machine_type": 3,
            "os_name": os_name,
            "os_release": "6.1",
        },
        {
            "counterBlock_tag": "0:2003",
            "cpu_load_one": load,
            "cpu_load_five": load,
            "cpu_load_fifteen": load,
            "cpu_proc_run": 1,
            "cpu_proc_total": 10,
            "cpu_num": cpus,
            "cpu_speed": 1000,
            "cpu_uptime": 1,
            "cpu_user": 0,
            "cpu_nice": 0,
            "cpu_system": 0,
            "cpu_idle": 0,
            "cpu_wio": 0,
            "cpuintr": 0,
            "cpu_sintr": 0,
            "cpuinterrupts": 0,
            "cpu_contexts": 0,
        },
    ]
    if domains is not None:
        recs.append(
            {
                "counterBlock_tag": "0:2100",
                "vnode_mhz": 1,
                "vnode_cpus": cpus,
                "vnode_memory": 1,
                "vnode_memory_free": 1,
                "vnode_num_domains": domains,
            }
        )
    store.update(agent, "2.1", 2, seq, recs, t, up)


def port(store, agent, ifindex, octets, speed=10**9, name=None, t=T0, seq=1, up=0):
    recs = [
        {
            "counterBlock_tag": "0:1",
            "ifIndex": ifindex,
            "networkType": 6,
            "ifSpeed": speed,
            "ifDirection": 1,
            "ifStatus": 3,
            "ifInOctets": octets,
            "ifInUcastPkts": 0,
            "ifInMulticastPkts": 0,
            "ifInBroadcastPkts": 0,
            "ifInDiscards": 0,
            "ifInErrors": 0,
            "ifInUnknownProtos": 0,
            "ifOutOctets": 0,
            "ifOutUcastPkts": 0,
            "ifOutMulticastPkts": 0,
            "ifOutBroadcastPkts": 0,
            "ifOutDiscards": 0,
            "ifOutErrors": 0,
            "ifPromiscuousMode": 0,
        }
    ]
    if name:
        recs.append({"counterBlock_tag": "0:1005", "ifName": name})
    store.update(agent, str(ifindex), 0, seq, recs, t, up)


@pytest.fixture
def store():
    s = MetricStore()
    loads = {"10.0.0.1": 0.5, "10.0.0.2": 1.5, "10.0.0.3": 2.0, "10.0.0.4": 4.0}
    for i, (agent, load) in enumerate(loads.items()):
        host(
            s,
            agent,
            f"web{i}" if i < 3 else "db0",
            load,
            os_name=2 if i != 1 else 3,
            domains=i if i < 2 else None,
        )
        for ifindex in (1, 2):
            port(s, agent, ifindex, 0, name=f"eth{ifindex}")
            # second sample: (i+1)*ifindex*1000 B/s
            port(
                s,
                agent,
                ifindex,
                (i + 1) * ifindex * 10_000,
                name=f"eth{ifindex}",
                t=T0 + 10,
                seq=2,
                up=10_000,
            )
    return s


def stat(store, agents, metric, flt=None):
    return store.query_metric(agents, metric, flt, now=NOW)


def test_aggregations(store):
    loads = [0.5, 1.5, 2.0, 4.0]
    res = stat(
        store,
        "ALL",
        "load_one,max:load_one,min:load_one,sum:load_one,avg:load_one,"
        "var:load_one,sdev:load_one,med:load_one,q1:load_one,q3:load_one,"
        "iqr:load_one,any:load_one",
    )
    by = {r["metricName"]: r for r in res}
    assert [r["metricName"] for r in res][0] == "load_one"
    assert all(r["metricN"] == 4 for r in res)
    assert by["load_one"]["metricValue"] == 4.0 and by["load_one"]["agent"] == "10.0.0.4"
    assert by["max:load_one"]["dataSource"] == "2.1"
    assert by["min:load_one"]["metricValue"] == 0.5 and by["min:load_one"]["agent"] == "10.0.0.1"
    assert by["sum:load_one"]["metricValue"] == pytest.approx(8.0)
    assert by["avg:load_one"]["metricValue"] == pytest.approx(2.0)
    assert by["var:load_one"]["metricValue"] == pytest.approx(statistics.variance(loads))
    assert by["sdev:load_one"]["metricValue"] == pytest.approx(statistics.stdev(loads))
    assert by["med:load_one"]["metricValue"] == pytest.approx(1.75)
    assert by["med:load_one"]["quartiles"] == {
        "min": 0.5,
        "q1": 1.25,
        "med": 1.75,
        "q3": 2.5,
        "max": 4.0,
    }
    assert by["q1:load_one"]["metricValue"] == pytest.approx(1.25)
    assert by["q3:load_one"]["metricValue"] == pytest.approx(2.5)
    assert by["iqr:load_one"]["metricValue"] == pytest.approx(1.25)
    assert by["any:load_one"]["metricValue"] in loads
    for r in res:
        assert r["lastUpdateMin"] <= r["lastUpdate"] <= r["lastUpdateMax"]
        assert r["lastUpdateMax"] == 10_500  # host samples arrived at T0


def test_quantile_matches_numpy_linear():
    data = sorted([3.0, 1.0, 7.0, 2.0, 10.0])
    assert (
        quantile(data, 0.25) == 2.0 and quantile(data, 0.5) == 3.0 and quantile(data, 0.75) == 7.0
    )
    assert quantile([1.0, 2.0], 0.5) == 1.5


def test_agent_selectors(store):
    assert stat(store, "10.0.0.2", "load_one")[0]["metricValue"] == 1.5
    for sel in ("10.0.0.1;10.0.0.3", "10.0.0.1,10.0.0.3", ["10.0.0.1", "10.0.0.3"]):
        r = stat(store, sel, "sum:load_one")[0]
        assert r["metricN"] == 2 and r["metricValue"] == pytest.approx(2.5)
    assert stat(store, "db0", "load_one")[0]["agent"] == "10.0.0.4"  # host name
    assert stat(store, "10.9.9.9", "load_one")[0]["metricN"] == 0
    assert stat(store, "TOPOLOGY", "load_one")[0]["metricN"] == 0  # no topology
    store.add_agent_selector("TOPOLOGY", lambda: {"10.0.0.3"})
    assert stat(store, "TOPOLOGY", "load_one")[0]["metricValue"] == 2.0


def test_datasource_qualified_names(store):
    r = stat(store, "ALL", "sum:2.ifinoctets,sum:1.ifinoctets,2.1.load_one")
    assert r[0]["metricN"] == 4 and r[0]["metricValue"] == pytest.approx(2000 * (1 + 2 + 3 + 4))
    assert r[1]["metricValue"] == pytest.approx(1000 * 10)
    assert r[2]["metricValue"] == 4.0
    assert stat(store, "ALL", "3.ifinoctets")[0]["metricN"] == 0


def test_filters_exact_numeric_and_pattern(store):
    assert stat(store, "ALL", "sum:load_one", {"os_name": ["linux"]})[0]["metricN"] == 3
    assert stat(store, "ALL", "sum:load_one", {"os_name": ["windows", "linux"]})[0]["metricN"] == 4
    assert stat(store, "ALL", "max:load_one", {"host_name": ["web*"]})[0]["metricValue"] == 2.0
    assert stat(store, "ALL", "max:load_one", {"host_name": ["*0"]})[0]["metricN"] == 2
    assert stat(store, "ALL", "max:load_one", {"host_name": ["we"]})[0]["metricN"] == 0
    # numbers: JS numbers and query-string numbers both compare numerically
    assert stat(store, "ALL", "sum:load_one", {"cpu_num": [4]})[0]["metricN"] == 4
    assert stat(store, "ALL", "sum:load_one", {"cpu_num": ["4"]})[0]["metricN"] == 4
    assert stat(store, "ALL", "sum:ifinoctets", {"ifspeed": [1e9]})[0]["metricN"] == 8
    assert stat(store, "ALL", "sum:ifinoctets", {"ifspeed": ["10e9"]})[0]["metricN"] == 0
    # AND across names; '*' alone = has the metric (swarmmetrics.js: node_domains ['*'])
    r = stat(store, "ALL", "sum:node_domains", {"node_domains": ["*"], "host_name": ["web*"]})[0]
    assert r["metricN"] == 2 and r["metricValue"] == 1
    # interface metrics filtered by the agent's host metrics (looked up in the host data source)
    r = stat(store, "ALL", "sum:ifinoctets", {"host_name": ["db0"], "ifname": ["eth2"]})[0]
    assert r["metricN"] == 1 and r["metricValue"] == pytest.approx(8000)


def test_pattern_semantics():
    ((name, m),) = compile_filter({"vir_host_name": ["apache\\.*"]})
    assert m("apache.1.xyz") and m("apache.") and not m("apache") and not m("apache2.1.x")
    assert not m("nginx.1.abc") and not m("my-apache.1")
    ((_, m),) = compile_filter({"host_name": ["vx*host*"]})
    assert m("vx0host") and m("vx12host-b") and not m("v0host")
    ((_, m),) = compile_filter({"x": ["*"]})
    assert m("") and m("a") and m(3) and not m(None)
    ((_, m),) = compile_filter({"x": ["a.c"]})  # dots are literal
    assert m("a.c") and not m("abc")
    ((_, m),) = compile_filter({"x": ["1\\*2"]})  # escaped star is literal
    assert m("1*2") and not m("112")
    with pytest.raises(ValueError):
        compile_filter(["not", "a", "dict"])


def test_table_sort_null_and_filter(store):
    rows = store.query_table("ALL", "sort:ifinoctets:-3,ifname,null:nosuch,host_name", now=NOW)
    assert len(rows) == 3
    assert [r[0]["metricValue"] for r in rows] == pytest.approx([8000, 6000, 4000])
    assert [r[1]["metricValue"] for r in rows[:2]] == ["eth2", "eth2"]
    assert all(r[2] is None for r in rows)
    assert rows[0][3] == {
        "agent": "10.0.0.4",
        "dataSource": "2.1",
        "metricName": "host_name",
        "metricValue": "db0",
        "lastUpdate": 10_500,
    }
    rows = store.query_table("ALL", "ifname,sort:ifinoctets:2", {"host_name": ["web*"]}, now=NOW)
    assert [r[1]["metricValue"] for r in rows] == pytest.approx([1000, 2000])
    # a non-null column missing drops the row
    assert store.query_table("ALL", "ifname,nosuch", now=NOW) == []
    with pytest.raises(ValueError):
        store.query_table("ALL", "null:ifname", now=NOW)
    with pytest.raises(ValueError):
        store.query_table("ALL", "avg:ifname", now=NOW)


def test_dump(store):
    out = store.query_dump("10.0.0.1", "ifname;ifinoctets", now=NOW)
    assert {(d["dataSource"], d["metricName"]) for d in out} == {
        ("1", "ifname"),
        ("2", "ifname"),
        ("1", "ifinoctets"),
        ("2", "ifinoctets"),
    }
    assert all(
        set(d) == {"agent", "dataSource", "metricName", "metricValue", "lastUpdate"} for d in out
    )
    everything = store.query_dump("10.0.0.2", "ALL", now=NOW)
    assert {d["dataSource"] for d in everything} == {"1", "2", "2.1"}
    assert any(d["metricName"] == "load_one" and d["metricValue"] == 1.5 for d in everything)
    assert (
        store.query_dump("ALL", "load_one", {"os_name": ["windows"]}, now=NOW)[0]["agent"]
        == "10.0.0.2"
    )


def test_string_metrics_and_agent_metrics(store):
    r = stat(store, "ALL", "host_name,min:host_name,any:host_name,avg:host_name")
    assert r[0]["metricValue"] == "web2" and r[1]["metricValue"] == "db0"
    assert r[2]["metricN"] == 4
    assert r[3]["metricN"] == 0 and "metricValue" not in r[3]
    m = store.agent_metrics("10.0.0.1", now=NOW)
    assert m["2.1.host_name"] == "web0" and m["2.ifname"] == "eth2"
    assert m["1.ifinoctets"] == pytest.approx(1000)
    assert store.agent_metrics("10.9.9.9", now=NOW) is None
    names = store.metric_names(now=NOW)
    assert "load_one" in names and "ifinutilization" in names and names["ifinoctets"] == 500


def test_bad_input(store):
    for metrics in ("foo:load_one", "", ",", "load one", 5):
        with pytest.raises(ValueError):
            store.query_metric("ALL", metrics, now=NOW)
    with pytest.raises(ValueError):
        store.query_metric("", "load_one", now=NOW)
    with pytest.raises(ValueError):
        store.query_metric("ALL", "load_one", {"host_name": {"a": 1}}, now=NOW)


def test_stale_data_sources_expire():
    s = MetricStore(timeout=60)
    host(s, "10.0.0.1", "a", 1.0, t=T0, seq=1, up=0)
    host(s, "10.0.0.1", "a", 1.0, t=T0 + 10, seq=2, up=10_000)  # polling interval 10 s
    host(s, "10.0.0.2", "b", 2.0, t=T0, seq=1, up=0)  # seen once: metrics.timeout
    assert stat_at(s, T0 + 40, "sum:load_one")["metricN"] == 2  # 30 s < 3 x 10 s + 1
    assert stat_at(s, T0 + 41.5, "sum:load_one")["metricN"] == 1  # missed 3 polls
    assert stat_at(s, T0 + 61, "sum:load_one")["metricN"] == 0
    s.sweep(T0 + 61)
    assert not s.agents and not s.index and not s.name_seen
    assert s.metric_names(now=T0 + 61) == {}
    # without queries, the sweep removes them
    s2 = MetricStore(timeout=60)
    host(s2, "10.0.0.1", "a", 1.0, t=T0, seq=1, up=0)
    port(s2, "10.0.0.1", 1, 0, t=T0, seq=1, up=0)
    assert s2.sweep(T0 + 30) == 0 and s2.sweep(T0 + 61) == 2 and not s2.index


def stat_at(s, now, metric):
    return s.query_metric("ALL", metric, now=now)[0]


def test_data_source_returning_after_expiry_starts_fresh():
    s = MetricStore(timeout=60)
    port(s, "10.0.0.1", 1, 0, t=T0, seq=1, up=0)
    port(s, "10.0.0.1", 1, 10_000, t=T0 + 10, seq=2, up=10_000)
    port(s, "10.0.0.1", 1, 10_000_000, t=T0 + 500, seq=3, up=500_000)
    v = s.agents["10.0.0.1"].sources["1"].values
    assert "ifinoctets" not in v  # no rate across a 490 s gap


class FlowProvider:
    """A stand-in for the flows subsystem, exposing one flow metric."""

    def __init__(self):
        self.rows = [
            MetricEntry(
                "10.0.0.1",
                "1",
                "tcp_bytes",
                300.0,
                200,
                [{"key": "10.1.1.1,10.2.2.2", "value": 300.0, "lastUpdate": 200}],
            ),
            MetricEntry(
                "10.0.0.2",
                "2",
                "tcp_bytes",
                900.0,
                100,
                [{"key": "10.1.1.3,10.2.2.4", "value": 900.0, "lastUpdate": 100}],
            ),
        ]

    def metric_names(self, now):
        return {"tcp_bytes": 100}

    def metric_entries(self, agents, name, now):
        if name != "tcp_bytes":
            return []
        return [r for r in self.rows if agents is None or r.agent in agents]

    def datasource_info(self, agent, ds):
        return {"samplingRate": 1000} if (agent, ds) == ("10.0.0.1", "1") else None


def test_provider_metrics(store):
    store.add_provider(FlowProvider())
    assert store.metric_names(now=NOW)["tcp_bytes"] == 100
    r = stat(store, "ALL", "tcp_bytes,sum:tcp_bytes,avg:load_one")
    assert r[0]["metricValue"] == 900.0 and r[0]["agent"] == "10.0.0.2"
    assert r[0]["topKeys"][0]["key"] == "10.1.1.3,10.2.2.4"
    assert r[1]["metricValue"] == pytest.approx(1200.0) and "topKeys" not in r[1]
    assert r[2]["metricN"] == 4
    # filters apply to flow metrics through the counter metrics of their data source
    r = stat(store, "ALL", "sum:tcp_bytes", {"host_name": ["web0"]})[0]
    assert r["metricN"] == 1 and r["metricValue"] == 300.0
    assert stat(store, "ALL", "sum:2.tcp_bytes")[0]["metricValue"] == 900.0
    dump = store.query_dump("10.0.0.1", "tcp_bytes", now=NOW)
    assert dump == [
        {
            "agent": "10.0.0.1",
            "dataSource": "1",
            "metricName": "tcp_bytes",
            "metricValue": 300.0,
            "lastUpdate": 200,
            "topKeys": FlowProvider().rows[0].top_keys,
        }
    ]
    rows = store.query_table("ALL", "sort:tcp_bytes:-5,ifname", now=NOW)
    assert [(r[0]["agent"], r[1]["metricValue"]) for r in rows] == [
        ("10.0.0.2", "eth2"),
        ("10.0.0.1", "eth1"),
    ]
    rows = store.query_table("ALL", "ifname,null:tcp_bytes", {"host_name": ["web0"]}, now=NOW)
    assert [(r[0]["dataSource"], r[1] and r[1]["metricValue"]) for r in rows] == [
        ("1", 300.0),
        ("2", None),
    ]
    entries = store.entries("ALL", "tcp_bytes", now=NOW)
    assert {(e.agent, e.value) for e in entries} == {("10.0.0.1", 300.0), ("10.0.0.2", 900.0)}
    assert store.agent_metrics("10.0.0.1", now=NOW)["1.tcp_bytes"] == 300.0
    info = store.datasource_info("10.0.0.1", "1", now=NOW)
    assert info["samplingRate"] == 1000 and info["counterSamples"] == 2


def test_entries_for_thresholds(store):
    es = store.entries("ALL", "ifinutilization", {"host_name": ["db0"]}, now=NOW)
    assert sorted((e.data_source, round(e.value, 6)) for e in es) == [
        ("1", round(4000 * 800 / 1e9, 6)),
        ("2", round(8000 * 800 / 1e9, 6)),
    ]
    assert all(e.last_update_ms == 500 and e.top_keys is None for e in es)


def test_values_are_json_finite(store):
    for r in stat(store, "ALL", "avg:load_one,var:load_one,sdev:ifinoctets"):
        assert math.isfinite(r["metricValue"])


def test_prometheus_formatting():
    from prometheus_client.parser import text_string_to_metric_families
    from engine.rest.prometheus import analyzer_text, label_value, metric_name, metrics_text

    assert metric_name("fv-bytes.1") == "sflow_fv_bytes_1"
    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    s = MetricStore()
    host(s, "10.0.0.1", 'we"ird\\host', 0.5, t=time.time())
    body = metrics_text(s, "ALL", "load_one,host_name")
    (fam,) = list(text_string_to_metric_families(body))
    assert fam.samples[0].labels == {
        "agent": "10.0.0.1",
        "datasource": "2.1",
        "host": 'we"ird\\host',
    }
    assert fam.samples[0].value == 0.5
    text = analyzer_text(
        {"version": "1.0", "sFlowAgents": 3, "cpuLoadProcess": 0.25, "updateAvailable": False}
    )
    assert text == (
        "# HELP sflow_analyzer_agents sFlow agents known\nsflow_analyzer_agents 3\n"
        "# HELP sflow_analyzer_cpu_load_process CPU load of the flowrt process (0..1)\n"
        "sflow_analyzer_cpu_load_process 0.25\n"
    )


def test_filter_matches(store):
    assert store.filter_matches("10.0.0.4", "2", {"host_name": ["db*"], "ifspeed": [1e9]}, now=NOW)
    assert not store.filter_matches("10.0.0.4", "2", {"host_name": ["web*"]}, now=NOW)
    assert store.filter_matches("10.0.0.4", "2", None, now=NOW)
    assert not store.filter_matches("10.9.9.9", "1", {"ifname": ["*"]}, now=NOW)
    compiled = compile_filter({"ifname": ["eth1"]})
    assert store.filter_matches("10.0.0.1", "1", compiled, now=NOW)
    assert not store.filter_matches("10.0.0.1", "2", compiled, now=NOW)


def test_timeout_property():
    from engine.props import DEFAULTS, Properties

    class FakeEngine:
        def __init__(self, value):
            self.props = Properties(dict(DEFAULTS, **{"metrics.timeout": value}))

    assert MetricStore(FakeEngine("15")).timeout == 15.0
    assert MetricStore(FakeEngine("soon")).timeout == 60.0
    assert MetricStore(FakeEngine("-1")).timeout == 60.0
    s = MetricStore(FakeEngine("15"))
    host(s, "10.0.0.1", "a", 1.0, t=T0)
    assert stat_at(s, T0 + 14, "load_one")["metricN"] == 1
    assert stat_at(s, T0 + 16, "load_one")["metricN"] == 0
