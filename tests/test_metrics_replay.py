"""The same datagrams give the same counter metrics whether they arrive in real time or replayed
fast (docs/metrics.md, "Time"): rates and polling intervals come from the agents' sysUpTime and
a data source that stops while its agent goes on is retired by the agent's clock. Checked with
every test capture (arrival times simulated: the captured pace and 0.1 ms apart), generated
hosts and containers, an agent whose clock sticks, and one capture over real UDP at both speeds."""

from __future__ import annotations

import time

import pytest

from engine import props
from engine.core import Engine
from engine.sflow import encode
from engine.sflow.gen import Scenario, TrafficGenerator, replay_pcap
from engine.sflow.pcap import read_pcap

from conftest import SFLOW_TESTDATA

CAPTURES = sorted(
    p.relative_to(SFLOW_TESTDATA).with_suffix("").as_posix()
    for p in SFLOW_TESTDATA.glob("*/*.pcap")
)
FAST = 0.0001  # seconds between datagrams when replayed fast


def metrics_after(timed_datagrams) -> dict:
    """Ingest (arrival time, datagram) pairs; every metric 0.5 s after the last one, without
    lastUpdate (it depends on the pace by definition)."""
    eng = Engine(props.Properties(dict(props.DEFAULTS)))
    now = 0.0
    for now, dg in timed_datagrams:
        eng.ingest(dg, "127.0.0.1", now)
    dump = eng.subsystems["metrics"].query_dump("ALL", "ALL", now=now + 0.5)
    return {(e["agent"], e["dataSource"], e["metricName"]): e["metricValue"] for e in dump}


def both_speeds(datagrams: list[tuple[float, bytes]]) -> tuple[dict, dict]:
    """(arrival at the captured times, arrival FAST apart), both starting now."""
    t0, start = datagrams[0][0], time.time()
    real = [(start + t - t0, dg) for t, dg in datagrams]
    fast = [(start + i * FAST, dg) for i, (_, dg) in enumerate(datagrams)]
    return metrics_after(real), metrics_after(fast)


def same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys(), sorted(a.keys() ^ b.keys())[:10]
    for k, v in a.items():
        if isinstance(v, float):
            assert b[k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
        else:
            assert b[k] == v, k


def test_counter_captures_at_both_speeds():
    total = 0
    for stem in CAPTURES:
        dgs = [(d.time, d.payload) for d in read_pcap(SFLOW_TESTDATA / (stem + ".pcap"), 6343)]
        real, fast = both_speeds(dgs)
        same(real, fast)
        total += len(real)
    assert total > 4000
    # the examples: 204 bytes in 2.001 s of the agent's clock (not the 10-11 ms the
    # two datagrams were apart in a fast replay), and hsflowd's loopback 1728 bytes in 4.8 s
    stem = "tcpdump/sflow_multiple_counter_30_pdus"
    real, _ = both_speeds(
        [(d.time, d.payload) for d in read_pcap(SFLOW_TESTDATA / (stem + ".pcap"), 6343)]
    )
    assert real[("15.184.1.195", "50", "ifinoctets")] == pytest.approx(204 / 2.001)
    assert real[("15.184.1.195", "10", "ifoutpkts")] == pytest.approx(5 / 2.0)
    assert (
        len({(agent, ds) for (agent, ds, _) in real if agent in ("15.184.1.194", "15.184.1.195")})
        == 68
    )
    stem = "generated/hsflowd-2.1.25-lo-pcap"
    real, _ = both_speeds(
        [(d.time, d.payload) for d in read_pcap(SFLOW_TESTDATA / (stem + ".pcap"), 6343)]
    )
    assert real[("192.0.2.2", "1", "ifinoctets")] == pytest.approx(1728 / 4.8)


def test_stopped_container_leaves_at_both_speeds():
    """A container stops while its host goes on: 3 missed polls later it is gone, in real time
    (by the wall clock) and replayed fast (by the host's clock) alike."""
    gen = TrafficGenerator(
        Scenario(
            agents=2,
            hosts=True,
            containers=3,
            polling_interval=2.0,
            samples_per_second=20,
            flows=4,
            seed=9,
        )
    )
    timed = []
    for i in range(20):
        if i == 8:
            gone = gen.agents[0].containers.pop(1)
        timed.extend((gen.now, dg) for dg in gen.step(1.0))
    real, fast = both_speeds(timed)
    same(real, fast)
    names = {v for (_, _, m), v in real.items() if m == "vir_host_name"}
    assert gone.name not in names and len(names) == 5
    assert real[(gen.agents[0].address, "2.1", "node_domains")] == 2


def _poll(seq: int, uptime: int, octets: int) -> bytes:
    rec = encode.encode_counter_record(
        {
            "counterBlock_tag": "0:1",
            "ifIndex": 1,
            "networkType": 6,
            "ifSpeed": 10**9,
            "ifDirection": 1,
            "ifStatus": 3,
            "ifInOctets": octets,
            "ifOutOctets": octets,
        }
    )
    return encode.datagram("192.0.2.77", seq, uptime, [encode.counter_sample(seq, 0, 1, [rec])])


def test_stuck_agent_clock_uses_the_polls_in_between():
    """An agent whose sysUpTime does not advance between two polls (seen with agents that
    stamp datagrams from a cached clock): the polls in between times the measured interval,
    not the arrival gap, divide the increase."""
    polls = [
        (0.0, _poll(1, 10_000, 0)),
        (10.0, _poll(2, 20_000, 10_000)),
        (20.0, _poll(3, 20_000, 20_000)),
        (30.0, _poll(4, 40_000, 30_000)),
    ]
    real, fast = both_speeds(polls)
    same(real, fast)
    assert real[("192.0.2.77", "1", "ifinoctets")] == pytest.approx(500.0)  # 10000 B / 20 s
    real3, fast3 = both_speeds(polls[:3])
    same(real3, fast3)
    assert real3[("192.0.2.77", "1", "ifinoctets")] == pytest.approx(1000.0)  # 1 poll of 10 s


def _dump_over_udp(eng, path, speed) -> dict:
    sent = replay_pcap(str(path), "127.0.0.1", eng.sflow_port, speed=speed, sflow_port=6343)
    eng.wait_for(lambda: eng.engine.stats.datagrams >= sent)
    return {
        (e["agent"], e["dataSource"], e["metricName"]): e["metricValue"]
        for e in eng.get_json("/dump/ALL/ALL/json")
    }


def test_capture_over_udp_real_time_and_fast(make_engine):
    """tcpdump's 6-agent capture (2.3 s) through the real collector at its own pace and as
    fast as it can be sent: the same /dump/ALL/ALL/json."""
    path = SFLOW_TESTDATA / "tcpdump/sflow_multiple_counter_30_pdus.pcap"
    real = _dump_over_udp(make_engine(), path, 1.0)
    fast = _dump_over_udp(make_engine(), path, 0.0)
    same(real, fast)
    assert len(real) == 2151
    assert real[("15.184.1.195", "50", "ifinoctets")] == pytest.approx(204 / 2.001)
