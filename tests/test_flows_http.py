"""Application transaction flows ("Real-time web analytics" post) and TCP performance flows
("Network performance monitoring" post) from real sFlow records sent over UDP: HTTP request
records (0:2206) with their socket (0:2100), and tcp_info (0:2209) with packet headers."""

import math
import time

import pytest

from engine.sflow import encode, packets

AGENT = "10.0.0.150"
REQS = [  # url, duration us, status, mime, response bytes  (each sampled 10 times per second)
    ("/login.php", 500000, 200, "text/html", 2000),
    ("/games/animals.php", 30000, 200, "image/png", 50000),
    ("/games/puzzles.php", 20000, 404, "text/html", 300),
    ("/sales/buy.php", 5000, 500, "image/gif", 10000),
    ("/index.php", 1000, 200, "text/html", 800),
]
RATE = 10  # sampling 1-in-10: one sample per request kind per 0.1 s = 100 req/s each


def http_sample(seq, url, duration, status, mime, resp):
    http = encode.FLOW_RECORDS["0:2206"](
        {
            "http_method": 2,
            "http_protocol": 1001,
            "http_uri": url,
            "http_host": "www.example.test",
            "http_referrer": "",
            "http_useragent": "curl/8",
            "http_xff": "",
            "http_authuser": "",
            "http_mimetype": mime,
            "http_request_bytes": 200,
            "http_bytes": resp,
            "http_duration_uS": duration,
            "http_status": status,
        }
    )
    sock = encode.FLOW_RECORDS["0:2100"](
        {
            "socket4_ip_protocol": 6,
            "socket4_local_ip": "10.0.0.150",
            "socket4_remote_ip": "192.0.2.77",
            "socket4_local_port": 80,
            "socket4_remote_port": 40000,
        }
    )
    return encode.flow_sample(
        seq,
        3,
        80,
        RATE,
        seq * RATE,
        0,
        0x3FFFFFFF,
        0x3FFFFFFF,
        [encode.record("0:2206", http), encode.record("0:2100", sock)],
    )


def tcp_sample(seq, dst, rtt):
    frame = packets.frame("080027B8326D", "080027095CF7", "10.0.0.136", dst, 6, 84, 33863, 179)
    hdr = (
        encode.u32(1)
        + encode.u32(84)
        + encode.u32(packets.FCS_LEN)
        + encode.u32(len(frame))
        + encode.pad(frame)
    )
    info = encode.FLOW_RECORDS["0:2209"](
        {
            "tcpinfo_direction": 2,
            "tcpinfo_send_mss": 1448,
            "tcpinfo_receive_mss": 536,
            "tcpinfo_unacked_pkts": 0,
            "tcpinfo_lost_pkts": 0,
            "tcpinfo_retrans_pkts": 0,
            "tcpinfo_path_mtu": 1500,
            "tcpinfo_rtt_uS": rtt,
            "tcpinfo_rtt_uS_var": 137,
            "tcpinfo_send_congestion_win": 10,
            "tcpinfo_reordering": 3,
            "tcpinfo_rtt_uS_min": 0,
        }
    )
    return encode.flow_sample(
        seq,
        0,
        2,
        10,
        seq * 10,
        0,
        0x3FFFFFFF,
        2,
        [encode.record("0:2209", info), encode.record("0:1", hdr)],
    )


def test_web_analytics_and_tcp_rtt_flows(make_engine):
    eng = make_engine()
    fe = eng.engine.subsystems["flows"]
    flows = {
        "image_bytes": {"value": "resp_bytes", "t": 10, "filter": "httpmimetype~image/.*"},
        "games_reqs": {"value": "requests", "t": 10, "filter": "uri:httpurl:path~/games/.*"},
        "slow_reqs": {"keys": "httpurl", "value": "duration", "t": 10, "n": 5},
        "err_reqs": {
            "keys": "httpurl,httpstatus",
            "value": "requests",
            "t": 10,
            "n": 5,
            "filter": "range:httpstatus:400=true",
        },
        "servers": {
            "keys": "serveraddress,serverport,clientaddress,httpmethod",
            "value": "requests",
        },
        "rtt": {"keys": "ipdestination", "value": "avg:tcprtt", "values": ["max:tcprtt"], "t": 2},
    }
    for name, spec in flows.items():
        eng.call(fe.set_flow, name, spec)
    seq = 0
    start = time.monotonic()
    first_sent = last_sent = None
    for step in range(30):  # 3 s: 100 req/s of each URL, 20 tcp samples/s
        samples = []
        for r in REQS:
            seq += 1
            samples.append(http_sample(seq, *r))
        for dst, rtt in (("10.0.0.134", 773), ("10.0.0.140", 20000)):
            seq += 1
            samples.append(tcp_sample(seq, dst, rtt + (step % 2) * 100))
        eng.send(encode.datagram(AGENT, step + 1, step * 100, samples))
        last_sent = time.monotonic()
        first_sent = first_sent or last_sent
        time.sleep(max(0.0, start + (step + 1) * 0.1 - time.monotonic()))

    def rows(name, **q):
        qs = "&".join(f"{k}={v}" for k, v in q.items())
        return eng.get_json(f"/activeflows/ALL/{name}/json?{qs}")

    slow = rows("slow_reqs", maxFlows=5)
    # t = 10 s and ~3 s of traffic: 1 - exp(-D/t) (26% for D = 3 s) of the steady-state rate,
    # decayed by exp(-L/t) since the last datagram (D and L as measured here)
    frac = (1 - math.exp(-(last_sent - first_sent + 0.1) / 10)) * math.exp(
        -(time.monotonic() - last_sent) / 10
    )
    assert [r["key"] for r in slow] == [r[0] for r in sorted(REQS, key=lambda r: -r[1])]
    assert slow[0]["dataSource"] == "3.80" and slow[0]["agent"] == AGENT and slow[0]["flowN"] == 1
    assert slow[0]["value"] == pytest.approx(100 * 500000 * frac, rel=0.1)
    [img] = rows("image_bytes")
    assert img["value"] == pytest.approx(100 * (50000 + 10000) * frac, rel=0.1)
    [games] = rows("games_reqs")
    assert games["value"] == pytest.approx(200 * frac, rel=0.1)
    errs = rows("err_reqs")
    assert sorted(r["key"] for r in errs) == ["/games/puzzles.php,404", "/sales/buy.php,500"]
    [srv] = rows("servers")
    assert srv["key"] == "10.0.0.150,80,192.0.2.77,GET"
    rtt = {r["key"]: r for r in rows("rtt")}
    assert rtt["10.0.0.134"]["value"] == pytest.approx(823, abs=60)
    assert rtt["10.0.0.140"]["values"] == [20100]
    # the flow names are metrics: sum over the cluster as in the post
    [stat] = eng.get_json("/metric/ALL/sum:image_bytes/json")
    assert stat["metricValue"] == pytest.approx(img["value"], rel=0.1)
    keys = eng.get_json("/flowkeys/json")
    assert {
        "httpurl",
        "httpstatus",
        "httpmimetype",
        "duration",
        "resp_bytes",
        "tcprtt",
        "serveraddress",
        "clientport",
    } <= set(keys)
