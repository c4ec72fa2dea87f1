"""History in the embedded chDB store (the default without history.clickhouse): known traffic
from the generator over real UDP, stored and read back through the engine's queries, REST and
the JavaScript functions.

What the stored values must equal:
* a key's total over all intervals = the sFlow estimate of the traffic sent (samples x sampling
  rate x frame size, the generator's own count): exactly, since every sample is counted once;
* a key's stored rate (bucket total / bucket length) over the steady middle of the run = the
  live activeflows value read at that time, within 10% of the true rate. Sources of the
  difference: the smoothing of the live value (t = 1 s: its sawtooth between datagram batches,
  about +-2%, docs/flows.md), the pacing jitter of the sender on this shared machine (a bucket
  holds one wall-clock second of sends) and the loop latency at interval boundaries (ms);
* a counter metric's stored value = the rate the metric store computed from that sample
  (the generator's interface counters are exact, so: the true port rate).
"""

import time

import pytest

from conftest import RunningEngine
from engine.sflow.gen import Scenario, TrafficGenerator

chdb = pytest.importorskip("chdb", reason="chDB is not installed (pip install '.[history]')")

RATE = 50
PROPS = {
    "history.enabled": "yes",
    "history.interval": "1",
    "history.flush": "0.1",
    "history.node": "node-a",
}


def send_realtime(eng, gen, seconds, dt=0.02, at=None):
    """Send the generator's traffic paced to wall-clock time; call at(t) once at t seconds."""
    start = time.monotonic()
    steps = int(seconds / dt)
    fired = False
    for i in range(steps):
        eng.send(gen.step(dt))
        if at is not None and not fired and i * dt >= at[0]:
            at[1]()
            fired = True
        delay = start + (i + 1) * dt - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def history(eng):
    return eng.engine.subsystems["history"]


def wait_written(eng, after: float, timeout: float = 20.0):
    """Wait until the interval containing ``after`` has been published and written."""
    h = history(eng)
    eng.wait_for(
        lambda: time.time() > after + 1.5 and h.buffer.count == 0 and h.writer.healthy(), timeout
    )


