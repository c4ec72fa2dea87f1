"""The collector's native receive thread (engine/_net.c) over real loopback UDP: nothing lost or
reordered against the asyncio path, source address strings, exact queue-overflow counting, ring
wrap-around, prompt close, REST kept responsive under a flood, the asyncio fallbacks, and the
sendmmsg batch sender."""

from __future__ import annotations

import gc
import os
import random
import socket
import struct
import sys
import threading
import time
import tracemalloc

import pytest

from engine import collector
from engine.sflow import encode as enc
from engine.sflow.gen import Scenario, TrafficGenerator, send_cycle
from engine.sflow.pcap import read_pcap

from accel_support import c_unavailable_reason
from conftest import SFLOW_TESTDATA, free_port
from waiting import wait_until

OVERFLOWD = SFLOW_TESTDATA / "overflowd" / "sflow.pcap"
BIG_RCVBUF = 16_000_000  # root may exceed rmem_max: the kernel buffer never limits these tests


def require_net():
    """engine._net, or skip when this machine cannot build C extensions at all. Where a compiler
    and Python headers exist the install must have built it, so its absence fails."""
    if collector._net is not None:
        return collector._net
    reason = c_unavailable_reason(env_turns_off=False)
    if reason:
        pytest.skip(reason)
    pytest.fail(
        "engine._net did not import although a compiler is present; "
        "reinstall with `pip install -e .`"
    )


@pytest.fixture
def net():
    return require_net()


@pytest.fixture
def thread_receiver(net):
    """For tests of a whole engine on the thread receiver, which FLOWRT_NO_ACCEL=1 turns off."""
    if os.environ.get("FLOWRT_NO_ACCEL", "") not in ("", "0"):
        pytest.skip("FLOWRT_NO_ACCEL is set: engines use the asyncio receiver")
    return net


def _rx_socket(family=socket.AF_INET, host="127.0.0.1", rcvbuf=BIG_RCVBUF):
    sock = socket.socket(family, socket.SOCK_DGRAM)
    collector.set_receive_buffer(sock, rcvbuf)
    if family == socket.AF_INET6 and host == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def _tx_socket(port, host="127.0.0.1"):
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    sock.connect((host, port))
    return sock


def _wait(predicate, timeout=20.0, what="condition"):
    return wait_until(predicate, timeout, 0.005, what)


