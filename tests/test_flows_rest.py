"""Flow, group, map and threshold routes against a running engine (real HTTP, real UDP)."""

import json
import math
import threading
import time
import urllib.request


from engine.sflow.gen import Scenario, TrafficGenerator


def test_flow_definitions_crud_and_errors(make_engine):
    eng = make_engine()
    spec = {
        "keys": ["ipsource", "mask:ipdestination:24"],
        "value": "bytes",
        "filter": "ipprotocol=6",
        "t": 5,
        "n": 10,
        "log": True,
    }
    assert eng.request("PUT", "/flow/tcp/json", spec) == (204, None)
    status, got = eng.request("GET", "/flow/tcp/json")
    assert status == 200
    assert got["keys"] == "ipsource,mask:ipdestination:24" and got["filter"] == "ipprotocol=6"
    assert got["t"] == 5 and got["n"] == 10 and got["log"] is True and got["fs"] == ","
    assert eng.request("GET", "/flow/json")[1] == {"tcp": got}
    status, err = eng.request(
        "PUT", "/flow/bad/json", {"keys": "ipsource", "filter": "ipprotocol=(6"}
    )
    assert status == 400 and "filter" in err["error"]
    status, err = eng.request("PUT", "/flow/bad/json", {"keys": "nosuchfn:ipsource"})
    assert status == 400 and "nosuchfn" in err["error"]
    assert eng.request("PUT", "/flow/bad/json", b"{not json")[0] == 400
    assert eng.request("GET", "/flow/bad/json")[0] == 404
    assert eng.request("GET", "/activeflows/ALL/nosuch/json")[0] == 404
    assert eng.request("GET", "/activeflows/ALL/tcp/json?maxFlows=lots")[0] == 400
    assert eng.request("GET", "/activeflows/ALL/tcp/json?maxFlows=5&minValue=0") == (200, [])
    assert eng.request("GET", "/flowvalue/;/1.tcp/json?key=x")[0] == 400
    assert eng.request("DELETE", "/flow/tcp/json") == (204, None)
    assert eng.request("DELETE", "/flow/tcp/json")[0] == 404
    assert eng.request("GET", "/flow/json")[1] == {}


def test_read_only_mode(make_engine):
    eng = make_engine({"http.readonly": "yes"})
    assert eng.request("PUT", "/flow/x/json", {"value": "bytes"})[0] == 403
    assert eng.request("PUT", "/group/x/json", {"a": ["10.0.0.0/8"]})[0] == 403
    assert eng.request("PUT", "/threshold/x/json", {"metric": "x", "value": 1})[0] == 403


def test_groups_and_maps_routes(make_engine):
    eng = make_engine()
    groups = {"private": ["10.0.0.0/8", "172.16.0.0/12"], "v6": ["2001:db8::/32"]}
    assert eng.request("PUT", "/group/site/json", groups) == (204, None)
    assert eng.request("GET", "/group/site/json") == (200, groups)
    assert eng.request("GET", "/group/json") == (200, {"site": groups})
    status, err = eng.request("PUT", "/group/bad/json", {"x": ["300.1.1.1/8"]})
    assert status == 400 and "CIDR" in err["error"]
    assert eng.request("DELETE", "/group/site/json")[0] == 204
    assert eng.request("GET", "/group/site/json")[0] == 404
    m = {"web": ["80", "443"]}
    assert eng.request("PUT", "/map/svc/json", m) == (204, None)
    assert eng.request("GET", "/map/json") == (200, {"svc": m})
    assert eng.request("DELETE", "/map/svc/json")[0] == 204
    assert eng.request("GET", "/map/svc/json")[0] == 404


