"""Metric REST API and Prometheus exposition against a running engine fed real UDP sFlow from
the generator (and real captures), compared with the generator's known true values."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.sflow.gen import Scenario, TrafficGenerator
from engine.sflow.pcap import read_pcap

from conftest import SFLOW_TESTDATA


@pytest.fixture(scope="module")
def fed():
    """An engine that has received 3 polls (10 s apart on the agents' clocks) from 3 hosts
    with 2 switch ports and 6 containers each."""
    from conftest import RunningEngine

    eng = RunningEngine().start()
    gen = TrafficGenerator(
        Scenario(
            agents=3,
            hosts=True,
            containers=6,
            ports=2,
            flows=4,
            samples_per_second=2,
            polling_interval=10,
            seed=7,
        )
    )
    sent = 0
    for _ in range(3):
        sent += eng.send(gen.step(10.0))
    eng.wait_datagrams(sent)
    eng.wait_for(lambda: eng.engine.stats.counter_samples >= 3 * 3 * (1 + 2 + 6))
    yield eng, gen
    eng.stop()


def get(eng, path):
    return eng.get_json(path)


def status_of(eng, path) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(eng.http_url + path, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def families_of(body: str) -> dict[str, list]:
    """Parse with prometheus_client; untyped lines come back one family per sample, so merge
    the samples by metric name."""
    out: dict[str, list] = {}
    for fam in text_string_to_metric_families(body):
        out.setdefault(fam.name, []).extend(fam.samples)
    return out


def text(eng, path) -> str:
    with urllib.request.urlopen(eng.http_url + path, timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        return r.read().decode()


def test_metric_names(fed):
    eng, _ = fed
    names = get(eng, "/metrics/json")
    for n in (
        "ifinoctets",
        "ifinutilization",
        "load_one",
        "cpu_utilization",
        "mem_utilization",
        "vir_host_name",
        "vir_cpu_utilization",
        "vir_bytes_in",
        "node_domains",
        "host_name",
    ):
        assert n in names and 0 <= names[n] < 60_000


def test_metric_aggregates_match_generator(fed):
    eng, gen = fed
    truth = gen.true_rates()
    res = get(
        eng,
        "/metric/ALL/avg:load_one,max:cpu_utilization,sum:ifinoctets,"
        "avg:vir_cpu_utilization,sum:vir_bytes_out,sum:node_domains/json",
    )
    by = {r["metricName"]: r for r in res}
    assert by["avg:load_one"]["metricN"] == 3 and by["avg:load_one"][
        "metricValue"
    ] == pytest.approx(1.0)
    assert by["max:cpu_utilization"]["metricValue"] == pytest.approx(25.0, abs=0.01)
    assert by["max:cpu_utilization"]["dataSource"] == "2.1"
    true_in = sum(p["in_bytes"] for a in truth.values() for p in a["ports"].values())
    # counters carry whole octets: the error is below 1 octet per port per 10 s poll
    assert by["sum:ifinoctets"]["metricN"] == 6
    assert by["sum:ifinoctets"]["metricValue"] == pytest.approx(true_in, abs=6 * 0.1)
    assert by["avg:vir_cpu_utilization"]["metricN"] == 18
    assert by["avg:vir_cpu_utilization"]["metricValue"] == pytest.approx(10.0)
    assert by["sum:vir_bytes_out"]["metricValue"] == pytest.approx(18 * 200_000.0)
    assert by["sum:node_domains"]["metricValue"] == 18


def test_agent_metrics_and_datasource_qualified(fed):
    eng, gen = fed
    agent = gen.agents[1].address
    m = get(eng, f"/metric/{agent}/json")
    assert m["2.1.host_name"] == "vx1host"
    assert m["1.ifspeed"] == 10_000_000_000
    assert any(k.startswith("3.") and k.endswith(".vir_host_name") for k in m)
    r = get(eng, f"/metric/{agent}/2.1.load_one,1.ifinoctets/json")
    assert r[0]["metricValue"] == pytest.approx(1.0) and r[0]["dataSource"] == "2.1"
    assert r[1]["dataSource"] == "1"
    assert r[1]["metricValue"] == pytest.approx(
        gen.true_rates()[agent]["ports"][1]["in_bytes"], abs=0.1
    )
    status, body = status_of(eng, "/metric/10.99.99.99/json")
    assert status == 404 and "10.99.99.99" in body["error"]


def test_query_string_filters(fed):
    eng, gen = fed
    q = urllib.parse.quote("apache\\.*")
    r = get(eng, f"/metric/ALL/avg:vir_bytes_in/json?vir_host_name={q}&vir_cpu_state=running")[0]
    assert r["metricN"] == 6 and r["metricValue"] == pytest.approx(100_000.0)
    r = get(eng, "/metric/ALL/sum:load_one/json?host_name=vx0host&host_name=vx2host")[0]
    assert r["metricN"] == 2
    r = get(eng, "/metric/ALL/sum:load_one/json?host_name=vx*&os_name=windows")[0]
    assert r["metricN"] == 0
    a0 = gen.agents[0].address
    r = get(eng, f"/metric/{a0};{gen.agents[2].address}/sum:node_domains/json?_=123")[0]
    assert r["metricN"] == 2 and r["metricValue"] == 12


def test_table_and_dump(fed):
    eng, gen = fed
    rows = get(eng, "/table/ALL/sort:vir_bytes_in:-4,vir_host_name,host_name,null:nosuch/json")
    assert len(rows) == 4
    for row in rows:
        assert row[0]["metricName"] == "vir_bytes_in" and row[0]["dataSource"].startswith("3.")
        assert row[1]["metricValue"].split(".")[0] in ("apache", "nginx", "redis")
        assert row[2]["metricValue"].startswith("vx") and row[2]["dataSource"] == "2.1"
        assert row[3] is None
    dump = get(eng, f"/dump/{gen.agents[0].address}/vir_host_name;vir_cpu_state/json")
    assert len(dump) == 12
    assert {d["metricValue"] for d in dump if d["metricName"] == "vir_cpu_state"} == {"running"}
    names = {d["metricValue"] for d in dump if d["metricName"] == "vir_host_name"}
    assert names == {c.name for c in gen.agents[0].containers}
    everything = get(eng, f"/dump/{gen.agents[0].address}/ALL/json")
    assert {d["dataSource"] for d in everything} >= {"1", "2", "2.1", "3.1", "3.6"}


def test_bad_requests(fed):
    eng, _ = fed
    for path in (
        "/metric/ALL/bogus:load_one/json",
        "/table/ALL/null:ifname/json",
        "/table/ALL/avg:ifname/json",
        "/dump/ALL/max:ifname/json",
    ):
        status, body = status_of(eng, path)
        assert status == 400 and body["error"], path


def test_prometheus_metrics(fed):
    eng, gen = fed
    body = text(eng, "/prometheus/metrics/ALL/load_one,ifinoctets,host_name,vir_bytes_in/txt")
    families = families_of(body)
    assert set(families) == {"sflow_load_one", "sflow_ifinoctets", "sflow_vir_bytes_in"}
    loads = families["sflow_load_one"]
    assert len(loads) == 3
    for s in loads:
        assert s.value == pytest.approx(1.0)
        assert s.labels["datasource"] == "2.1"
        assert s.labels["host"] == f"vx{int(s.labels['agent'].rsplit('.', 1)[1]) - 1}host"
    truth = gen.true_rates()
    assert len(families["sflow_ifinoctets"]) == 6
    for s in families["sflow_ifinoctets"]:
        expect = truth[s.labels["agent"]]["ports"][int(s.labels["datasource"])]["in_bytes"]
        assert s.value == pytest.approx(expect, abs=0.1)
    assert len(families["sflow_vir_bytes_in"]) == 18
    one = text(eng, f"/prometheus/metrics/{gen.agents[0].address}/ALL/txt?datasource=none")
    assert one == ""  # filter on a metric nobody has
    every = text(eng, f"/prometheus/metrics/{gen.agents[0].address}/ALL/txt")
    fams = families_of(every)
    assert len(fams) > 40
    assert len(fams["sflow_vir_cpu_utilization"]) == 6 and len(fams["sflow_ifspeed"]) == 2


def test_prometheus_analyzer(fed):
    eng, _ = fed
    fams = families_of(text(eng, "/prometheus/analyzer/txt"))
    assert all(len(samples) == 1 for samples in fams.values())
    assert fams["sflow_analyzer_agents"][0].value == 3
    assert fams["sflow_analyzer_counters_samples"][0].value >= 27
    assert fams["sflow_analyzer_datagrams_received"][0].value == eng.engine.stats.datagrams


def test_license_json(fed):
    """/license/json answers sFlow-RT's shape (the one path of its OpenAPI document that was
    missing): what an open-source engine can say, every check OK."""
    eng, _ = fed
    status, body = status_of(eng, "/license/json")
    assert status == 200
    assert body["license"]["type"] == "open-source" and body["license"]["product"] == "flowrt"
    assert all(body["license"][k] is True for k in ("host_ok", "max_bps_ok", "expires_ok"))
    assert isinstance(body["analyzer"]["host"], str) and body["analyzer"]["host"]
    assert (
        isinstance(body["analyzer"]["bps"], int) and body["analyzer"]["bps"] > 0
    )  # sFlow was received


PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)


def promtool_problems(body: str) -> list[str]:
    """What `promtool check metrics` (Prometheus' own linter) says about an exposition."""
    run = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=body.encode(), capture_output=True, timeout=60
    )
    return [line for line in (run.stdout + run.stderr).decode().splitlines() if line.strip()]