def _drain_all(receiver, expected, timeout=20.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < expected:
        batch = receiver.drain(256)
        out += batch
        if not batch:
            if time.monotonic() > deadline:
                break
            time.sleep(0.002)
    return out


def _numbered(n, sizes=(40, 1400)):
    """n datagrams whose first 4 bytes are their index, random lengths in `sizes`."""
    rnd = random.Random(n)
    return [struct.pack("!I", i) + bytes([i & 255]) * (rnd.randint(*sizes) - 4) for i in range(n)]


def _traffic() -> list[bytes]:
    """5,000 datagrams: the overflowd capture (1,000) and generator traffic from 4 agents with
    counters and discards, so /agents/json has sequence numbers, sources and samples to compare."""
    dgs = [p.payload for p in read_pcap(OVERFLOWD)]
    gen = TrafficGenerator(
        Scenario(
            agents=4, samples_per_second=1500, discards_per_second=20, polling_interval=1, seed=11
        )
    )
    while len(dgs) < 5000:
        dgs += gen.step(0.1)
    return dgs[:5000]


def _comparable(agents: dict) -> dict:
    for a in agents.values():
        a.pop("firstSeen", None)
        a.pop("lastSeen", None)
    return agents


def _send_keeping_up(running, dgs, batch: bool):
    """Send all of dgs, with send_batch or one sendto each, never more than 1,000 ahead of what
    the receive thread has taken off the socket (the engine itself may lag: that is the queue)."""
    queue = running.engine.receive_queue
    sock = _tx_socket(running.sflow_port)
    try:
        sent = 0
        while sent < len(dgs):
            _wait(lambda: queue.stats()["received"] >= sent - 1000, what="receive thread progress")
            k = min(250, len(dgs) - sent)
            if batch:
                k = send_cycle(sock, dgs, sent, k)
            else:
                for dg in dgs[sent : sent + k]:
                    sock.send(dg)
            sent += k
    finally:
        sock.close()
    return sent


@pytest.mark.parametrize("batch", [True, False], ids=["send_batch", "sendto"])
def test_every_datagram_counted_as_on_asyncio_path(make_engine, thread_receiver, batch):
    dgs = _traffic()
    threaded = make_engine({"sflow.rcvpktsbuffer": BIG_RCVBUF})
    assert threaded.engine.receive_queue is not None, "the thread receiver is the default"
    assert _send_keeping_up(threaded, dgs, batch) == len(dgs)
    threaded.wait_datagrams(len(dgs), timeout=60)
    reference = make_engine({"sflow.receiver": "asyncio", "sflow.rcvpktsbuffer": BIG_RCVBUF})
    assert reference.engine.receive_queue is None
    reference.send_paced(dgs)
    reference.wait_datagrams(len(dgs), timeout=60)

    got, want = threaded.get_json("/analyzer/json"), reference.get_json("/analyzer/json")
    for name in (
        "sFlowDatagramsReceived",
        "sFlowBytesReceived",
        "sFlowFlowSamples",
        "sFlowCounterSamples",
        "sFlowDiscardSamples",
        "sFlowDecodeErrors",
        "sFlowAgents",
    ):
        assert got[name] == want[name], name
    assert got["sFlowDatagramsReceived"] == len(dgs)
    assert got["sFlowBytesReceived"] == sum(map(len, dgs))
    assert got["sFlowQueueDrops"] == want["sFlowQueueDrops"] == 0
    agents = _comparable(threaded.get_json("/agents/json"))
    assert agents == _comparable(reference.get_json("/agents/json"))
    assert agents["192.168.1.1"]["sFlowFlowSamples"] == 5855
    assert all(a["sFlowDatagramSource"] == ["127.0.0.1"] for a in agents.values())
    # the generator's agents send in sequence: any loss or reordering would show here
    for name in ("192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"):
        assert agents[name]["sFlowDatagramsLost"] == 0
        assert agents[name]["sFlowDatagramsOutOfOrder"] == 0
    stats = threaded.engine.receive_queue.stats()
    assert stats["received"] == len(dgs) and stats["dropped"] == 0 and stats["queued"] == 0
    assert stats["bytes"] == sum(map(len, dgs))


def test_ipv6_and_ipv4_mapped_sources(make_engine, thread_receiver):
    """On the default dual-stack socket an IPv4 agent arrives as ::ffff:127.0.0.1 and must be
    reported as 127.0.0.1, an IPv6 one as ::1."""
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    running = make_engine({"sflow.hostname": ""})
    assert running.engine.receive_queue is not None
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s4,
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6,
    ):
        for seq in range(1, 4):
            s4.sendto(enc.datagram("192.0.2.41", seq, seq, []), ("127.0.0.1", running.sflow_port))
            s6.sendto(enc.datagram("2001:db8::42", seq, seq, []), ("::1", running.sflow_port))
    running.wait_datagrams(6)
    agents = running.get_json("/agents/json")
    assert agents["192.0.2.41"]["sFlowDatagramSource"] == ["127.0.0.1"]
    assert agents["2001:db8::42"]["sFlowDatagramSource"] == ["::1"]
    assert agents["192.0.2.41"]["sFlowDatagramsReceived"] == 3


def test_receiver_source_strings_and_timestamps(net):
    rx = _rx_socket(socket.AF_INET6, "::")
    receiver = net.Receiver(rx.fileno(), 1 << 20)
    try:
        port = rx.getsockname()[1]
        with _tx_socket(port, "::1") as s6, _tx_socket(port) as s4:
            before = time.time()
            s4.send(b"four")
            s6.send(b"six")
            s4.send(b"four again")
        items = _drain_all(receiver, 3)
        after = time.time()
        assert [(d, s) for d, s, _ in items] == [
            (b"four", "127.0.0.1"),
            (b"six", "::1"),
            (b"four again", "127.0.0.1"),
        ]
        assert all(before - 1 <= ts <= after + 1 for _, _, ts in items)
        assert all(type(x) is str and type(ts) is float for _, x, ts in items)
    finally:
        receiver.close()
        rx.close()