def send_generated(eng, gen, seconds, dt=0.05):
    """Send the generator's traffic paced in real time (the engine stamps arrival times)."""
    start = time.monotonic()
    steps = int(seconds / dt)
    for i in range(steps):
        eng.send(gen.step(dt))
        delay = start + (i + 1) * dt - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def test_activeflows_metrics_flowkeys_thresholds_events_over_udp(make_engine):
    eng = make_engine()
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            flows=10,
            samples_per_second=400,
            sampling_rate=100,
            protocols=(("tcp", 1.0),),
            seed=7,
        )
    )
    assert (
        eng.request(
            "PUT",
            "/flow/pair/json",
            {"keys": "ipsource,ipdestination", "value": "bytes", "t": 1, "n": 5},
        )[0]
        == 204
    )
    assert (
        eng.request("PUT", "/group/nets/json", {"src": ["10.1.0.0/16"], "dst": ["10.2.0.0/16"]})[0]
        == 204
    )
    assert (
        eng.request(
            "PUT", "/flow/bygroup/json", {"keys": "group:ipsource:nets", "value": "frames", "t": 1}
        )[0]
        == 204
    )
    heaviest = max(gen.flows, key=lambda f: f.bytes_per_second)
    level = heaviest.bytes_per_second * 0.5
    assert (
        eng.request(
            "PUT", "/threshold/big/json", {"metric": "pair", "value": level, "byFlow": True}
        )[0]
        == 204
    )
    assert eng.request("GET", "/threshold/big/json")[1]["value"] == level
    # a long-poll that is waiting before the event happens gets it
    polled = {}

    def longpoll():
        polled["events"] = eng.request("GET", "/events/json?thresholdID=big&eventID=-1&timeout=20")[
            1
        ]

    waiter = threading.Thread(target=longpoll)
    waiter.start()
    send_generated(eng, gen, 4)
    waiter.join(25)

    flows = eng.get_json("/activeflows/ALL/pair/json?maxFlows=5")
    assert len(flows) == 5 and flows[0]["key"] == f"{heaviest.src},{heaviest.dst}"
    assert set(flows[0]) >= {"key", "value", "agent", "dataSource", "flowN"}
    one_agent = eng.get_json(f"/activeflows/{gen.agents[1].address}/pair/json")
    assert one_agent and all(f["agent"] == gen.agents[1].address for f in one_agent)
    [top] = eng.get_json(
        f"/activeflows/{gen.agents[0].address},{gen.agents[1].address}/pair/json"
        "?maxFlows=1&aggMode=sum"
    )
    # each flow is seen at one location, so sum = max; traffic has stopped, so it only decays
    assert top["key"] == flows[0]["key"] and 0 < top["value"] <= flows[0]["value"]
    assert eng.get_json("/activeflows/ALL/pair/json?minValue=1e15") == []
    [g] = eng.get_json("/activeflows/ALL/bygroup/json")
    assert g["key"] == "src"
    ds = flows[0]["dataSource"]
    value = eng.get_json(f"/flowvalue/{flows[0]['agent']}/{ds}.pair/json?key={flows[0]['key']}")
    assert value > 0
    assert eng.request("GET", f"/flowvalue/ALL/{ds}.pair/json?key=1.2.3.4,5.6.7.8")[0] == 404
    keys = eng.get_json("/flowkeys/json")
    assert {"ipsource", "ipdestination", "tcpsourceport", "bytes"} <= set(keys)
    assert all(isinstance(v, int) and v >= 0 for v in keys.values())

    events = polled["events"]
    assert events and events[0]["thresholdID"] == "big"
    assert events[0]["flowKey"] == f"{heaviest.src},{heaviest.dst}" and events[0]["value"] > level
    ev = eng.get_json("/events/json?thresholdID=big")
    last = ev[0]["eventID"]
    assert eng.get_json(f"/events/json?eventID={last}") == []
    assert eng.get_json("/events/json?thresholdID=other") == []

    # the flow name is a metric with topKeys, for metric queries and thresholds alike
    assert "pair" in eng.get_json("/metrics/json")
    [stat] = eng.get_json("/metric/ALL/max:pair/json")
    assert stat["metricValue"] > 0
    assert stat["topKeys"][0]["key"] == f"{heaviest.src},{heaviest.dst}"

    assert eng.request("DELETE", "/threshold/big/json")[0] == 204
    assert eng.request("GET", "/threshold/json")[1] == {}


def test_flow_records_long_poll(make_engine):
    eng = make_engine()
    gen = TrafficGenerator(Scenario(agents=1, flows=3, samples_per_second=100, seed=3))
    assert (
        eng.request(
            "PUT",
            "/flow/logged/json",
            {"keys": "ipsource", "value": "frames", "log": True, "flowStart": True},
        )[0]
        == 204
    )
    got = {}

    def poll():
        got["recs"] = eng.request(
            "GET", "/flows/json?name=logged&flowID=-1&maxFlows=10&timeout=20"
        )[1]

    t = threading.Thread(target=poll)
    t.start()
    send_generated(eng, gen, 1)
    t.join(25)
    recs = got["recs"]
    assert recs and recs[0]["name"] == "logged"
    all_recs = eng.get_json("/flows/json?name=logged&maxFlows=10")
    assert len(all_recs) == 3 and [r["flowID"] for r in all_recs] == sorted(
        (r["flowID"] for r in all_recs), reverse=True
    )
    assert eng.get_json(f"/flows/json?flowID={all_recs[0]['flowID']}") == []
    assert {r["flowKeys"] for r in all_recs} == {f.src for f in gen.flows}


def test_flow_record_values_whole_numbers(make_engine):
    """Records of flows that ran (activeTimeout) carry their accumulated value; a whole value is
    written as an integer ("value": 19900, as sFlow-RT), since Python clients such as
    tail_flows.py print what they get."""
    eng = make_engine()
    gen = TrafficGenerator(Scenario(agents=1, flows=3, samples_per_second=100, seed=3))
    assert (
        eng.request(
            "PUT",
            "/flow/ran/json",
            {"keys": "ipsource", "value": "bytes", "log": True, "activeTimeout": 1},
        )[0]
        == 204
    )
    send_generated(eng, gen, 3)

    def records():
        with urllib.request.urlopen(eng.http_url + "/flows/json?name=ran&maxFlows=20") as reply:
            text = reply.read().decode()
        return text if len(json.loads(text)) >= 3 else None

    text = eng.wait_for(records, 15)
    values = [r["value"] for r in json.loads(text)]
    assert all(type(v) is int and v > 0 for v in values), text
    assert ".0," not in text and ".0}" not in text


