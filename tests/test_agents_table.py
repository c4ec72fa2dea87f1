"""The agent table behind /agents/json (engine/agents.py, engine/sflow/_agents.c):

- AgentRecord (C) keeps exactly the counts AgentStats (Python, the reference) keeps;
- agents that stop sending are forgotten after agents.timeout;
- the number of agents is bounded (agents.max): datagrams from further agents are refused and
  counted, so bit-flipped (spoofed) agent addresses cannot grow the table, /agents/json or the
  metric and flow state, and the real agents go on being counted."""

from __future__ import annotations

import json
import random
import struct
import time

import pytest

from engine import props
from engine.agents import DEFAULT_MAX, DEFAULT_TIMEOUT, AgentStats, AgentTable
from engine.core import Engine
from engine.sflow import attributes as at
from engine.sflow import decode_datagram
from engine.sflow.pcap import read_pcap

from accel_support import require_accel
from paths import SFLOW_DATA
from test_ingest_path import _batches

OVERFLOWD = SFLOW_DATA / "overflowd" / "sflow.pcap"


def test_agent_record_counts_as_agent_stats():
    accel = require_accel()
    rng = random.Random(9)
    py, c = AgentStats("192.0.2.1", 5.0), accel.AgentRecord("192.0.2.1", 5.0)
    seq = {}
    for n, samples in enumerate(_batches(rng, 3000)):
        samples = [s for s in samples if type(s).__name__ != "_S"]  # real decoder samples
        sub = rng.choice((0, 0, 0, 1))
        last = seq.get(sub, rng.randint(0, 3000))
        step = rng.choice((1, 1, 1, 2, 9, 0, -1, -2000, None))
        seq[sub] = max(0, last + step) if step is not None else rng.randint(0, 4)
        src = rng.choice(("10.0.0.1", "10.0.0.2"))
        now = 5.0 + n * 0.25
        for rec in (py, c):
            rec.datagram(sub, seq[sub], 1000 * n, src, now)
            rec.samples_seen(samples)
        if n % 97 == 0:
            assert c.to_json(now + 1.5) == py.to_json(now + 1.5)
    assert c.to_json(800.0) == py.to_json(800.0)
    out = c.to_json(800.0)
    assert (
        out["sFlowFlowSamples"] and out["sFlowCounterSamples"] and out["sFlowNotificationSamples"]
    )
    assert (
        out["sFlowDatagramsLost"]
        and out["sFlowDatagramsOutOfOrder"]
        and out["sFlowFlowLostSamples"]
    )
    assert c.uptime == py.uptime and c.datagrams == py.datagrams and c.last_seen == py.last_seen
    c.decode_errors += 2
    assert c.to_json(800.0)["sFlowDecodeErrors"] == 2
    with pytest.raises(ValueError):
        c.datagram(0, -1, 0, "x", 1.0)


@pytest.mark.parametrize("record", ["python", "c"])
def test_agents_expire_after_the_timeout(record):
    if record == "c":
        rec = require_accel().AgentRecord
    else:
        rec = AgentStats
    table = AgentTable(max_agents=10, timeout=30.0, record=rec)
    for i in range(5):
        table.get(f"192.0.2.{i}", 100.0).datagram(0, 1, 1, "10.0.0.1", 100.0)
    table.get("192.0.2.0", 125.0).datagram(0, 2, 2, "10.0.0.1", 125.0)
    assert len(table.current(129.0)) == 5
    assert sorted(table.to_json(now=131.0)) == ["192.0.2.0"]  # silent for 31 s: forgotten
    assert table.expired == 4
    assert len(table.current(154.9)) == 1 and table.current(155.1) == {} and table.expired == 5


def test_defaults_and_properties(caplog):
    assert (DEFAULT_MAX, DEFAULT_TIMEOUT) == (20000, 120.0)
    t = AgentTable.from_props(props.Properties({"agents.max": "50", "agents.timeout": "7.5"}))
    assert (t.max_agents, t.timeout) == (50, 7.5)
    t = AgentTable.from_props(props.Properties({"agents.max": "many", "agents.timeout": "-1"}))
    assert (t.max_agents, t.timeout) == (DEFAULT_MAX, DEFAULT_TIMEOUT)
    assert "agents.max='many'" in caplog.text and "agents.timeout='-1'" in caplog.text