def test_queue_overflow_counted_exactly(net):
    """A full queue drops (and counts) instead of blocking the receive thread; every datagram is
    either queued or counted as dropped, and the queued ones come out intact and in order."""
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 65536)
    try:
        dgs = _numbered(400, (900, 1100))
        with _tx_socket(rx.getsockname()[1]) as tx:
            assert net.send_batch(tx.fileno(), dgs) == len(dgs)
        _wait(lambda: receiver.stats()["received"] == len(dgs), what="all received")
        stats = receiver.stats()
        assert stats["dropped"] > 0 and stats["queued"] > 0
        assert stats["dropped"] + stats["queued"] == len(dgs)
        assert stats["high_water"] == stats["queued"]
        # what fits: records of header + 8-aligned payload, none across the slab's end
        assert sum(len(d) for d in dgs[: stats["queued"]]) <= 65536
        items = _drain_all(receiver, stats["queued"])
        assert [d for d, _, _ in items] == dgs[: stats["queued"]]
        assert receiver.drain() == []
        # the space is usable again after draining
        with _tx_socket(rx.getsockname()[1]) as tx:
            tx.send(b"after")
        assert [d for d, _, _ in _drain_all(receiver, 1)] == [b"after"]
        assert receiver.stats()["queued"] == 0
    finally:
        receiver.close()
        rx.close()


def test_engine_reports_queue_drops(make_engine, thread_receiver):
    """The event loop blocked (a long script callback, say) while a burst arrives: the small
    queue overflows and /analyzer/json shows sFlowQueueDrops, with received + dropped == sent."""
    # one process: blocking its event loop is what stops the draining (with workers each
    # worker drains its own queue; the loop blocked here would be the front's)
    running = make_engine(
        {"sflow.receiver.buffer": 65536, "sflow.rcvpktsbuffer": BIG_RCVBUF, "sflow.workers": 1}
    )
    queue = running.engine.receive_queue
    dgs = [p.payload for p in read_pcap(OVERFLOWD)][:300]
    blocked = threading.Event()

    def block():
        blocked.set()
        _wait(lambda: queue.stats()["received"] >= len(dgs), what="burst received")

    loop_blocked = threading.Thread(target=lambda: running.call(block))
    loop_blocked.start()
    blocked.wait(10)
    with _tx_socket(running.sflow_port) as tx:
        assert send_cycle(tx, dgs, 0, len(dgs)) == len(dgs)
    loop_blocked.join(30)
    dropped = queue.stats()["dropped"]
    assert dropped > 0
    running.wait_datagrams(len(dgs) - dropped)
    analyzer = running.get_json("/analyzer/json")
    assert analyzer["sFlowQueueDrops"] == dropped
    assert analyzer["sFlowDatagramsReceived"] + analyzer["sFlowQueueDrops"] == len(dgs)
    assert analyzer["sFlowDecodeErrors"] == 0


def test_ring_wraps_with_concurrent_drain(net):
    """Random sizes through a ring only a few datagrams large, so records keep meeting the
    slab's end. One at a time (always room: nothing may drop), then in bursts (drops counted,
    and whatever is queued comes out intact and in order)."""
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 8192)
    try:
        dgs = _numbered(1500, (5, 3000))
        got = []
        with _tx_socket(rx.getsockname()[1]) as tx:
            for i in range(len(dgs)):
                assert net.send_batch(tx.fileno(), dgs, i, 1) == 1
                deadline = time.monotonic() + 10
                while not (batch := receiver.drain(4)) and time.monotonic() < deadline:
                    time.sleep(0)
                got += batch
        assert [d for d, _, _ in got] == dgs
        assert receiver.stats()["dropped"] == 0

        got = []
        with _tx_socket(rx.getsockname()[1]) as tx:
            sent = 0
            while sent < len(dgs):
                sent += net.send_batch(tx.fileno(), dgs, sent, min(4, len(dgs) - sent))
                got += receiver.drain(3)
        _wait(lambda: receiver.stats()["received"] == 2 * len(dgs), what="all received")
        got += _drain_all(receiver, receiver.stats()["queued"])
        stats = receiver.stats()
        assert len(got) + stats["dropped"] == len(dgs) and stats["queued"] == 0
        assert len(got) > 0
        index = [struct.unpack("!I", d[:4])[0] for d, _, _ in got]
        assert index == sorted(index) and len(set(index)) == len(index)
        assert all(d == dgs[i] for i, (d, _, _) in zip(index, got))
    finally:
        receiver.close()
        rx.close()