def test_datasource_sampling_rates(make_engine):
    eng = make_engine()
    gen = TrafficGenerator(
        Scenario(agents=1, flows=4, ports=1, samples_per_second=400, sampling_rate=256, seed=2)
    )
    assert eng.request("PUT", "/flow/any/json", {"value": "frames"})[0] == 204
    for _ in range(50):
        eng.send(gen.step(0.1))
    eng.wait_datagrams(gen.datagrams)
    info = eng.call(eng.engine.subsystems["metrics"].datasource_info, gen.agents[0].address, "1")
    assert info["samplingRate"] == 256
    # from sample pools and sequence numbers (the generator's pool is exact per 0.1 s step)
    assert abs(info["effectiveSamplingRate"] - 256) <= 256 * 0.05


def test_threshold_on_counter_metric_fires_once_and_rearms(make_engine):
    eng = make_engine()
    gen = TrafficGenerator(
        Scenario(
            agents=1,
            flows=2,
            hosts=True,
            host_cpu=0.5,
            host_cpus=4,
            polling_interval=1.0,
            samples_per_second=10,
            seed=4,
        )
    )
    # load_one = host_cpu x cpus = 2.0
    assert (
        eng.request(
            "PUT",
            "/threshold/busy/json",
            {"metric": "load_one", "value": 1.5, "filter": {"os_name": ["linux"]}},
        )[0]
        == 204
    )
    assert eng.request("PUT", "/threshold/idle/json", {"metric": "load_one", "value": 5})[0] == 204
    for _ in range(3):
        eng.send(gen.step(1.0))
        time.sleep(0.5)
    events = eng.wait_for(lambda: eng.get_json("/events/json?thresholdID=busy"), timeout=5)
    time.sleep(1.5)  # more checks while it stays above: no new event
    events = eng.get_json("/events/json?thresholdID=busy")
    assert len(events) == 1
    e = events[0]
    assert e["metric"] == "load_one" and e["dataSource"] == "2.1" and e["value"] == 2.0
    assert e["agent"] == gen.agents[0].address and e["threshold"] == 1.5
    assert eng.get_json("/events/json?thresholdID=idle") == []
    fe = eng.engine.subsystems["flows"]
    assert eng.call(fe.threshold_triggered, "busy", gen.agents[0].address, "2.1.load_one")


def test_dropped_flow_counts_discard_notifications_over_udp(make_engine):
    from engine.sflow import encode, packets

    eng = make_engine()
    assert (
        eng.request(
            "PUT",
            "/flow/drops/json",
            {"keys": "reason,ipdestination", "value": "frames", "dropped": True},
        )[0]
        == 204
    )
    assert (
        eng.request("PUT", "/flow/pkts/json", {"keys": "ipdestination", "value": "frames"})[0]
        == 204
    )
    frame = packets.frame("020000000001", "020000000002", "10.0.0.1", "10.0.0.2", 6, 100, 1, 2)
    hdr = (
        encode.u32(1) + encode.u32(100) + encode.u32(4) + encode.u32(len(frame)) + encode.pad(frame)
    )
    dgs = [
        encode.datagram(
            "10.0.0.9",
            i + 1,
            100 * i,
            [encode.discard_sample(i + 1, 0, 3, 0, 3, 0, 262, [encode.record("0:1", hdr)])],
        )
        for i in range(20)
    ]
    eng.send(dgs)
    rows = eng.wait_for(lambda: eng.get_json("/activeflows/ALL/drops/json"))
    assert rows[0]["key"] == "pkt_too_big,10.0.0.2" and rows[0]["agent"] == "10.0.0.9"
    assert eng.get_json("/activeflows/ALL/pkts/json") == []


def test_rtflow_custom_flow_samples_feed_definitions(make_engine):
    from engine.sflow import encode

    eng = make_engine()
    assert (
        eng.request(
            "PUT", "/flow/app/json", {"keys": "user,op", "value": "bytes", "filter": "op=read"}
        )[0]
        == 204
    )
    samples = [
        encode.rtflow_sample(
            "app1",
            10,
            10 * (i + 1),
            [
                ("user", "string", "alice"),
                ("op", "string", "read" if i % 2 else "write"),
                ("bytes", "int64", 1000),
            ],
        )
        for i in range(10)
    ]
    sent = time.monotonic()
    eng.send(encode.datagram("10.0.0.30", 1, 100, samples))
    rows = eng.wait_for(lambda: eng.get_json("/activeflows/ALL/app/json"))
    elapsed = time.monotonic() - sent
    assert rows[0]["key"] == "alice,read" and rows[0]["dataSource"] == "app1"
    # 5 samples x 1000 x rate 10 / t (2 s), decayed by at most the time until the query
    full = 5 * 1000 * 10 / 2
    assert full * math.exp(-elapsed / 2) * 0.999 <= rows[0]["value"] <= full * 1.001
    assert "user" in eng.get_json("/flowkeys/json")
