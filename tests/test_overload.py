"""Overload that stays honest (docs/ingest.md, "Overload"): the receive queue's backlog is
bounded in time. A datagram that waited longer than sflow.receiver.maxage when the engine
dequeues it is dropped without being decoded and counted in /analyzer/json
(sFlowQueueExpired), so answers stay about the present; what is fresh is processed."""

from __future__ import annotations

import threading
import time

import pytest

from engine import collector
from engine.sflow import encode as enc

from test_receiver import _rx_socket, _tx_socket, _wait, require_net

# expiry against the wall clock (maxage 0.3 s): not while other tests load the machine
pytestmark = pytest.mark.alone


def _dgs(n, agent="192.0.2.30"):
    rec = enc.record("0:1001", enc.u32(1) + enc.u32(0) + enc.u32(2) + enc.u32(0))
    return [
        enc.datagram(agent, i, i, [enc.flow_sample(i, 0, 3, 10, 10 * i, 0, 3, 4, [rec])])
        for i in range(1, n + 1)
    ]


def test_drain_skips_and_counts_what_waited_too_long():
    net = require_net()
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 1 << 20)
    try:
        with _tx_socket(rx.getsockname()[1]) as tx:
            for i in range(50):
                tx.send(b"old %d" % i)
            _wait(lambda: receiver.stats()["received"] == 50, what="old ones received")
            time.sleep(0.35)
            for i in range(5):
                tx.send(b"new %d" % i)
            _wait(lambda: receiver.stats()["received"] == 55, what="new ones received")
        # what waited more than 0.3 s is skipped; without a bound it would all come out
        items = receiver.drain(512, 0.3)
        assert [d for d, _, _ in items] == [b"new %d" % i for i in range(5)]
        stats = receiver.stats()
        assert stats["expired"] == 50 and stats["queued"] == 0
        assert receiver.drain(512, 0.3) == []
    finally:
        receiver.close()
        rx.close()


def test_engine_drops_and_counts_a_stale_backlog(make_engine):
    require_net()
    # one process: blocking its event loop is what stops the draining (with workers each
    # worker drains its own queue: tests/test_workers.py counts their expiries)
    running = make_engine(
        {"sflow.receiver.maxage": "0.3", "sflow.rcvpktsbuffer": 16_000_000, "sflow.workers": 1}
    )
    queue = running.engine.receive_queue
    if queue is None:
        pytest.skip("FLOWRT_NO_ACCEL is set: engines use the asyncio receiver")
    old = _dgs(200)
    blocked = threading.Event()

    def block():
        # the engine is busy (a long callback, a GC pass, overload) while datagrams queue up
        blocked.set()
        _wait(lambda: queue.stats()["received"] >= len(old), what="backlog queued")
        time.sleep(0.5)

    stuck = threading.Thread(target=lambda: running.call(block))
    stuck.start()
    blocked.wait(10)
    running.send(old)
    stuck.join(30)
    running.wait_for(lambda: running.get_json("/analyzer/json")["sFlowQueueExpired"] == len(old))
    analyzer = running.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == 0 and analyzer["sFlowQueueDrops"] == 0
    assert running.get_json("/agents/json") == {}
    # what arrives now is current: processed as usual
    running.send(_dgs(20, agent="192.0.2.31"))
    running.wait_datagrams(20)
    analyzer = running.get_json("/analyzer/json")
    assert analyzer["sFlowQueueExpired"] == len(old) and analyzer["sFlowFlowSamples"] == 20
    assert list(running.get_json("/agents/json")) == ["192.0.2.31"]


def test_maxage_property(make_engine):
    from engine.props import Properties

    assert collector.max_age_property(Properties({})) == collector.DEFAULT_MAX_AGE == 1.0
    assert collector.max_age_property(Properties({"sflow.receiver.maxage": "0"})) == 0.0
    assert collector.max_age_property(Properties({"sflow.receiver.maxage": "2.5"})) == 2.5
    assert collector.max_age_property(Properties({"sflow.receiver.maxage": "soon"})) == 1.0
    assert collector.max_age_property(Properties({"sflow.receiver.maxage": "-1"})) == 1.0
