"""GET /flowlocations/{agent}/{name}/json: where a flow key is active, against a running engine
fed real UDP sFlow from two agents."""

from __future__ import annotations

import urllib.parse

import pytest

from engine.sflow import encode, packets

KEY = "10.1.1.1,10.2.2.2"
OTHER = "10.1.1.9,10.2.2.9"
A, B = "192.0.2.1", "192.0.2.2"


def datagram(agent: str, seq: int, ifindex: int, flows) -> bytes:
    """One datagram with a flow sample (data source ifindex, sampling rate 100) per (src, dst)."""
    samples = []
    for i, (src, dst) in enumerate(flows):
        header = packets.frame("020000000001", "020000000002", src, dst, 6, 1000, 40000, 443)[:128]
        rec = encode.record(
            "0:1",
            encode.u32(1)
            + encode.u32(1000)
            + encode.u32(4)
            + encode.u32(len(header))
            + encode.pad(header),
        )
        samples.append(
            encode.flow_sample(
                seq * 10 + i, 0, ifindex, 100, 100 * seq, 0, ifindex, 0x3FFFFFFF, [rec]
            )
        )
    return encode.datagram(agent, seq, seq * 1000, samples)


@pytest.fixture(scope="module")
def fed(tmp_path_factory):
    """An engine whose flow 'pair' has KEY at A:3 (8 samples), B:7 (4) and B:8 (2), and OTHER
    at A:3 only."""
    from conftest import RunningEngine

    eng = RunningEngine({}, tmp_path_factory.mktemp("home")).start()
    try:
        assert (
            eng.request(
                "PUT",
                "/flow/pair/json",
                {"keys": "ipsource,ipdestination", "value": "bytes", "t": 60},
            )[0]
            == 204
        )
        k, o = KEY.split(","), OTHER.split(",")
        dgs, seq = [], 0
        for agent, ifindex, n in ((A, 3, 8), (B, 7, 4), (B, 8, 2)):
            for _ in range(n):
                seq += 1
                dgs.append(datagram(agent, seq, ifindex, [k] + ([o] if agent == A else [])))
        base = eng.engine.stats.datagrams
        eng.send(dgs)
        eng.wait_datagrams(base + len(dgs))
        yield eng
    finally:
        eng.stop()


def q(key: str) -> str:
    return urllib.parse.quote(key, safe="")


def test_locations_of_a_key_largest_first(fed):
    status, rows = fed.request("GET", f"/flowlocations/ALL/pair/json?key={q(KEY)}")
    assert status == 200
    assert [(r["agent"], r["dataSource"]) for r in rows] == [(A, "3"), (B, "7"), (B, "8")]
    values = [r["value"] for r in rows]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    # the same cache entries /flowvalue reads, and the A:3 entry /activeflows reports as largest
    _, v3 = fed.request("GET", f"/flowvalue/ALL/3.pair/json?key={q(KEY)}")
    assert v3 == pytest.approx(values[0], rel=0.01)
    _, active = fed.request("GET", "/activeflows/ALL/pair/json?maxFlows=5")
    top = next(f for f in active if f["key"] == KEY)
    assert (top["agent"], top["dataSource"]) == (A, "3")
    _, other = fed.request("GET", f"/flowlocations/ALL/pair/json?key={q(OTHER)}")
    assert [(r["agent"], r["dataSource"]) for r in other] == [(A, "3")]


def test_agent_selectors_and_data_source_names(fed):
    _, rows = fed.request("GET", f"/flowlocations/{B}/pair/json?key={q(KEY)}")
    assert [(r["agent"], r["dataSource"]) for r in rows] == [(B, "7"), (B, "8")]
    _, rows = fed.request("GET", f"/flowlocations/{A},{B}/pair/json?key={q(KEY)}")
    assert len(rows) == 3
    _, rows = fed.request("GET", f"/flowlocations/{A};192.0.2.99/pair/json?key={q(KEY)}")
    assert [r["agent"] for r in rows] == [A]
    _, rows = fed.request("GET", f"/flowlocations/ALL/8.pair/json?key={q(KEY)}")
    assert [(r["agent"], r["dataSource"]) for r in rows] == [(B, "8")]
    assert fed.request("GET", "/flowlocations/ALL/pair/json?key=10.9.9.9,10.8.8.8") == (200, [])


def test_errors(fed):
    status, err = fed.request("GET", "/flowlocations/ALL/nosuch/json?key=x")
    assert status == 404 and "nosuch" in err["error"]
    assert fed.request("GET", "/flowlocations/ALL/3.nosuch/json?key=x")[0] == 404
    status, err = fed.request("GET", "/flowlocations/ALL/pair/json")
    assert status == 400 and "key" in err["error"]
    assert (
        fed.request("GET", "/flowlocations/;/pair/json?key=x")[0] == 400
    )  # malformed agent selector