def test_stored_flows_metrics_and_events_match_the_traffic(make_engine):
    eng = make_engine(PROPS)
    flows = eng.engine.subsystems["flows"]
    eng.call(
        flows.set_flow,
        "pair",
        {"keys": "ipsource,ipdestination", "value": "bytes", "t": 1, "n": 20, "history": True},
    )
    eng.call(flows.set_flow, "total", {"value": "frames", "t": 1, "history": True})
    eng.call(flows.set_flow, "live", {"keys": "ipsource", "value": "bytes"})  # no history
    eng.call(flows.set_threshold, "busy", {"metric": "total", "value": 1})
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            flows=8,
            samples_per_second=800,
            sampling_rate=RATE,
            sizes=((1000, 1.0),),
            seed=11,
            polling_interval=1.0,
        )
    )
    live = {}
    t_start = time.time()

    def read_live():
        live["t"] = time.time()
        live["pair"] = eng.get_json("/activeflows/ALL/pair/json?maxFlows=20")

    send_realtime(eng, gen, 6.0, at=(4.5, read_live))
    t_end = time.time()
    wait_written(eng, t_end)
    h = history(eng)
    assert eng.engine.stats.datagrams == gen.datagrams  # nothing lost on loopback
    status = eng.get_json("/history/json")
    assert status["mode"] == "chdb" and status["healthy"] and status["node"] == "node-a"
    assert status["flows"] == ["pair", "total"]
    assert status["rowsDropped"] == 0 and status["rowsWritten"] > 0
    analyzer = eng.get_json("/analyzer/json")
    assert analyzer["historyRowsWritten"] == status["rowsWritten"]
    assert analyzer["historyRowsDropped"] == 0

    # totals: exactly the sFlow estimate of what was sent, per key
    frm, to = int(t_start - 2) * 1000, int(time.time() + 2) * 1000
    top = eng.get_json(f"/history/topkeys/ALL/pair/json?from={frm}&to={to}&maxKeys=100")
    want = {}
    for f in gen.flows:
        key = f"{f.src},{f.dst}"
        want[key] = want.get(key, 0) + f.samples * RATE * 1000
    assert {r["key"]: r["total"] for r in top} == pytest.approx(want, rel=1e-9)
    assert [r["key"] for r in top] == sorted(want, key=lambda k: (-want[k], k))
    span = (to - frm) / 1000
    assert top[0]["value"] == pytest.approx(top[0]["total"] / span)
    [total] = h.top_keys("ALL", "total", frm, to)
    assert total["key"] == "" and total["total"] == pytest.approx(gen.flow_samples() * RATE)
    assert h.top_keys("ALL", "live", frm, to) == []
    # one agent only
    agent0 = gen.agents[0].address
    only0 = h.top_keys(agent0, "pair", frm, to, 100)
    assert {r["key"] for r in only0} == {f"{f.src},{f.dst}" for f in gen.agents[0].flows}

    # rates over the steady middle (1.5 s .. 4.5 s) against the live values read at 4.5 s
    mid_from, mid_to = int(live["t"]) - 3, int(live["t"])
    keys = [r["key"] for r in live["pair"][:5]]
    series = h.flow_series("ALL", "pair", mid_from * 1000, mid_to * 1000, 1, keys=keys)
    assert series["step"] == 1 and series["keys"] == keys and len(series["times"]) == 3
    truth = {f"{f.src},{f.dst}": f.bytes_per_second for f in gen.flows}
    for key, values, row in zip(keys, series["values"], live["pair"]):
        stored = sum(values) / len(values)
        assert abs(stored - row["value"]) / truth[key] < 0.10, (key, stored, row["value"])
    # other = every key not asked for; with all keys asked for, nothing is left
    everything = h.flow_series("ALL", "pair", mid_from * 1000, mid_to * 1000, 1, keys=list(want))
    assert sum(everything["other"]) == 0
    assert sum(map(sum, series["values"])) + sum(series["other"]) == pytest.approx(
        sum(map(sum, everything["values"]))
    )

    # counter metrics: the stored rates are the ones the metric store computed, here exact
    rates = gen.true_rates()
    stored = h.metric_series("ALL", "ifinoctets", frm, to, 1, agg="max", max_series=100)
    assert len(stored["series"]) == 2 * 4  # 2 agents x 4 ports
    for s in stored["series"]:
        true = rates[s["agent"]]["ports"][int(s["dataSource"])]["in_bytes"]
        values = [v for v in s["values"] if v is not None]
        assert len(values) >= 3
        # the agent's uptime has ms resolution: 1 ms in a 1 s poll is 0.1%
        assert values == pytest.approx([true] * len(values), rel=2e-3, abs=1)
        # the newest stored row is the metric store's current value (plain SQL on the schema)
        [[last]] = h.backends[0].query(
            "SELECT value FROM flowrt.metrics WHERE metric = 'ifinoctets' AND agent = "
            f"'{s['agent']}' AND datasource = '{s['dataSource']}' ORDER BY time DESC LIMIT 1"
        )
        current = eng.call(lambda: eng.engine.subsystems["metrics"].agent_metrics(s["agent"]))
        assert last == current[f"{s['dataSource']}.ifinoctets"]
    names = {m["metric"] for m in eng.get_json("/history/metrics/json?from=-5m")}
    assert {"ifinoctets", "ifoutoctets", "ifinutilization"} <= names

    # threshold events: one per (agent, data source) crossing, as /events/json has them
    live_events = eng.get_json("/events/json?maxEvents=100")
    stored_events = eng.get_json(f"/history/events/json?from={frm}&to={to}")
    assert live_events and len(stored_events) == len(live_events)
    keep = ("eventID", "thresholdID", "metric", "agent", "dataSource", "timestamp")
    assert [{k: e[k] for k in keep} for e in stored_events] == [
        {k: e[k] for k in keep} for e in live_events
    ]
    assert all(e["node"] == "node-a" for e in stored_events)
    assert [e["value"] for e in stored_events] == pytest.approx([e["value"] for e in live_events])
    names = eng.get_json("/history/flows/json?from=-5m")
    assert [n["name"] for n in names] == ["pair", "total"]
    assert all(n["rows"] > 0 and abs(n["lastTime"] / 1000 - t_end) < 3 for n in names)


