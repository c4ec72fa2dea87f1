"""Analyzer counters of the workers in shared memory: each worker writes its counters into
its own slot after every batch of datagrams, the front sums the slots without asking.

A slot is ``FIELDS`` 64-bit integers. When a worker is replaced, what it had counted is
added to ``base`` so the totals never go back.
"""
from __future__ import annotations

import mmap
import os

from ..core import AnalyzerStats

FIELDS = AnalyzerStats.COUNTERS + ("queue_drops",)
_SLOT = 16                     # int64 per slot (room for more counters)


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
        """A worker's write function: write(stats, queue_drops)."""
        view = self.view
        start = slot * _SLOT
        names = AnalyzerStats.COUNTERS

        def write(stats, queue_drops: int = 0) -> None:
            i = start
            for name in names:
                view[i] = getattr(stats, name)
                i += 1
            view[i] = queue_drops
        return write

    def read(self, slot: int) -> list[int]:
        start = slot * _SLOT
        return list(self.view[start:start + len(FIELDS)])

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