@needs_promtool
def test_prometheus_output_passes_promtool(fed):
    """Every family has HELP text and a name the Prometheus linter accepts, in both
    expositions, with counter, host, container and flow metrics present."""
    eng, gen = fed
    assert (
        eng.request("PUT", "/flow/promflow/json", {"keys": "ipsource", "value": "bytes"})[0] == 204
    )
    eng.wait_datagrams(eng.engine.stats.datagrams + eng.send(gen.step(10.0)))
    eng.wait_for(lambda: "promflow" in eng.get_json("/metrics/json"))
    for path in ("/prometheus/analyzer/txt", "/prometheus/metrics/ALL/ALL/txt"):
        body = text(eng, path)
        assert "# HELP sflow_" in body
        assert promtool_problems(body) == [], path
    body = text(eng, "/prometheus/metrics/ALL/ifinoctets,promflow/txt")
    assert (
        "# HELP sflow_ifinoctets ifInOctets per second (sFlow generic interface record 0:1)" in body
    )
    assert "# HELP sflow_promflow flow promflow: bytes per second" in body


@needs_promtool
def test_every_builtin_metric_name_passes_promtool():
    """All names the counter records can produce (not only those the generator sends), as
    exported: names with abbreviated units (jvm_gc_ms) are exported in the base unit."""
    from engine.metrics.catalog import DERIVED, _fields
    from engine.metrics.store import MetricStore
    from engine.rest.prometheus import help_line, metric_name
    from engine.metrics.catalog import describe

    names = sorted(set(_fields()) | set(DERIVED))
    assert len(names) > 400
    body = "".join(
        f'{help_line(metric_name(n), describe(n))}\n{metric_name(n)}{{agent="a"}} 1\n'
        for n in names
    )
    assert promtool_problems(body) == []
    # the value follows the unit: 250 ms of GC per second is 0.25 s per second
    from engine.rest.prometheus import metrics_text

    store, t = MetricStore(), time.time()
    store.update(
        "10.0.0.1",
        "2.1",
        2,
        1,
        [{"counterBlock_tag": "0:2106", "gc_mS": 0, "gc_count": 0}],
        t - 1,
        1000,
    )
    store.update(
        "10.0.0.1",
        "2.1",
        2,
        2,
        [{"counterBlock_tag": "0:2106", "gc_mS": 250, "gc_count": 1}],
        t,
        2000,
    )
    assert 'sflow_jvm_gc_seconds{agent="10.0.0.1",datasource="2.1"} 0.25' in metrics_text(
        store, "ALL", "jvm_gc_ms"
    )