APP_JS = """
setHttpHandler(function(req) {
  var from = req.query.from[0], to = req.query.to[0];
  var out = {status: historyStatus(), names: historyFlowNames(from, to),
    top: historyTopKeys('ALL', 'odd', from, to, 10),
    series: historyFlowSeries('ALL', 'odd', from, to, {step: 1, maxKeys: 2}),
    metric: historyMetric('ALL', 'ifinoctets', from, to, {agg: 'max', maxSeries: 1}),
    events: historyEvents(from, to, {maxEvents: 5})};
  try { historyTopKeys('ALL', 'odd', 'yesterday-ish'); } catch (e) { out.error = String(e); }
  return out;
});
"""

ODD_LABELS = ["tab\there", "quote'and\\backslash", "new\nline", "comma,inside", "ünï©ødé"]


def test_rest_js_odd_keys_limits_retention_and_restart(tmp_path):
    app = tmp_path / "apps" / "hist" / "scripts"
    app.mkdir(parents=True)
    (app / "hist.js").write_text(APP_JS)
    eng = RunningEngine(PROPS, home=tmp_path).start()
    try:
        flows = eng.engine.subsystems["flows"]
        gen = TrafficGenerator(
            Scenario(
                agents=1,
                flows=10,
                samples_per_second=400,
                sampling_rate=10,
                seed=4,
                polling_interval=1.0,
            )
        )
        # keys with tabs, quotes, backslashes, newlines and non-ASCII go through TSV and SQL
        srcs = sorted({f.src for f in gen.flows})
        labels = {
            ODD_LABELS[i % len(ODD_LABELS)] + str(i // len(ODD_LABELS)): [s]
            for i, s in enumerate(srcs)
        }
        eng.call(flows.set_map, "odd", labels)
        eng.call(
            flows.set_flow, "odd", {"keys": "map:ipsource:odd", "value": "frames", "history": True}
        )
        eng.call(flows.set_flow, "capped", {"keys": "ipsource", "value": "frames", "history": 3})
        t_start = time.time()
        send_realtime(eng, gen, 3.0)
        wait_written(eng, time.time())
        h = history(eng)
        frm, to = int(t_start - 2) * 1000, int(time.time() + 2) * 1000
        top = h.top_keys("ALL", "odd", frm, to, 100)
        assert {r["key"] for r in top} == set(labels)
        # the cap: 3 keys per interval kept, the rest summed as "-other-"
        capped = h.top_keys("ALL", "capped", frm, to, 100)
        assert 3 <= len(capped) < len(srcs)
        series = h.flow_series("ALL", "capped", frm, to, 1, max_keys=100)
        assert sum(series["other"]) > 0
        total_capped = sum(map(sum, series["values"])) + sum(series["other"])
        total_odd = sum(map(sum, h.flow_series("ALL", "odd", frm, to, 1, max_keys=100)["values"]))
        assert total_capped == pytest.approx(total_odd)

        # REST: parameters, defaults and errors
        q = f"from={frm}&to={to}"
        assert eng.get_json(f"/history/topkeys/ALL/odd/json?{q}&maxKeys=2") == top[:2]
        keyq = "&".join("key=" + urllib_quote(k) for k in list(labels)[:2])
        rest_series = eng.get_json(f"/history/flowseries/ALL/odd/json?{q}&step=1&{keyq}")
        assert rest_series["keys"] == list(labels)[:2]
        rel = eng.get_json("/history/topkeys/ALL/odd/json?from=-1m")  # to defaults to now
        assert {r["key"] for r in rel} == set(labels)
        iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start - 60))
        by_iso = eng.get_json(f"/history/topkeys/ALL/odd/json?from={iso}&maxKeys=100")
        assert [(r["key"], r["total"]) for r in by_iso] == [(r["key"], r["total"]) for r in rel]
        for path, reason in [
            ("/history/topkeys/ALL/odd/json?from=soon", "not a time"),
            (f"/history/topkeys/ALL/odd/json?from={to}&to={frm}", "after"),
            ("/history/topkeys/ALL/odd/json?maxKeys=0", "maxKeys"),
            ("/history/flowseries/ALL/odd/json?step=-1", "step"),
            ("/history/metric/ALL/ifinoctets/json?agg=median", "agg"),
        ]:
            status, body = eng.request("GET", path)
            assert status == 400 and reason in body["error"], (path, body)
        m = eng.get_json(f"/history/metric/ALL/ifinoctets/json?{q}&agg=max&maxSeries=2")
        assert len(m["series"]) == 2 and m["series"][0]["value"] >= m["series"][1]["value"]
        ds = m["series"][0]["dataSource"]
        one = eng.get_json(f"/history/metric/ALL/ifinoctets/json?{q}&dataSource={ds}")
        assert {s["dataSource"] for s in one["series"]} == {ds}
        assert eng.get_json(f"/history/flows/json?{q}&node=someone-else") == []

        # the same through the JavaScript functions
        eng.wait_for(
            lambda: eng.request("GET", "/scripts/json")[1].get("hist~hist.js", {}).get("alive"), 20
        )
        js = eng.get_json(f"/app/hist/scripts/hist.js/json?{q}")
        assert js["status"]["mode"] == "chdb"
        assert [n["name"] for n in js["names"]] == ["capped", "odd"]
        assert js["top"] == top[:10]
        assert js["series"]["keys"] == [r["key"] for r in top[:2]]
        assert len(js["metric"]["series"]) == 1
        assert js["events"] == []
        assert "not a time" in js["error"]

        # retention: rows older than history.days go, by daily partition
        backend = h.backends[0]
        old = int(time.time()) - 40 * 86400
        backend.insert(
            "flowrt.flows_local",
            ("time", "seconds", "node", "name", "agent", "datasource", "key", "value"),
            [(old, 1, "node-a", "odd", "192.0.2.9", "1", "ancient", 1.0)],
        )
        assert h.top_keys("ALL", "odd", "-41d", "-39d") != []
        h.writer.next_retention = 0
        h.buffer.ready.set()
        eng.wait_for(lambda: h.top_keys("ALL", "odd", "-41d", "-39d") == [], 10)
        assert h.top_keys("ALL", "odd", frm, to, 100) == top
    finally:
        eng.stop()

    # the store is on disk under the home directory: a restarted engine reads it back
    assert (tmp_path / "history").is_dir()
    eng = RunningEngine(PROPS, home=tmp_path).start()
    try:
        assert history(eng).top_keys("ALL", "odd", frm, to, 100) == top
    finally:
        eng.stop()


