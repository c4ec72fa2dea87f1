"""The engine: properties, agents, analyzer counters and the sample path.

Subsystems (metrics, flows, bgp, scripts, ...) live in their own packages. Each exposes
``attach(engine)`` which wires itself in (registering sample handlers, REST routes are found
separately by engine.rest) and returns an object that may have ``async start()`` and
``async stop()``. They are attached in SUBSYSTEMS order.

An engine has a ``role`` (docs/ingest.md, "Workers"): ``single`` (everything in this
process), ``worker`` (a worker process: ingest for its share of the agents, no scripts) or
``front`` (the process that started workers: REST, scripts, BGP, configuration; no ingest).
A constructed engine is ``single`` (or ``worker``); ``collector.start`` makes it the front
when ``sflow.workers`` asks for workers. Subsystems code against four primitives that hide
the difference:

- ``gather(target, method, *args) -> list``: ``method`` of subsystem ``target`` (None: the
  engine itself; dotted paths reach attributes, ``"topology.locator"``) called in every
  process holding samples: ``[result]`` in process, one result per live worker on the front.
  Queries merge the list, so one merge serves both.
- ``replicate(target, method, *args, **kw)``: on the front, the same call is made in every
  worker after it was made here (configuration); elsewhere nothing.
- ``publish(kind, payload)``: a worker sends a record to the front, where the handler
  registered with ``on_publish(kind, fn)`` gets it; elsewhere that handler is called at once.
- ``shared(topic) -> SharedTable``: cross-agent state (engine/shared.py).
"""

from __future__ import annotations

import importlib
import os
import resource
import socket
import time
from pathlib import Path
from typing import Any, Callable

from . import __version__, log, native
from .agents import AgentTable
from .ingest import IngestPath
from .props import Properties
from .shared import SharedTable

# Order matters: later subsystems may use earlier ones (flows publish metrics, scripts use all).
SUBSYSTEMS: list[str] = [
    "engine.metrics",
    "engine.hosts",
    "engine.flows",
    "engine.forwarding",
    "engine.tenants",
    "engine.bgp",
    "engine.dns",
    "engine.geo",
    "engine.topology",
    "engine.history",  # after the subsystems whose hooks it records
    "jsapi.runtime",  # last: scripts use every other subsystem
]
# Subsystems a worker process does not run: scripts run on the front only, and history
# writes from the front (fed by the workers' interval totals and metric updates, relayed).
FRONT_ONLY = {"jsapi.runtime", "engine.history"}
ROLES = ("single", "worker", "front")
# Analyzer counters of a process outside AnalyzerStats (Engine.ingest_counters); the workers
# share them with the front like AnalyzerStats.COUNTERS (engine/workers/stats.py).
INGEST_COUNTERS = ("queue_drops", "queue_expired", "agents_refused", "agents_expired")

SampleHandler = Callable[[Any, float], None]


class AnalyzerStats:
    __slots__ = (
        "datagrams",
        "bytes",
        "flow_samples",
        "counter_samples",
        "discard_samples",
        "other_samples",
        "decode_errors",
        "handler_errors",
        "start",
    )
    COUNTERS = (
        "datagrams",
        "bytes",
        "flow_samples",
        "counter_samples",
        "discard_samples",
        "other_samples",
        "decode_errors",
        "handler_errors",
    )

    def __init__(self):
        self.datagrams = self.bytes = 0
        self.flow_samples = self.counter_samples = self.discard_samples = self.other_samples = 0
        self.decode_errors = self.handler_errors = 0
        self.start = time.time()