def test_real_captures_give_interface_and_host_metrics(make_engine):
    """Real agents' datagrams (tcpdump's multi-agent capture incl. host structures, hsflowd)."""
    eng = make_engine()
    n = 0
    for path in (
        "tcpdump/sflow_multiple_counter_30_pdus.pcap",
        "generated/hsflowd-2.1.25-lo-pcap.pcap",
    ):
        n += eng.send([d.payload for d in read_pcap(SFLOW_TESTDATA / path)])
    eng.wait_datagrams(n)
    eng.wait_for(lambda: eng.engine.stats.counter_samples >= 140)
    assert eng.engine.stats.handler_errors == 0
    names = get(eng, "/metrics/json")
    for metric in (
        "ifinoctets",
        "ifspeed",
        "ifoperstatus",
        "host_name",
        "load_one",
        "mem_total",
        "disk_total",
        "bytes_in",
        "ip_inreceives",
        "tcp_activeopens",
        "udp_indatagrams",
    ):
        assert metric in names, metric
    hosts = get(eng, "/metric/ALL/any:host_name/json")[0]
    assert hosts["metricN"] >= 2
    m = get(eng, "/metric/192.0.2.2/json")
    assert m["2.1.os_name"] == "linux" and m["1.ifname"] == "lo"
    status, _ = status_of(eng, "/metric/192.0.2.2/sum:ifinoctets/json")
    assert status == 200