def urllib_quote(s):
    import urllib.parse

    return urllib.parse.quote(s, safe="")


def test_history_off_says_why(make_engine):
    eng = make_engine({"history.enabled": "yes", "history.clickhouse": "off"})
    status = eng.get_json("/history/json")
    assert status["mode"] == "off" and "history.clickhouse=off" in status["reason"]
    code, body = eng.request("GET", "/history/topkeys/ALL/x/json")
    assert code == 503 and "history is off" in body["error"]
    assert eng.get_json("/analyzer/json")["historyRowsWritten"] == 0
    # a flow definition may still ask for history: accepted, nothing recorded
    assert eng.request("PUT", "/flow/f/json", {"keys": "ipsource", "history": True})[0] == 204
    assert eng.get_json("/flow/f/json")["history"] is True
    bad = make_engine({"history.enabled": "yes", "history.clickhouse": "gopher://x"})
    status = bad.get_json("/history/json")
    assert status["mode"] == "off" and "unknown scheme" in status["reason"]
    # a property that cannot be read leaves no configuration: queries still say why
    unread = make_engine({"history.enabled": "yes", "history.interval": "soon"})
    for path in (
        "/history/flows/json",
        "/history/topkeys/ALL/x/json",
        "/history/flowseries/ALL/x/json",
    ):
        code, body = unread.request("GET", path)
        assert code == 503 and "bad property" in body["error"], (path, code, body)
