"""The engine: properties, agents, analyzer counters and the sample path.

Subsystems (metrics, flows, bgp, scripts, ...) live in their own packages. Each exposes
``attach(engine)`` which wires itself in (registering sample handlers, REST routes are found
separately by engine.rest) and returns an object that may have ``async start()`` and
``async stop()``. They are attached in SUBSYSTEMS order.
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

SampleHandler = Callable[[Any, float], None]


class AnalyzerStats:
    __slots__ = ("datagrams", "bytes", "flow_samples", "counter_samples", "discard_samples",
                 "other_samples", "decode_errors", "handler_errors", "start")

    def __init__(self):
        self.datagrams = self.bytes = 0
        self.flow_samples = self.counter_samples = self.discard_samples = self.other_samples = 0
        self.decode_errors = self.handler_errors = 0
        self.start = time.time()


class Engine:
    def __init__(self, props: Properties, home: Path | str = "."):
        self.props = props
        self.home = Path(home).resolve()
        self.version = __version__
        self.stats = AnalyzerStats()
        self.agents = AgentTable.from_props(props)
        self.ingest_path = IngestPath(self)
        self.flow_handlers: list[SampleHandler] = []
        self.counter_handlers: list[SampleHandler] = []
        self.other_handlers: list[SampleHandler] = []
        self.datagram_handlers: list[Callable[[bytes, str, float], None]] = []
        self.subsystems: dict[str, Any] = {}
        self.kernel_drops = KernelDrops()
        self.receive_queue = None   # the collector's native receive thread (engine._net.Receiver)
        for name in SUBSYSTEMS:
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
        setattr(self, attr, handlers + [handler] if active
                else [h for h in handlers if h != handler])
        self.ingest_path.invalidate()

    def _handler_failed(self, handler, exc: Exception) -> None:
        self.stats.handler_errors += 1
        if self.stats.handler_errors <= 10 or self.stats.handler_errors % 10000 == 0:
            log.log.error("sample handler %s failed: %r", getattr(handler, "__qualname__", handler),
                          exc, exc_info=exc)

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        native.log_status()     # once per process: which paths run in C, which in Python and why
        for sub in self.subsystems.values():
            start = getattr(sub, "start", None)
            if start is not None:
                await start()

    async def stop(self) -> None:
        for sub in reversed(list(self.subsystems.values())):
            stop = getattr(sub, "stop", None)
            if stop is not None:
                try:
                    await stop()
                except Exception as exc:
                    log.log.error("stopping %r failed: %r", sub, exc)

    # -- health ------------------------------------------------------------------------------
    def analyzer_json(self) -> dict:
        s = self.stats
        now = time.time()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = max(now - s.start, 1e-6)
        return {
            "version": self.version,
            "updateAvailable": False,
            "uptime": int((now - s.start) * 1000),
            "sFlowAgents": len(self.agents.current(now)),
            "sFlowAgentsExpired": self.agents.expired,
            "sFlowDatagramsRefused": self.agents.refused,
            "sFlowBytesReceived": s.bytes,
            "sFlowDatagramsReceived": s.datagrams,
            "sFlowFlowSamples": s.flow_samples,
            "sFlowCounterSamples": s.counter_samples,
            "sFlowDiscardSamples": s.discard_samples,
            "sFlowOtherSamples": s.other_samples,
            "sFlowDecodeErrors": s.decode_errors,
            "sFlowHandlerErrors": s.handler_errors,
            "sFlowKernelDrops": self.kernel_drops.read(),
            "sFlowQueueDrops": self.queue_drops(),
            "sFlowQueueExpired": self.queue_expired(),
            "cpuLoadProcess": min(1.0, (usage.ru_utime + usage.ru_stime) / elapsed / (os.cpu_count() or 1)),
            "cpuLoadSystem": min(1.0, os.getloadavg()[0] / (os.cpu_count() or 1)),
            "heapUsed": usage.ru_maxrss * 1024,
            "heapMax": _memory_limit(),
            "httpConnectionsCurrent": 0,
            "httpConnectionsTotal": 0,
            **self._subsystem_stats(),
            "native": native.status(),      # which paths run in C (engine/native.py)
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
            "license": {"type": "open-source", "product": "flowrt", "license": "Apache-2.0",
                        "host": socket.gethostname(), "host_ok": True, "max_bps_ok": True,
                        "expires_ok": True},
            "analyzer": {"bps": int(s.bytes * 8 / elapsed), "host": socket.gethostname()},
        }

    def queue_drops(self) -> int:
        """Datagrams the receive thread dropped because its queue was full (0 on asyncio)."""
        queue = self.receive_queue
        return queue.stats()["dropped"] if queue is not None else 0

    def queue_expired(self) -> int:
        """Datagrams dropped because they had waited longer than sflow.receiver.maxage in the
        receive queue (0 on asyncio)."""
        queue = self.receive_queue
        return queue.stats()["expired"] if queue is not None else 0


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
