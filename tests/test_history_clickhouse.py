"""History on real ClickHouse servers (Debian's clickhouse-server 18.16, started by the tests on
loopback ports, see tests/clickhouse_support.py): two servers as two shards behind Distributed
tables with two flowrt engines each writing to its own shard (one over HTTP, one over the
native protocol), retention on the old server, and the store going away during ingest."""

import logging
import time

import pytest

from clickhouse_support import CLUSTER, needs_server, shards
from engine import log
from engine.sflow.gen import Scenario, TrafficGenerator

pytestmark = needs_server
RATE = 20


def props(server_url, node, **extra):
    p = {
        "history.enabled": "yes",
        "history.clickhouse": server_url,
        "history.interval": "1",
        "history.flush": "0.1",
        "history.node": node,
        "history.retry": "0.5",
    }
    p.update({k.replace("__", "."): str(v) for k, v in extra.items()})
    return p


def wait_written(eng, timeout=20.0):
    h = eng.engine.subsystems["history"]
    after = time.time()
    eng.wait_for(
        lambda: time.time() > after + 1.5 and h.buffer.count == 0 and h.writer.healthy(), timeout
    )


def define(eng):
    flows = eng.engine.subsystems["flows"]
    eng.call(
        flows.set_flow,
        "pair",
        {"keys": "ipsource,ipdestination", "value": "bytes", "history": True},
    )
    eng.call(flows.set_flow, "proto", {"keys": "ipprotocol", "value": "frames", "history": True})


def expected(*gens):
    want = {}
    for gen in gens:
        for f in gen.flows:
            key = f"{f.src},{f.dst}"
            want[key] = want.get(key, 0) + f.samples * RATE * f.frame_size
    return want


