"""The front's side of an engine with workers (docs/ingest.md, "Workers"): starts the worker
processes on the sFlow socket group, keeps them running, sends them configuration, datagrams
and queries, and handles what they send back.

Thread safety: queries may come from any thread (REST and scripts run on the event loop;
tests and tools call engine functions from their own). One lock serializes everything that
reads or writes the control sockets; records the workers push (journals, shared tables, log
lines) are queued while it is held and handled on the event-loop thread afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import os
import pickle
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import log
from . import DEFAULT_TIMEOUT, TIMEOUT_PROPERTY, protocol, steering
from .stats import ClusterStats, SharedCounters
from .zygote import Zygote

REPO = Path(__file__).resolve().parent.parent.parent
START_TIMEOUT = 60.0  # seconds for every worker to report ready at engine start
STOP_TIMEOUT = 2.0  # seconds workers get to stop before they are killed
RESTART_DELAY = 1.0
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 10.0  # a worker that ran this long restarts after RESTART_DELAY again
INGEST_FRAME = 1024  # datagrams per ingest_batch message at most


class WorkerLost(Exception):
    pass


class Slot:
    """One worker position: its UDP socket (kept across restarts) and its current process."""

    def __init__(self, index: int, udp):
        self.index = index
        self.udp = udp
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.decoder = protocol.Decoder()
        self.replies: dict = {}
        self.alive = False
        self.ready: asyncio.Future | None = None
        self.started = 0.0
        self.delay = RESTART_DELAY
        self.restarts = 0
        self.lost_reason = ""


class Cluster:
    def __init__(self, engine, socks: list, loop: asyncio.AbstractEventLoop):
        self.engine = engine
        self.loop = loop
        self.n = len(socks)
        self.port = socks[0].getsockname()[1]
        self.slots = [Slot(i, s) for i, s in enumerate(socks)]
        self.counters = SharedCounters(self.n)
        self.stats = ClusterStats(self.counters, engine.stats.start)
        self.lock = threading.RLock()
        self.qid = 0
        self.pushes: collections.deque = collections.deque()
        self.closing = False
        self._dispatching = False
        self._loop_thread = threading.get_ident()
        try:
            self.timeout = float(engine.props.get_str(TIMEOUT_PROPERTY, "") or DEFAULT_TIMEOUT)
        except ValueError:
            self.timeout = DEFAULT_TIMEOUT

    # -- processes ---------------------------------------------------------------------------
    def spawn(self, slot: Slot) -> None:
        """Start slot's worker and send it its configuration (loop thread). Broadcasts made
        after this reach it after its snapshot: both go down its socket in order."""
        front, back = protocol.socketpair()
        fds = (back.fileno(), slot.udp.fileno(), self.counters.fd)
        try:
            proc = self._start_process(fds, slot.index)
        finally:
            back.close()
        front.setblocking(False)
        with self.lock:
            slot.proc, slot.sock = proc, front
            slot.decoder = protocol.Decoder()
            slot.replies = {}
            slot.alive = True
            slot.started = time.monotonic()
            slot.ready = self.loop.create_future()
            try:
                self._write(slot, protocol.frame(("init", self._init_config(slot))))
            except WorkerLost as exc:
                self._lost(slot, f"did not take its configuration ({exc})")
                return
        self.loop.add_reader(front.fileno(), self._readable, slot)

    def _start_process(self, fds: tuple, index: int):
        """Fork it from the zygote (engine/workers/zygote.py: no interpreter start), or run
        a fresh interpreter when that fails."""
        try:
            return Zygote.get().spawn(fds, index)
        except OSError as exc:
            log.warning(f"sFlow worker {index}: no zygote ({exc}); starting an interpreter")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "engine.workers.worker", *map(str, fds), str(index)]
        return subprocess.Popen(
            cmd, pass_fds=fds, env=env, cwd=str(self.engine.home), stdin=subprocess.DEVNULL
        )

    def _init_config(self, slot: Slot) -> dict:
        engine = self.engine
        state = []
        for name, sub in engine.subsystems.items():
            replica = getattr(sub, "replica_state", None)
            if replica is not None:
                for method, args, kw in replica():
                    entry = (name, method, args, kw)
                    if _picklable(entry):
                        state.append(entry)
                    else:
                        log.severe(
                            f"sFlow worker {slot.index}: {name}.{method} cannot be "
                            f"sent to it (its arguments do not pickle)"
                        )
        return {
            "props": dict(engine.props),
            "home": str(engine.home),
            "slot": slot.index,
            "workers": self.n,
            "state": state,
            "shared": {topic: table.snapshot() for topic, table in engine._shared.items()},
            "log_level": log.log.level,
        }

    async def wait_ready(self, timeout: float) -> None:
        futures = [s.ready for s in self.slots if s.ready is not None]
        done, pending = await asyncio.wait(futures, timeout=timeout)
        if pending or not all(f.result() for f in done):
            raise RuntimeError("sFlow workers did not start (see the log)")

    def _lost(self, slot: Slot, reason: str) -> None:
        """A worker is gone or no longer answers: clean up and restart it (any thread)."""
        with self.lock:
            if not slot.alive:
                return
            slot.alive = False
            slot.lost_reason = reason
            sock, proc = slot.sock, slot.proc
            slot.sock = None
            if proc is not None and proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
            self.stats.retire(slot.index)
            # what it had told the others about its agents is gone with it
            for table in self.engine._shared.values():
                gone = table.withdraw_origin(slot.index)
                if gone:
                    self._send_all(("shared", table.topic, gone), skip=slot)
        if slot.ready is not None:
            self._call_in_loop(_resolve, slot.ready, False)  # never became ready
        self._call_in_loop(self._close_link, sock)
        if self.closing:
            return
        delay = slot.delay if time.monotonic() - slot.started < STABLE_AFTER else RESTART_DELAY
        slot.delay = min(delay * 2, RESTART_DELAY_MAX)
        log.severe(
            f"sFlow worker {slot.index} (pid {proc.pid if proc else '?'}) {reason}; "
            f"restarting it in {delay:g} s"
        )
        self._call_in_loop(self.loop.call_later, delay, self._restart, slot)

    def _close_link(self, sock) -> None:
        if sock is None:
            return
        try:
            self.loop.remove_reader(sock.fileno())
        except (ValueError, RuntimeError, OSError):
            pass
        sock.close()

    def _restart(self, slot: Slot) -> None:
        if self.closing or slot.alive:
            return
        old = slot.proc
        status = None
        if old is not None:
            try:
                status = old.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                pass
        slot.restarts += 1
        self.spawn(slot)
        log.info(
            f"sFlow worker {slot.index} restarted (pid {slot.proc and slot.proc.pid}); the previous one "
            f"exited with status {status}"
        )

    def _call_in_loop(self, fn, *args) -> None:
        if threading.get_ident() == self._loop_thread:
            fn(*args)
        else:
            try:
                self.loop.call_soon_threadsafe(fn, *args)
            except RuntimeError:  # loop closed
                pass

    def pids(self) -> list:
        return [s.proc.pid if s.proc is not None and s.alive else None for s in self.slots]

    # -- the control sockets (caller holds the lock) -------------------------------------------
    def _write(self, slot: Slot, data: bytes, deadline: float | None = None) -> None:
        """Send a frame; while the socket is full, keep reading what the worker sends (it
        may be blocked writing to us)."""
        deadline = deadline or time.monotonic() + self.timeout
        view = memoryview(data)
        sock = slot.sock
        if sock is None:
            raise WorkerLost("no control socket")
        while view:
            try:
                sent = sock.send(view)
                view = view[sent:]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                raise WorkerLost(f"control socket: {exc}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerLost("did not read its control socket in time")
            r, w, _ = select.select([sock], [sock], [], remaining)
            if r:
                self._read(slot)

    def _read(self, slot: Slot) -> None:
        """Everything the worker sent so far; pushes are queued, replies kept by query id."""
        sock = slot.sock
        if sock is None:
            raise WorkerLost("no control socket")
        while True:
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                return
            except OSError as exc:
                raise WorkerLost(f"control socket: {exc}") from None
            if not data:
                raise WorkerLost("exited")
            for msg in slot.decoder.feed(data):
                kind = msg[0]
                if kind == "pushes":
                    self.pushes.extend((slot.index, k, p) for k, p in msg[1])
                elif kind == "reply":
                    slot.replies[msg[1]] = (msg[2], msg[3])
                elif kind == "ready":
                    fut = slot.ready
                    if fut is not None:
                        self._call_in_loop(_resolve, fut)

    def _reply(self, slot: Slot, qid: int, deadline: float):
        while True:
            found = slot.replies.pop(qid, None)
            if found is not None:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WorkerLost(f"did not answer within {self.timeout:g} s")
            sock = slot.sock
            if sock is None:
                raise WorkerLost("no control socket")
            r, _, _ = select.select([sock], [], [], remaining)
            if r:
                self._read(slot)

    def _send_all(self, msg, skip: Slot | None = None) -> None:
        data = protocol.frame(msg)
        for slot in self.slots:
            if slot.alive and slot is not skip:
                try:
                    self._write(slot, data)
                except WorkerLost as exc:
                    self._lost(slot, str(exc))

    def _readable(self, slot: Slot) -> None:
        """Event loop: a worker sent something while nobody waited for it (pushes, ready,
        or the end of its control socket)."""
        if not self.lock.acquire(blocking=False):
            # another thread is talking to the workers and reads this too; look again soon
            # (not at once: the socket stays readable until it does)
            fd = slot.sock.fileno() if slot.sock is not None else None
            if fd is not None:
                self.loop.remove_reader(fd)
                self.loop.call_later(0.002, self._watch, slot)
            return
        try:
            if slot.alive:
                self._read(slot)
                slot.replies.clear()  # answers to queries given up on
        except WorkerLost as exc:
            self._lost(slot, str(exc))
        finally:
            self.lock.release()
        self.dispatch()

    def _watch(self, slot: Slot) -> None:
        if slot.alive and slot.sock is not None:
            self.loop.add_reader(slot.sock.fileno(), self._readable, slot)

    # -- what the engine asks --------------------------------------------------------------
    def gather(self, target, method: str, args: tuple) -> list:
        """``method`` of ``target`` in every live worker, in parallel; their results in
        worker order. A worker that fails to answer in time is restarted and left out. An
        exception raised in a worker is raised here (after every answer is in)."""
        results = []
        error = None
        with self.lock:
            self.qid += 1
            qid = self.qid
            deadline = time.monotonic() + self.timeout
            data = protocol.frame(("call", qid, target, method, args))
            asked = []
            for slot in self.slots:
                if not slot.alive:
                    continue
                try:
                    self._write(slot, data, deadline)
                    asked.append(slot)
                except WorkerLost as exc:
                    self._lost(slot, str(exc))
            for slot in asked:
                try:
                    ok, value = self._reply(slot, qid, deadline)
                except WorkerLost as exc:
                    self._lost(slot, str(exc))
                    continue
                if ok:
                    results.append(value)
                elif error is None:
                    error = value
        self.dispatch()
        if error is not None:
            raise error
        return results

    def broadcast(self, target, method: str, args: tuple, kw: dict) -> None:
        msg = ("apply", target, method, args, kw)
        if not _picklable(msg):
            log.severe(
                f"sFlow workers: {target}.{method} cannot be sent to them (its "
                f"arguments do not pickle); they go on without it"
            )
            return
        with self.lock:
            self._send_all(msg)
        self.dispatch()

    def ingest(self, data: bytes, src: str, now: float) -> None:
        """Engine.ingest on the front: to the worker the steering program would pick."""
        slot = self.slots[steering.worker_of(data, self.n)]
        with self.lock:
            if slot.alive:
                try:
                    self._write(slot, protocol.frame(("ingest", bytes(data), src, now)))
                except WorkerLost as exc:
                    self._lost(slot, str(exc))

    def ingest_batch(self, batch) -> None:
        """Engine.ingest_batch on the front: each worker gets its datagrams (those the
        steering program would give it), in order, as one batch for its C ingest path."""
        n = self.n
        parts: dict[int, list] = {}
        for data, src, now in batch:
            parts.setdefault(steering.worker_of(data, n), []).append((bytes(data), src, now))
        with self.lock:
            for index, items in parts.items():
                slot = self.slots[index]
                # frames of a bounded size: a replay of a whole capture does not make one
                # message that takes the worker (and the write's deadline) seconds
                for i in range(0, len(items), INGEST_FRAME):
                    if not slot.alive:
                        break
                    try:
                        self._write(
                            slot, protocol.frame(("ingest_batch", items[i : i + INGEST_FRAME]))
                        )
                    except WorkerLost as exc:
                        self._lost(slot, str(exc))

    def sync(self) -> None:
        """Every record pushed before now is handled here (a ping answered by every worker
        comes after whatever it pushed before)."""
        self.gather(None, "ping", ())

    # -- pushed records ------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Handle the queued pushes, on the event-loop thread."""
        if not self.pushes:
            return
        if threading.get_ident() != self._loop_thread:
            self._call_in_loop(self.dispatch)
            return
        if self._dispatching:
            return
        self._dispatching = True
        try:
            engine = self.engine
            while self.pushes:
                origin, kind, payload = self.pushes.popleft()
                try:
                    if kind == "shared":
                        topic, changes = payload
                        engine.shared(topic).apply_remote(changes, origin)
                        with self.lock:
                            self._send_all(("shared", topic, changes), skip=self.slots[origin])
                    elif kind == "log":
                        level, message = payload
                        log.log.log(level, f"worker {origin}: {message}")
                    else:
                        handler = engine._subscribers.get(kind)
                        if handler is not None:
                            handler(payload)
                except Exception as exc:
                    log.log.error(
                        "handling %s from worker %s failed: %r", kind, origin, exc, exc_info=exc
                    )
        finally:
            self._dispatching = False

    # -- stop ----------------------------------------------------------------------------------
    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default=None):
        return default

    def close(self) -> None:
        """Stop every worker (each exports what it still holds), then close the sockets.
        Blocks for at most STOP_TIMEOUT (+ kill)."""
        if self.closing:
            return
        self.closing = True
        with self.lock:
            for slot in self.slots:
                if slot.alive:
                    try:
                        self._write(
                            slot, protocol.frame(("stop",)), time.monotonic() + STOP_TIMEOUT
                        )
                    except WorkerLost:
                        pass
        deadline = time.monotonic() + STOP_TIMEOUT
        for slot in self.slots:
            proc = slot.proc
            if proc is None:
                continue
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning(
                    f"sFlow worker {slot.index} (pid {proc.pid}) did not stop in "
                    f"{STOP_TIMEOUT:g} s; killed"
                )
                proc.kill()
                proc.wait()
        with self.lock:
            for slot in self.slots:
                if slot.sock is not None:
                    self._read_quietly(slot)
                slot.alive = False
                if slot.sock is not None:
                    self._close_link(slot.sock)
                    slot.sock = None
                slot.udp.close()
            self.stats.freeze()
        self.dispatch()

    def _read_quietly(self, slot: Slot) -> None:
        try:
            self._read(slot)
        except WorkerLost:
            pass