def _flip_agent(rng, dg: bytes) -> bytes:
    """The datagram with one random bit of its (IPv4) agent address flipped."""
    b = bytearray(dg)
    assert struct.unpack_from(">I", b, 4)[0] == 1
    bit = rng.randrange(32)
    b[8 + bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(b)


def _engine_with(max_agents, timeout):
    return Engine(
        props.Properties(
            dict(props.DEFAULTS, **{"agents.max": str(max_agents), "agents.timeout": str(timeout)})
        )
    )


@pytest.mark.parametrize("accel", [True, False])
def test_bounded_table_refuses_spoofed_agents_in_process(accel):
    if accel:
        require_accel()
    was = at.flow_attributes is not at.python_flow_attributes
    at.use_accelerator(accel)
    try:
        eng = _engine_with(20, 60)
        if not accel:
            eng.agents = AgentTable(20, 60, record=AgentStats)
        dgs = [p.payload for p in read_pcap(OVERFLOWD)]
        real = decode_datagram(dgs[0]).agent
        rng = random.Random(1)
        t = time.time()
        for dg in dgs[:50]:
            eng.ingest(dg, "10.0.0.9", t)
        flipped = [_flip_agent(rng, rng.choice(dgs)) for _ in range(3000)]
        for i, dg in enumerate(flipped):
            eng.ingest(dg, "10.0.0.9", t + i * 0.001)
        for dg in dgs[50:100]:
            eng.ingest(dg, "10.0.0.9", t + 5)
        analyzer = eng.analyzer_json()
        agents = eng.agents.to_json(now=t + 5)
        assert len(agents) == 20 == analyzer["sFlowAgents"]
        assert real in agents and agents[real]["sFlowDatagramsReceived"] == 100
        # 32 one-bit neighbours of the real address: the first 19 that came got in
        refused = analyzer["sFlowDatagramsRefused"]
        assert refused > 1000 and analyzer["sFlowDatagramsReceived"] == 3100
        # refused datagrams reach neither the metrics nor the flows
        store = eng.subsystems["metrics"]
        assert len(store.agents) <= 20
        assert {k[0] for k in eng.subsystems["flows"].sources} <= set(agents)
        # the spoofed ones stop, time passes: they are forgotten and new agents get in again
        eng.ingest(dgs[100], "10.0.0.9", t + 30)
        for dg in dgs[101:103]:
            eng.ingest(dg, "10.0.0.9", t + 70)
        assert list(eng.agents.to_json(now=t + 70)) == [real]
        assert eng.analyzer_json()["sFlowAgentsExpired"] == 19
        eng.ingest(_flip_agent(random.Random(5), dgs[0]), "10.0.0.9", t + 71)
        assert len(eng.agents.to_json(now=t + 71)) == 2
    finally:
        at.use_accelerator(was)


def test_spoofed_agents_over_udp_keep_agents_json_small_and_fast(make_engine):
    running = make_engine({"agents.max": "200", "agents.timeout": "3"})
    dgs = [p.payload for p in read_pcap(OVERFLOWD)]
    real = decode_datagram(dgs[0]).agent
    running.send(dgs[:20])
    running.wait_datagrams(20)
    rng = random.Random(2)
    # every datagram from another one-bit flip of a random address: 5,000 would-be agents
    flood = []
    for _ in range(5000):
        b = bytearray(rng.choice(dgs))
        struct.pack_into(">I", b, 8, rng.getrandbits(32))
        flood.append(bytes(b))
    running.send_paced(flood)
    running.send(dgs[20:40])
    running.wait_datagrams(5040)
    t0 = time.monotonic()
    body = json.dumps(running.get_json("/agents/json"))
    took = time.monotonic() - t0
    analyzer = running.get_json("/analyzer/json")
    assert analyzer["sFlowAgents"] == 200 and analyzer["sFlowDatagramsRefused"] >= 4700
    assert len(body) < 250_000 and took < 2.0  # 200 agents: small, and answered at once
    assert running.get_json(f"/agents/json?agent={real}")[real]["sFlowDatagramsReceived"] == 40
    # silent for agents.timeout: forgotten (the real agent goes on sending)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(running.get_json("/agents/json")) > 1:
        running.send(dgs[40:41])
        time.sleep(0.5)
    assert list(running.get_json("/agents/json")) == [real]
    assert running.get_json("/analyzer/json")["sFlowAgentsExpired"] >= 199