def test_two_shards_one_view_through_either_engine(make_engine, tmp_path):
    servers = shards(tmp_path, 2)
    try:
        a = make_engine(props(servers[0].http_url, "node-a", history__cluster=CLUSTER))
        b = make_engine(props(servers[1].native_url, "node-b", history__cluster=CLUSTER))
        for eng in (a, b):
            define(eng)
        # the same flows (same seed) seen by different agents at each node
        gen_a = TrafficGenerator(
            Scenario(
                agents=2,
                flows=12,
                samples_per_second=2000,
                sampling_rate=RATE,
                seed=21,
                polling_interval=1.0,
            )
        )
        gen_b = TrafficGenerator(
            Scenario(
                agents=1,
                agent_base="198.51.100.1",
                flows=12,
                samples_per_second=2000,
                sampling_rate=RATE,
                seed=21,
                polling_interval=1.0,
            )
        )
        t0 = time.time()
        for _ in range(2):
            for eng, gen in ((a, gen_a), (b, gen_b)):
                eng.send_paced([dg for _, dgs in gen.run(1.0, 0.05) for dg in dgs])
            time.sleep(0.5)
        for eng, gen in ((a, gen_a), (b, gen_b)):
            eng.wait_datagrams(gen.datagrams)
            wait_written(eng)
        frm, to = int(t0 - 2) * 1000, int(time.time() + 2) * 1000
        want = expected(gen_a, gen_b)
        assert set(expected(gen_b)) < set(expected(gen_a))  # overlapping keys: sums count
        for eng in (a, b):
            h = eng.engine.subsystems["history"]
            assert h.status()["mode"] == "clickhouse" and h.status()["cluster"] == CLUSTER
            top = eng.get_json(f"/history/topkeys/ALL/pair/json?from={frm}&to={to}&maxKeys=100")
            assert {r["key"]: r["total"] for r in top} == pytest.approx(want, rel=1e-9)
            names = {n["name"] for n in eng.get_json(f"/history/flows/json?from={frm}&to={to}")}
            assert names == {"pair", "proto"}
            agents = {
                s["agent"]
                for s in h.metric_series("ALL", "ifinoctets", frm, to, None, max_series=100)[
                    "series"
                ]
            }
            assert agents == {x.address for x in gen_a.agents + gen_b.agents}
        # one node's part, and what each shard holds locally
        only_b = a.engine.subsystems["history"].top_keys("ALL", "pair", frm, to, 100, node="node-b")
        assert {r["key"]: r["total"] for r in only_b} == pytest.approx(expected(gen_b))
        assert servers[0].query("SELECT DISTINCT node FROM flowrt.flows_local") == [["node-a"]]
        assert servers[1].query("SELECT DISTINCT node FROM flowrt.flows_local") == [["node-b"]]
        engines = servers[0].query(
            "SELECT name, engine FROM system.tables WHERE database = 'flowrt' ORDER BY name"
        )
        assert engines == [
            ["events", "Distributed"],
            ["events_local", "MergeTree"],
            ["flows", "Distributed"],
            ["flows_local", "MergeTree"],
            ["metrics", "Distributed"],
            ["metrics_local", "MergeTree"],
        ]

        # retention on the old server: daily partitions older than history.days are dropped
        old = int(time.time()) - 45 * 86400
        servers[0].query(
            "INSERT INTO flowrt.flows_local (time, seconds, node, name, agent, "
            f"datasource, key, value) VALUES ({old}, 60, 'node-a', 'pair', "
            "'192.0.2.1', '1', 'old', 1)"
        )
        assert servers[0].query("SELECT count() FROM flowrt.flows_local WHERE key = 'old'") == [[1]]
        h = a.engine.subsystems["history"]
        h.writer.next_retention = 0
        h.buffer.ready.set()
        a.wait_for(
            lambda: (
                servers[0].query("SELECT count() FROM flowrt.flows_local WHERE key = 'old'")
                == [[0]]
            ),
            10,
        )
        assert h.top_keys("ALL", "pair", frm, to, 100)[0]["total"] == max(want.values())
    finally:
        for s in servers:
            s.stop()


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_store_down_during_ingest_buffers_drops_and_resumes(make_engine, tmp_path):
    [server] = shards(tmp_path, 1)
    lines = Lines()
    log.log.addHandler(lines)
    level = log.log.level
    log.log.setLevel(min(logging.INFO, log.log.getEffectiveLevel()))
    try:
        eng = make_engine(props(server.http_url, "node-o", history__buffer=800, history__batch=200))
        define(eng)
        h = eng.engine.subsystems["history"]
        gen = TrafficGenerator(
            Scenario(
                agents=2,
                flows=30,
                samples_per_second=3000,
                sampling_rate=RATE,
                seed=5,
                polling_interval=1.0,
            )
        )
        sent = 0

        def feed(seconds):
            nonlocal sent
            for _ in range(int(seconds / 0.25)):
                dgs = gen.step(0.25)
                sent += eng.send_paced(dgs)
                time.sleep(0.2)

        feed(1)
        wait_written(eng)
        assert h.writer.errors == 0
        log_from = int(time.time() * 1000)
        server.stop()
        # the store is gone: ingest goes on (every datagram counted, no kernel drops), the
        # buffer fills to its bound and then rows are dropped and counted
        kernel_drops = eng.get_json("/analyzer/json")["sFlowKernelDrops"]
        deadline = time.monotonic() + 60
        while h.buffer.dropped == 0 and time.monotonic() < deadline:
            feed(1)
        feed(1)
        eng.wait_datagrams(sent)
        analyzer = eng.get_json("/analyzer/json")
        assert analyzer["sFlowDatagramsReceived"] == sent
        assert analyzer["sFlowKernelDrops"] == kernel_drops
        assert analyzer["historyRowsDropped"] > 0
        assert analyzer["historyRowsBuffered"] >= 800
        assert analyzer["historyWriteErrors"] >= 1
        status = eng.get_json("/history/json")
        assert status["healthy"] is False and status["outageSince"] >= log_from - 1000
        assert "127.0.0.1" in status["lastError"]
        # live analytics are unaffected
        assert eng.get_json("/activeflows/ALL/pair/json?maxFlows=3")

        server.start()
        eng.wait_for(lambda: h.writer.healthy() and h.buffer.count == 0, 30)
        dropped_in_outage = h.buffer.dropped
        feed(1)
        wait_written(eng)
        assert h.buffer.dropped == dropped_in_outage  # nothing lost once it is back
        # every row the writer counted is in the store, once
        stored = sum(
            server.query(f"SELECT count() FROM flowrt.{t}")[0][0]
            for t in ("flows_local", "metrics_local", "events_local")
        )
        assert stored == h.writer.written
        # rows from the outage made it: intervals while the server was down
        outage_rows = server.query(
            "SELECT count() FROM flowrt.flows_local WHERE "
            f"time >= toDateTime({log_from // 1000 + 1}) AND "
            f"time < toDateTime({status['outageSince'] // 1000 + 3})"
        )
        assert outage_rows[0][0] > 0
        # logged once per outage: the failure, the first drop, the recovery
        mine = [m for m in lines.messages if server.http_url.split("//")[1] in m]
        assert len([m for m in mine if "cannot write" in m]) == 1, mine
        assert len([m for m in mine if "buffer full" in m]) == 1, mine
        [back] = [m for m in mine if "again after" in m]
        assert f"{dropped_in_outage} rows dropped" in back
    finally:
        log.log.removeHandler(lines)
        log.log.setLevel(level)
        server.stop()


def test_servers_are_tried_in_order(make_engine, tmp_path):
    """history.clickhouse names a server that is down first: the next one takes the rows, and
    queries are answered by it."""
    from conftest import free_port

    [server] = shards(tmp_path, 1)
    try:
        dead = f"http://127.0.0.1:{free_port()}"
        eng = make_engine(props(f"{dead},{server.native_url}", "node-f"))
        define(eng)
        gen = TrafficGenerator(
            Scenario(
                agents=1,
                flows=5,
                samples_per_second=500,
                sampling_rate=RATE,
                seed=9,
                polling_interval=1.0,
            )
        )
        t0 = time.time()
        eng.send_paced([dg for _, dgs in gen.run(2.0, 0.1) for dg in dgs])
        wait_written(eng)
        status = eng.get_json("/history/json")
        assert status["target"] == server.native_url.replace("clickhouse://", "native://")
        top = eng.get_json(f"/history/topkeys/ALL/pair/json?from={int(t0 - 2) * 1000}")
        assert {r["key"]: r["total"] for r in top} == pytest.approx(expected(gen))
        assert server.query("SELECT count() FROM flowrt.flows_local")[0][0] > 0
    finally:
        server.stop()