class ReceiveQueues:
    """``engine.receive_queue`` on the front: the workers' receive queues as one (their
    counters summed; the high water mark is the highest)."""

    def __init__(self, engine):
        self.engine = engine

    def stats(self) -> dict:
        out: dict = {}
        for part in self.engine.gather(None, "receive_stats"):
            for key, value in (part or {}).items():
                if key == "high_water":
                    out[key] = max(out.get(key, 0), value)
                elif key == "last_errno":
                    out[key] = out.get(key) or value
                else:
                    out[key] = out.get(key, 0) + value
        return out


def _picklable(obj) -> bool:
    try:
        pickle.dumps(obj, protocol=5)
        return True
    except Exception:
        return False


def _resolve(fut: asyncio.Future, ready: bool = True) -> None:
    if not fut.done():
        fut.set_result(ready)


async def start(engine, n: int, loop: asyncio.AbstractEventLoop):
    """Open the sFlow socket group, start n workers and make ``engine`` their front. Returns
    (transport, port) like collector.start: the transport's close() stops the workers."""
    props = engine.props
    socks = steering.open_group(
        props.get_str("sflow.hostname", "") or "",
        props.get_int("sflow.port", 6343),
        props.get_int("sflow.rcvpktsbuffer", 2048000),
        n,
    )
    cluster = Cluster(engine, socks, loop)
    engine.cluster = cluster
    engine.role = "front"
    engine.stats = cluster.stats
    engine.ingest = cluster.ingest  # nothing ingests on the front: all goes to
    engine.ingest_batch = cluster.ingest_batch  # the worker that owns the agent
    from ..collector import receiver_kind

    engine.receive_queue = ReceiveQueues(engine) if receiver_kind(props) == "thread" else None
    for slot in cluster.slots:
        cluster.spawn(slot)
    try:
        await cluster.wait_ready(START_TIMEOUT)
    except BaseException:
        cluster.close()
        raise
    log.info(f"sFlow workers: {n} (pids {', '.join(str(p) for p in cluster.pids())})")
    log.info(f"Listening, sFlow port {cluster.port}")
    return cluster, cluster.port