def test_flow_metrics_are_metrics(make_engine):
    """A flow defined over REST is a metric: metric() selects with topKeys, dump carries
    topKeys, table sorts it, /metrics/json lists it, Prometheus exports it."""
    import time

    eng = make_engine()
    req = urllib.request.Request(
        eng.http_url + "/flow/srcbytes/json",
        method="PUT",
        data=json.dumps({"keys": "ipsource", "value": "bytes"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert urllib.request.urlopen(req, timeout=10).status in (200, 204)
    gen = TrafficGenerator(
        Scenario(agents=2, ports=2, flows=5, samples_per_second=200, polling_interval=1, seed=5)
    )
    sent = 0
    for _ in range(4):
        sent += eng.send(gen.step(0.5))
        time.sleep(0.5)
    eng.wait_datagrams(sent)
    assert "srcbytes" in get(eng, "/metrics/json")
    top, total = get(eng, "/metric/ALL/srcbytes,sum:srcbytes/json")
    dump = get(eng, "/dump/ALL/srcbytes/json")
    assert top["metricN"] == len(dump) == total["metricN"] >= 2
    assert top["topKeys"] and top["topKeys"][0]["value"] == pytest.approx(top["metricValue"])
    assert top["metricValue"] == pytest.approx(max(d["metricValue"] for d in dump), rel=0.1)
    assert total["metricValue"] == pytest.approx(sum(d["metricValue"] for d in dump), rel=0.1)
    assert all(d["topKeys"] and d["topKeys"][0]["key"].startswith("10.1.") for d in dump)
    rows = get(eng, "/table/ALL/sort:srcbytes:-2,ifspeed/json")
    assert len(rows) == 2 and rows[0][0]["metricValue"] >= rows[1][0]["metricValue"]
    assert all(
        r[1]["metricValue"] == 10_000_000_000 and r[1]["dataSource"] == r[0]["dataSource"]
        for r in rows
    )
    fams = families_of(text(eng, "/prometheus/metrics/ALL/srcbytes/txt"))
    assert len(fams["sflow_srcbytes"]) == len(dump)
    status, body = status_of(eng, "/metric/ALL/srcbytes/json?ifspeed=1")
    assert status == 200 and body[0]["metricN"] == 0  # filters apply to flow metrics


def test_rtmetric_samples_are_metrics(make_engine):
    """sFlow-RT's custom metric samples (4300:1002): gauges/strings kept, counters as rates."""
    from engine.sflow import encode

    eng = make_engine()

    def dg(seq, uptime, requests):
        return encode.datagram(
            "192.0.2.99",
            seq,
            uptime,
            [
                encode.rtmetric_sample(
                    "shop",
                    [
                        ("queue", "gauge32", 7),
                        ("requests", "counter32", requests),
                        ("tier", "string", "gold"),
                        ("temp", "float", 21.5),
                    ],
                )
            ],
        )

    eng.send(dg(1, 10_000, 1000))
    eng.send(dg(2, 15_000, 1500))
    eng.wait_datagrams(2)
    eng.wait_for(lambda: "requests" in get(eng, "/metrics/json"))
    m = get(eng, "/metric/192.0.2.99/json")
    assert m == {"shop.queue": 7, "shop.requests": 100.0, "shop.tier": "gold", "shop.temp": 21.5}
    r = get(eng, "/metric/ALL/requests/json?tier=gold")[0]
    assert r["metricValue"] == 100.0 and r["dataSource"] == "shop"


def test_non_finite_values_are_null_not_a_server_error(make_engine):
    """An agent's float can be Infinity (JSON has none): REST shows null, as scripts see it."""
    from engine.sflow import encode

    eng = make_engine()
    eng.send(
        encode.datagram(
            "10.9.9.9",
            1,
            1000,
            [
                encode.rtmetric_sample(
                    "app", [("odd", "float", float("inf")), ("fine", "float", 1.5)]
                )
            ],
        )
    )
    eng.wait_datagrams(1)
    dump = eng.get_json("/dump/10.9.9.9/odd,fine/json")
    assert [(m["metricName"], m["metricValue"]) for m in dump] == [("odd", None), ("fine", 1.5)]
    assert eng.get_json("/metric/10.9.9.9/odd/json")[0]["metricValue"] is None
