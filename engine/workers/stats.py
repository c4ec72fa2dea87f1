"""Analyzer counters of the workers in shared memory: each worker writes its counters into
its own slot after every batch of datagrams, the front sums the slots without asking.

A slot is ``FIELDS`` 64-bit integers (AnalyzerStats' counters, then the receive queue's and
the agent table's, Engine.ingest_counters) and, in its last place, the number of agents the
worker holds: a gauge, written at once whenever it changes, which the other workers read to
apply ``agents.max`` to all of them together (AgentTable.share). When a worker is replaced,
what it had counted is added to ``base`` so the totals never go back (the gauge is not).
"""

from __future__ import annotations

import mmap
import os

from ..core import INGEST_COUNTERS, AnalyzerStats

FIELDS = AnalyzerStats.COUNTERS + INGEST_COUNTERS
_SLOT = 16  # int64 per slot (room for more counters)
_AGENTS = _SLOT - 1  # the agents gauge's place in a slot
assert len(FIELDS) <= _AGENTS


class SharedCounters:
    """The memory block: created by the front (a memfd, passed to every worker)."""

    def __init__(self, slots: int, fd: int | None = None):
        size = max(1, slots) * _SLOT * 8
        if fd is None:
            fd = os.memfd_create("flowrt-stats", 0)
            os.ftruncate(fd, size)
        self.fd = fd
        self.slots = slots
        self.map = mmap.mmap(fd, size)
        self.view = memoryview(self.map).cast("q")

    def writer(self, slot: int):
        """A worker's write function: write(stats, counters) with its AnalyzerStats and its
        Engine.ingest_counters()."""
        view = self.view
        start = slot * _SLOT
        names = AnalyzerStats.COUNTERS

        def write(stats, counters: dict) -> None:
            i = start
            for name in names:
                view[i] = getattr(stats, name)
                i += 1
            for name in INGEST_COUNTERS:
                view[i] = counters[name]
                i += 1

        return write

    def agents_gauge(self, slot: int):
        """A worker's (others(), publish(n)) for AgentTable.share: the agents the other
        workers hold, and where its own count goes."""
        view = self.view
        mine = slot * _SLOT + _AGENTS
        theirs = [s * _SLOT + _AGENTS for s in range(self.slots) if s != slot]

        def others() -> int:
            return sum(view[i] for i in theirs)

        def publish(n: int) -> None:
            view[mine] = n

        return others, publish

    def read(self, slot: int) -> list[int]:
        start = slot * _SLOT
        return list(self.view[start : start + len(FIELDS)])

    def clear(self, slot: int) -> None:
        start = slot * _SLOT
        for i in range(start, start + _SLOT):
            self.view[i] = 0

    def close(self) -> None:
        self.view.release()
        self.map.close()
        try:
            os.close(self.fd)
        except OSError:
            pass


class ClusterStats:
    """``engine.stats`` on the front: the workers' counters summed (attribute names as in
    AnalyzerStats), plus what replaced workers had counted."""

    def __init__(self, counters: SharedCounters, start: float):
        self._counters: SharedCounters | None = counters
        self.base = [0] * len(FIELDS)
        self.start = start

    def retire(self, slot: int) -> None:
        """A worker ended: keep its counts, clear its slot for the next one."""
        if self._counters is None:
            return
        for i, v in enumerate(self._counters.read(slot)):
            self.base[i] += v
        self._counters.clear(slot)

    def freeze(self) -> None:
        """The workers stopped: keep the totals, release the shared memory."""
        counters = self._counters
        if counters is None:
            return
        for slot in range(counters.slots):
            self.retire(slot)
        self._counters = None
        counters.close()

    def _sum(self, i: int) -> int:
        counters = self._counters
        if counters is None:
            return self.base[i]
        view = counters.view
        return self.base[i] + sum(view[s * _SLOT + i] for s in range(counters.slots))


def _summed(i: int) -> property:
    return property(lambda self: self._sum(i))


for _i, _name in enumerate(FIELDS):
    setattr(ClusterStats, _name, _summed(_i))