def test_truncated_datagram_passed_on_and_counted(net):
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 1 << 20, max_datagram=100)
    try:
        with _tx_socket(rx.getsockname()[1]) as tx:
            tx.send(bytes(range(250)))
            tx.send(b"short")
        items = _drain_all(receiver, 2)
        assert [d for d, _, _ in items] == [bytes(range(100)), b"short"]
        stats = receiver.stats()
        assert stats["received"] == 2 and stats["truncated"] == 1 and stats["bytes"] == 255
    finally:
        receiver.close()
        rx.close()


def test_close_while_blocked_in_receive(net):
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 1 << 16)
    tid = receiver.native_id
    assert isinstance(tid, int)
    with open(f"/proc/self/task/{tid}/comm") as f:
        assert f.read().strip() == "flowrt-recv"
    time.sleep(0.05)  # the thread is now waiting in poll()
    done = threading.Event()
    closer = threading.Thread(target=lambda: (receiver.close(), done.set()))
    closer.start()
    assert done.wait(10), "close() did not stop the receive thread"
    closer.join()
    assert not os.path.exists(f"/proc/self/task/{tid}")
    receiver.close()  # harmless twice
    assert receiver.drain() == [] and receiver.pending() is False
    with pytest.raises(ValueError):
        receiver.fileno()
    # the Python socket is ours still: the receiver worked on a dup
    rx.sendto(b"x", rx.getsockname())
    rx.setblocking(True)
    rx.settimeout(5)
    assert rx.recv(10) == b"x"
    rx.close()


def test_receiver_released_on_garbage_collection(net):
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 1 << 16)
    tid = receiver.native_id
    del receiver
    gc.collect()
    assert not os.path.exists(f"/proc/self/task/{tid}")
    rx.close()


def test_drain_does_not_leak(net):
    """Tuples, bytes and source strings handed out by drain() are owned by the caller alone."""
    rx = _rx_socket()
    receiver = net.Receiver(rx.fileno(), 8 << 20)
    try:
        dgs = _numbered(2000, (50, 500))
        port = rx.getsockname()[1]

        def cycle():
            with _tx_socket(port) as tx:
                assert net.send_batch(tx.fileno(), dgs) == len(dgs)
            items = _drain_all(receiver, len(dgs))
            assert len(items) == len(dgs)
            return items

        cycle()  # warm up caches and free lists
        items = cycle()
        item = items[-1]
        data, ts = item[0], item[2]
        # (counted outside assert: pytest's rewriting keeps references of its own)
        refs = sys.getrefcount(item), sys.getrefcount(data), sys.getrefcount(ts)
        assert refs == (3, 3, 3)  # its container, the local name, getrefcount's argument
        del items, item, data, ts
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for _ in range(3):
                cycle()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        assert grown < 100_000, f"{grown} bytes still allocated after draining 6,000 datagrams"
    finally:
        receiver.close()
        rx.close()


def test_send_batch_arguments(net):
    rx = _rx_socket()
    try:
        port = rx.getsockname()[1]
        with _tx_socket(port) as tx:
            dgs = [b"a", bytearray(b"b"), memoryview(b"c")]
            assert net.send_batch(tx.fileno(), dgs) == 3
            assert net.send_batch(tx.fileno(), dgs, 2, 3) == 3  # wraps: c, a, b
            assert net.send_batch(tx.fileno(), dgs, 1, 0) == 0
            assert net.send_batch(tx.fileno(), dgs, 5) == 0  # start beyond the end
            with pytest.raises(ValueError):
                net.send_batch(tx.fileno(), dgs, -1)
            with pytest.raises(ValueError):
                net.send_batch(tx.fileno(), [], 0, 1)
            with pytest.raises(TypeError):
                net.send_batch(tx.fileno(), [b"ok", 7])
        rx.setblocking(True)
        rx.settimeout(5)
        assert [rx.recv(10) for _ in range(6)] == [b"a", b"b", b"c", b"c", b"a", b"b"]
        with pytest.raises(OSError):
            net.send_batch(rx.fileno(), [b"x"])  # not connected: no destination
    finally:
        rx.close()
    with pytest.raises(TypeError):
        net.Receiver("3", 1 << 20)
    with pytest.raises(ValueError):
        net.Receiver(0, 100)


