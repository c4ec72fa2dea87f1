"""A worker process: ``python -m engine.workers.worker CTL_FD SFLOW_FD STATS_FD SLOT``, started
by the front (engine/workers/cluster.py; design in docs/ingest.md, "Workers").

It runs an ordinary Engine (role ``worker``: every subsystem but the scripts) on the sFlow
socket it inherited, and serves its control socket: configuration calls are applied in order,
queries answered, datagrams handed over by the front ingested. What it must tell the front
(flow records, events, shared-table changes, log lines) is batched and sent once the current
event-loop turn is over, and always before the next reply. It stops on ``("stop",)``,
SIGTERM, or when the front goes away (its control socket closes).
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import os
import select
import signal
import socket
import sys
import threading

from .. import log
from ..props import Properties
from . import protocol
from .stats import SharedCounters

PR_SET_PDEATHSIG = 1


class PushLogHandler(logging.Handler):
    """Log records go to the front, which logs them with the worker's number."""

    def __init__(self, worker: "Worker"):
        super().__init__()
        self.worker = worker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.worker.push("log", (record.levelno, text))
        except Exception:
            pass


class Worker:
    def __init__(self, engine, ctl: socket.socket, write_stats):
        self.engine = engine
        self.ctl = ctl
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        self.decoder = protocol.Decoder()
        self.outbox: list = []
        self.dirty: set = set()
        self.scheduled = False
        self.stopping = asyncio.Event()
        self.transport: asyncio.BaseTransport | None = None
        self._write_stats = write_stats
        self._poll = select.poll()
        self._poll.register(ctl.fileno(), select.POLLIN)
        engine._publish = self.push
        engine._shared_notify = self.shared_changed

    # -- up to the front -----------------------------------------------------------------------
    def push(self, kind: str, payload) -> None:
        self.outbox.append((kind, payload))
        self._schedule()

    def shared_changed(self, table) -> None:
        self.dirty.add(table)
        self._schedule()

    def _schedule(self) -> None:
        if self.scheduled:
            return
        self.scheduled = True
        if threading.get_ident() == self.loop_thread:
            self.loop.call_soon(self.flush)
        else:
            try:
                self.loop.call_soon_threadsafe(self.flush)
            except RuntimeError:
                pass

    def flush(self) -> None:
        self.scheduled = False
        if self.dirty:
            dirty, self.dirty = self.dirty, set()
            for table in dirty:
                changes = table.take_changes()
                if changes:
                    self.outbox.append(("shared", (table.topic, changes)))
        if self.outbox:
            items, self.outbox = self.outbox, []
            self._send(("pushes", items))

    def _send(self, msg) -> None:
        try:
            data = protocol.frame(msg)
        except Exception as exc:  # not picklable (pickle raises more than PicklingError)
            if msg[0] == "reply":
                data = protocol.frame(
                    ("reply", msg[1], False, RuntimeError(f"answer cannot be sent: {exc!r}"))
                )
            else:
                log.log.error("cannot send %s to the front: %r", msg[0], exc)
                return
        try:
            self.ctl.sendall(data)
        except OSError:
            self.stopping.set()  # the front is gone

    def write_stats(self) -> None:
        engine = self.engine
        self._write_stats(engine.stats, engine.ingest_counters())

    def control_waiting(self) -> bool:
        return bool(self._poll.poll(0))

    # -- from the front ------------------------------------------------------------------------
    def readable(self) -> None:
        try:
            data = self.ctl.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.stopping.set()
            return
        for msg in self.decoder.feed(data):
            self.handle(msg)

    def handle(self, msg) -> None:
        kind = msg[0]
        engine = self.engine
        if kind == "call":
            _, qid, target, method, args = msg
            try:
                reply = ("reply", qid, True, getattr(engine.target(target), method)(*args))
            except Exception as exc:
                reply = ("reply", qid, False, exc)
            self.write_stats()  # counters a query moved (agents expired) read current
            self.flush()  # what it pushed comes first
            self._send(reply)
        elif kind == "ingest":
            engine.ingest(msg[1], msg[2], msg[3])
            self.write_stats()
        elif kind == "ingest_batch":
            engine.ingest_batch(msg[1])
            self.write_stats()
        elif kind == "apply":
            _, target, method, args, kw = msg
            self.apply(target, method, args, kw)
        elif kind == "shared":
            engine.shared(msg[1]).apply_remote(msg[2])
        elif kind == "stop":
            self.stopping.set()

    def apply(self, target, method, args, kw) -> None:
        try:
            getattr(self.engine.target(target), method)(*args, **kw)
        except Exception as exc:
            log.log.error("configuration %s.%s failed in this worker: %r", target, method, exc)

    def ingest(self, data, src, now) -> None:
        """The asyncio receiver's ingest: counters published per datagram."""
        self.engine.ingest(data, src, now)
        self.write_stats()


async def run(
    ctl: socket.socket,
    init: dict,
    counters: SharedCounters,
    sflow_fd: int,
    decoder: protocol.Decoder,
    pending: list,
) -> None:
    from .. import collector
    from ..core import Engine

    slot = init["slot"]
    engine = Engine(Properties(init["props"]), init["home"], role="worker")
    engine.worker_id = slot
    worker = Worker(engine, ctl, counters.writer(slot))
    engine.agents.share(*counters.agents_gauge(slot))
    worker.decoder = decoder  # it may hold the start of the next frame
    handler = PushLogHandler(worker)
    log.log.addHandler(handler)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM,):
        loop.add_signal_handler(sig, worker.stopping.set)
    for topic, snapshot in init["shared"].items():
        engine.shared(topic).apply_remote(snapshot)
    for target, method, args, kw in init["state"]:
        worker.apply(target, method, args, kw)
    for msg in pending:  # sent right behind init: handled first, in order
        worker.handle(msg)
    ctl.setblocking(False)
    loop.add_reader(ctl.fileno(), worker.readable)
    await engine.start()
    sock = socket.socket(fileno=sflow_fd)
    worker.transport = await collector.receive(
        engine,
        sock,
        loop,
        ingest=worker.ingest,
        after_batch=worker.write_stats,
        should_yield=worker.control_waiting,
    )
    # what start-up made lives as long as the worker: out of the collector's sight, as in
    # the in-process engine (engine/main.py)
    gc.collect()
    gc.freeze()
    worker.flush()  # its log lines first
    worker._send(("ready", os.getpid()))
    try:
        await worker.stopping.wait()
    finally:
        if worker.transport is not None:
            worker.transport.close()
        try:
            await engine.stop()
        finally:
            worker.write_stats()
            worker.flush()
            log.log.removeHandler(handler)


def main(argv: list[str]) -> int:
    ctl_fd, sflow_fd, stats_fd, slot = (int(a) for a in argv[:4])
    try:  # exit with the front, even when it is killed
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the front stops us (Ctrl-C reaches both)
    ctl = socket.socket(fileno=ctl_fd)
    ctl.setblocking(True)
    decoder = protocol.Decoder()
    init = None
    while init is None:
        data = ctl.recv(1 << 20)
        if not data:
            return 0
        messages = decoder.feed(data)
        if messages:
            init = messages[0][1]
            pending = messages[1:]
    os.chdir(init["home"])  # relative paths resolve against home, as in the front
    log.log.setLevel(init["log_level"])
    log.log.propagate = False
    counters = SharedCounters(init["workers"], stats_fd)
    try:
        asyncio.run(run(ctl, init, counters, sflow_fd, decoder, pending))
    except KeyboardInterrupt:
        pass
    # stopped and flushed: nothing left that interpreter teardown would do for us
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