class Engine:
    def __init__(self, props: Properties, home: Path | str = ".", role: str = "single"):
        if role not in ("single", "worker"):
            raise ValueError(f"an engine is constructed as single or worker, not {role!r}")
        self.props = props
        self.home = Path(home).resolve()
        self.version = __version__
        self.role = role
        self.worker_id = 0  # a worker: its slot (its socket in the sFlow group)
        self.cluster = None  # the front's workers (engine/workers/cluster.py)
        self._publish = None  # worker: sends a record to the front
        self._subscribers: dict[str, Callable] = {}
        self._shared: dict[str, SharedTable] = {}
        self.stats = AnalyzerStats()
        self.agents = AgentTable.from_props(props)
        self.ingest_path = IngestPath(self)
        self.flow_handlers: list[SampleHandler] = []
        self.counter_handlers: list[SampleHandler] = []
        self.other_handlers: list[SampleHandler] = []
        self.datagram_handlers: list[Callable[[bytes, str, float], None]] = []
        self.subsystems: dict[str, Any] = {}
        self.kernel_drops = KernelDrops()
        self.receive_queue = None  # the collector's native receive thread (engine._net.Receiver)
        self.http_port = 0  # the REST port once it listens (engine.http_server)
        self.http_tls = False
        self.http_connections = None
        self.internal_token = None  # the secret scripts' requests to this engine carry
        for name in SUBSYSTEMS:
            if role == "worker" and name in FRONT_ONLY:
                continue
            module = importlib.import_module(name)
            self.subsystems[name.rsplit(".", 1)[-1]] = module.attach(self)

    # -- sample path (engine/ingest.py) -------------------------------------------------------
    def ingest(self, data: bytes, src: str, now: float) -> None:
        """Decode one datagram and hand its samples on. Never raises: bad input is counted."""
        self.ingest_path.ingest(data, src, now)

    def ingest_batch(self, batch) -> None:
        """Several datagrams, [(data, src, now), ...] in arrival order (the receive queue)."""
        self.ingest_path.ingest_batch(batch)

    def use_handler(self, kind: str, handler: Callable, active: bool = True) -> None:
        """Join (``active``) or leave ``<kind>_handlers`` (kind: flow, counter, other,
        datagram), for subsystems that are on the sample path only while configured. The list
        is replaced, never changed in place, so an ingest loop iterating it is unaffected;
        joining twice or leaving when absent does nothing."""
        attr = f"{kind}_handlers"
        handlers = getattr(self, attr)
        if (handler in handlers) == active:
            return
        setattr(
            self, attr, handlers + [handler] if active else [h for h in handlers if h != handler]
        )
        self.ingest_path.invalidate()

    # -- one engine, several processes (docs/ingest.md, "Workers") -------------------------
    def target(self, target: str | None):
        """The object ``gather``/``replicate`` address: None = the engine, else a subsystem
        name (or an engine attribute: ``agents``) optionally followed by attribute names
        (``topology.locator``)."""
        if target is None:
            return self
        name, _, rest = target.partition(".")
        obj = self.subsystems[name] if name in self.subsystems else getattr(self, name)
        for attr in rest.split(".") if rest else ():
            obj = getattr(obj, attr)
        return obj

    def gather(self, target: str | None, method: str, *args) -> list:
        cluster = self.cluster
        if cluster is not None:
            return cluster.gather(target, method, args)
        return [getattr(self.target(target), method)(*args)]

    def replicate(self, target: str | None, method: str, *args, **kw) -> None:
        cluster = self.cluster
        if cluster is not None:
            cluster.broadcast(target, method, args, kw)

    def sync(self) -> None:
        """Front: wait until every record the workers made so far is handled here (journals,
        shared tables). Elsewhere nothing."""
        cluster = self.cluster
        if cluster is not None:
            cluster.sync()

    def publish(self, kind: str, payload) -> None:
        send = self._publish
        if send is not None:
            send(kind, payload)
            return
        fn = self._subscribers.get(kind)
        if fn is not None:
            fn(payload)

    def on_publish(self, kind: str, fn: Callable) -> None:
        self._subscribers[kind] = fn

    def shared(self, topic: str) -> SharedTable:
        table = self._shared.get(topic)
        if table is None:
            notify = self._shared_changed if self.role == "worker" else None
            table = self._shared[topic] = SharedTable(topic, notify)
        return table

    def _shared_changed(self, table: SharedTable) -> None:
        """Worker: publish a table's changes once the current loop turn is over (batched)."""
        cluster_notify = getattr(self, "_shared_notify", None)
        if cluster_notify is not None:
            cluster_notify(table)

    def _handler_failed(self, handler, exc: Exception) -> None:
        self.stats.handler_errors += 1
        if self.stats.handler_errors <= 10 or self.stats.handler_errors % 10000 == 0:
            log.log.error(
                "sample handler %s failed: %r",
                getattr(handler, "__qualname__", handler),
                exc,
                exc_info=exc,
            )

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        native.log_status()  # once per process: which paths run in C, which in Python and why
        for sub in self.subsystems.values():
            start = getattr(sub, "start", None)
            if start is not None:
                await start()

    def closing(self) -> None:
        """The engine is about to stop: subsystems end what waits on them (long-polls answer
        now) before the HTTP server closes its connections. Each ``closing()`` is quick."""
        for sub in self.subsystems.values():
            closing = getattr(sub, "closing", None)
            if closing is not None:
                try:
                    closing()
                except Exception as exc:
                    log.log.error("closing %r failed: %r", sub, exc)

    async def stop(self) -> None:
        for sub in reversed(list(self.subsystems.values())):
            stop = getattr(sub, "stop", None)
            if stop is not None:
                try:
                    await stop()
                except Exception as exc:
                    log.log.error("stopping %r failed: %r", sub, exc)

    def ping(self) -> bool:
        """Answered by a worker after everything it pushed before (Engine.sync)."""
        return True

    def agents_partial(self, items: list, now: float) -> dict:
        from .agents import local_agents

        return local_agents(self, items, now)

    # -- health ------------------------------------------------------------------------------
    def process_partial(self) -> dict:
        """What /analyzer/json needs from each process holding samples: its agents, CPU
        seconds and peak memory (agents silent for agents.timeout forgotten first)."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "agents": len(self.agents.current()),
            "cpu": usage.ru_utime + usage.ru_stime,
            "rss": usage.ru_maxrss * 1024,
        }

    def analyzer_json(self) -> dict:
        s = self.stats  # on the front: the workers' counters, summed
        now = time.time()
        parts = self.gather(None, "process_partial")
        if self.cluster is not None:  # the front's own CPU and memory count too
            own = self.process_partial()
            own["agents"] = 0
            parts.append(own)
        cpu = sum(p["cpu"] for p in parts)
        elapsed = max(now - s.start, 1e-6)
        ncpu = os.cpu_count() or 1
        http = self.http_connections  # set by engine.http_server while it serves
        counters = self.ingest_counters()  # after the parts: the workers' are written by now
        return {
            "version": self.version,
            "updateAvailable": False,
            "uptime": int((now - s.start) * 1000),
            "sFlowAgents": sum(p["agents"] for p in parts),
            "sFlowAgentsExpired": counters["agents_expired"],
            "sFlowDatagramsRefused": counters["agents_refused"],
            "sFlowBytesReceived": s.bytes,
            "sFlowDatagramsReceived": s.datagrams,
            "sFlowFlowSamples": s.flow_samples,
            "sFlowCounterSamples": s.counter_samples,
            "sFlowDiscardSamples": s.discard_samples,
            "sFlowOtherSamples": s.other_samples,
            "sFlowDecodeErrors": s.decode_errors,
            "sFlowHandlerErrors": s.handler_errors,
            "sFlowKernelDrops": self.kernel_drops.read(),
            "sFlowQueueDrops": counters["queue_drops"],
            "sFlowQueueExpired": counters["queue_expired"],
            "cpuLoadProcess": min(1.0, cpu / elapsed / ncpu),
            "cpuLoadSystem": min(1.0, os.getloadavg()[0] / ncpu),
            "heapUsed": sum(p["rss"] for p in parts),
            "heapMax": _memory_limit(),
            "httpConnectionsCurrent": http.current if http is not None else 0,
            "httpConnectionsTotal": http.total if http is not None else 0,
            **self._subsystem_stats(),
            "native": native.status(),  # which paths run in C (engine/native.py)
        }

    def _subsystem_stats(self) -> dict:
        """Counters subsystems add to /analyzer/json (``analyzer_stats() -> dict``)."""
        out: dict = {}
        for sub in self.subsystems.values():
            stats = getattr(sub, "analyzer_stats", None)
            if stats is not None:
                try:
                    out.update(stats())
                except Exception as exc:
                    log.log.error("analyzer stats of %r failed: %r", sub, exc)
        return out

    def license_json(self) -> dict:
        """/license/json in sFlow-RT's shape: an open-source engine has no licence key, host
        binding, bandwidth cap or expiry, so every check is OK; ``bps`` is the sFlow received
        (bits/s, averaged since start)."""
        s = self.stats
        elapsed = max(time.time() - s.start, 1e-6)
        return {
            "license": {
                "type": "open-source",
                "product": "flowrt",
                "license": "Apache-2.0",
                "host": socket.gethostname(),
                "host_ok": True,
                "max_bps_ok": True,
                "expires_ok": True,
            },
            "analyzer": {"bps": int(s.bytes * 8 / elapsed), "host": socket.gethostname()},
        }

    def receive_stats(self) -> dict | None:
        """The receive thread's queue counters (None on the asyncio receiver)."""
        queue = self.receive_queue
        return None if queue is None else queue.stats()

    def ingest_counters(self) -> dict:
        """The analyzer counters kept outside AnalyzerStats (INGEST_COUNTERS): the receive
        queue's drops (full) and expiries (older than sflow.receiver.maxage), the datagrams the
        agent table refused (agents.max) and the agents it forgot (agents.timeout). On the
        front: the workers' (engine/workers/stats.py), summed."""
        if self.cluster is not None:
            stats = self.stats
            return {name: getattr(stats, name) for name in INGEST_COUNTERS}
        queue = self.receive_queue
        q: dict = queue.stats() if queue is not None else {}
        agents = self.agents
        return {
            "queue_drops": q.get("dropped", 0),
            "queue_expired": q.get("expired", 0),
            "agents_refused": agents.refused,
            "agents_expired": agents.expired,
        }

    def queue_drops(self) -> int:
        """Datagrams the receive thread(s) dropped because the queue was full (0 on asyncio)."""
        return self.ingest_counters()["queue_drops"]

    def queue_expired(self) -> int:
        """Datagrams dropped because they had waited longer than sflow.receiver.maxage in the
        receive queue (0 on asyncio)."""
        return self.ingest_counters()["queue_expired"]


def _memory_limit() -> int:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class KernelDrops:
    """UDP receive-buffer drops counted by the kernel (/proc/net/snmp and snmp6 RcvbufErrors),
    reported as the increase since the engine started."""

    def __init__(self):
        self.base = self._total()

    @staticmethod
    def _total() -> int:
        total = 0
        try:
            with open("/proc/net/snmp") as f:
                lines = [l.split() for l in f if l.startswith("Udp:")]
            if len(lines) >= 2 and "RcvbufErrors" in lines[0]:
                total += int(lines[1][lines[0].index("RcvbufErrors")])
        except (OSError, ValueError):
            pass
        try:
            with open("/proc/net/snmp6") as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == "Udp6RcvbufErrors":
                        total += int(value)
        except (OSError, ValueError):
            pass
        return total

    def read(self) -> int:
        return max(0, self._total() - self.base)