def test_rest_answers_during_flood(make_engine, thread_receiver):
    """A sender floods faster than ingest; the drain callback yields to the loop, so the REST API
    keeps answering."""
    running = make_engine({"sflow.rcvpktsbuffer": BIG_RCVBUF})
    dgs = [p.payload for p in read_pcap(OVERFLOWD)]
    stop = threading.Event()

    def flood():
        with _tx_socket(running.sflow_port) as tx:
            i = 0
            while not stop.is_set():
                i += send_cycle(tx, dgs, i, 64)

    sender = threading.Thread(target=flood)
    sender.start()
    try:
        running.wait_datagrams(2000, timeout=30)
        for _ in range(3):
            analyzer = running.get_json("/analyzer/json")  # urllib timeout: 10 s
            assert analyzer["sFlowDatagramsReceived"] > 0
        assert (
            running.engine.receive_queue.stats()["received"]
            > analyzer["sFlowDatagramsReceived"] // 2
        )
    finally:
        stop.set()
        sender.join(10)


def test_asyncio_receiver_by_property(make_engine):
    running = make_engine({"sflow.receiver": "asyncio"})
    assert running.engine.receive_queue is None
    assert collector.receiver_kind(running.engine.props) == "asyncio"
    running.send([enc.datagram("192.0.2.7", seq, seq, []) for seq in (1, 2, 3)])
    running.wait_datagrams(3)
    analyzer = running.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == 3 and analyzer["sFlowQueueDrops"] == 0


def test_no_accel_environment_uses_asyncio(tmp_path):
    """FLOWRT_NO_ACCEL=1 (the pure-Python CI lane) runs the asyncio receiver end to end."""
    from test_start import _get, start_engine, stop_engine

    http, sflow = free_port("tcp"), free_port("udp")
    proc, lines = start_engine(
        tmp_path,
        [
            f"-Dhttp.port={http}",
            f"-Dsflow.port={sflow}",
            "-Dhttp.hostname=127.0.0.1",
            "-Dsflow.hostname=127.0.0.1",
        ],
        env={"FLOWRT_NO_ACCEL": "1"},
    )
    try:
        # with workers, each logs it ("INFO: worker 0: sFlow receiver: asyncio")
        assert any(l.endswith(": sFlow receiver: asyncio") for l in lines), lines
        assert any(l.endswith(f" INFO: Listening, sFlow port {sflow}") for l in lines), lines
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for seq in range(1, 6):
                s.sendto(enc.datagram("192.0.2.8", seq, seq, []), ("127.0.0.1", sflow))
        deadline = time.monotonic() + 10
        import json

        while True:
            analyzer = json.loads(_get(http, "/analyzer/json")[1])
            if analyzer["sFlowDatagramsReceived"] == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert analyzer["sFlowDatagramsReceived"] == 5 and analyzer["sFlowQueueDrops"] == 0
    finally:
        assert stop_engine(proc) == 0


def test_thread_receiver_logged_by_default(tmp_path, net):
    from test_start import start_engine, stop_engine

    http, sflow = free_port("tcp"), free_port("udp")
    env = {"FLOWRT_NO_ACCEL": ""}
    proc, lines = start_engine(
        tmp_path,
        [
            f"-Dhttp.port={http}",
            f"-Dsflow.port={sflow}",
            "-Dhttp.hostname=127.0.0.1",
            "-Dsflow.hostname=127.0.0.1",
            "-Dsflow.receiver.buffer=1000000",
        ],
        env=env,
    )
    try:
        assert any(
            l.endswith(
                ": sFlow receiver: thread, 1000000 byte queue, datagrams older than 1 s dropped"
            )
            for l in lines
        ), lines
        # the thread is there under its name, for top -H and per-thread CPU accounting: in
        # the engine (start.sh execs it: proc is the engine) or, with workers, in each worker
        names = []
        for pid in [proc.pid] + _children(proc.pid):
            for tid in os.listdir(f"/proc/{pid}/task"):
                try:
                    with open(f"/proc/{pid}/task/{tid}/comm") as f:
                        names.append(f.read().strip())
                except OSError:
                    pass
        assert "flowrt-recv" in names
    finally:
        assert stop_engine(proc) == 0


def _children(pid: int) -> list[int]:
    """Descendants (workers are forked by the engine's worker zygote, a child of the engine)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return kids + [g for k in kids for g in _children(k)]
