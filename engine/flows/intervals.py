"""Per-interval totals of flow definitions, for subscribers such as history (engine/history).

Nothing here runs per sample. Every cache entry already accumulates the scaled value of its
samples in ``e[2]`` for logged flow records (restarted when a record is reported or the flow
ends, see cache.py). ``IntervalTotals`` remembers, per flow, what ``e[2]`` held at the last
interval boundary (its *mark*); at the next boundary each flow's value over the interval is
``e[2] - mark`` plus whatever the flow counted before a restart in between (``restart`` moves
that part aside just before ``e[2]`` is reset or the entry is removed).

``IntervalFeed`` is the subscriber list of one FlowEngine: ``subscribe(callback, interval,
select)`` where ``select(spec) -> bool`` picks the definitions, and at each boundary (a
multiple of ``interval`` seconds of wall-clock time) every selected definition with traffic
is handed to ``callback(name, start, end, rows)`` with ``rows = [(agent, dataSource, key,
value), ...]`` (key as in flow records: the key values joined with the definition's ``fs``;
value: the scaled total over [start, end), as in a logged flow record). The callback runs on
the engine's loop thread and must be quick; an exception in it is logged.
"""
from __future__ import annotations

import math
from typing import Callable

from .. import log


class IntervalTotals:
    """What each flow of one FlowTable counted since the last boundary."""
    __slots__ = ("marks", "done")

    def __init__(self, entries: dict | None = None):
        # flows that already existed count from now on, not from their start
        self.marks: dict[tuple, float] = {fk: e[2] for fk, e in (entries or {}).items() if e[2]}
        self.done: dict[tuple, float] = {}

    def restart(self, fk: tuple, e: list) -> None:
        """``e[2]`` is about to restart from 0 (a record was reported) or the entry is
        removed: keep what it counted since the mark."""
        d = e[2] - self.marks.pop(fk, 0.0)
        if d:
            done = self.done
            done[fk] = done.get(fk, 0.0) + d

    def take(self, entries: dict) -> dict[tuple, float]:
        """{flow key tuple: value since the last take}; sets the marks to now."""
        out, self.done = self.done, {}
        old = self.marks
        marks: dict[tuple, float] = {}
        for fk, e in entries.items():
            total = e[2]
            if not total:
                continue
            marks[fk] = total
            d = total - old.get(fk, 0.0)
            if d:
                out[fk] = out.get(fk, 0.0) + d
        self.marks = marks
        return out


class IntervalFeed:
    """The interval subscribers of a FlowEngine (one interval length for all of them)."""

    def __init__(self):
        self.subscribers: list[tuple[Callable, Callable]] = []
        self.interval = 0.0
        self.next_boundary = math.inf
        # name -> (spec, totals) of a replaced or deleted table, published at the next boundary
        self.leftovers: dict[str, tuple] = {}

    def wants(self, spec) -> bool:
        for _, select in self.subscribers:
            try:
                if select(spec):
                    return True
            except Exception as exc:
                log.log.error("interval subscriber selection failed: %r", exc)
        return False

    def subscribe(self, callback: Callable, interval: float, select: Callable,
                  now: float) -> None:
        if interval <= 0:
            raise ValueError("interval must be > 0")
        if self.subscribers and interval != self.interval:
            raise ValueError(f"flow intervals are already {self.interval:g} s")
        self.interval = float(interval)
        self.subscribers.append((callback, select))
        self.next_boundary = (math.floor(now / self.interval) + 1) * self.interval

    def unsubscribe(self, callback: Callable) -> None:
        self.subscribers = [s for s in self.subscribers if s[0] is not callback]
        if not self.subscribers:
            self.next_boundary = math.inf
            self.leftovers.clear()

    def retire(self, table) -> None:
        """A table is replaced or deleted: what it counted since the last boundary is
        published with the next boundary under its name."""
        totals = table.intervals
        if totals is None:
            return
        table.intervals = None
        for fk, e in table.entries.items():
            totals.restart(fk, e)
        if totals.done:
            keep = self.leftovers.setdefault(table.name, (table.spec, {}))[1]
            for fk, v in totals.done.items():
                key = (fk[0], fk[1], table.key_string(fk))
                keep[key] = keep.get(key, 0.0) + v

    def due(self, now: float) -> bool:
        return now >= self.next_boundary

    def publish(self, tables: dict, now: float, final: bool = False) -> None:
        """Hand every selected definition's totals since the last boundary to the
        subscribers. ``final`` (engine stop): the interval ends now, unaligned."""
        end = now if final else self.next_boundary
        start = self.next_boundary - self.interval
        self.next_boundary = (math.floor(now / self.interval) + 1) * self.interval
        leftovers, self.leftovers = self.leftovers, {}
        for name, table in list(tables.items()):
            totals = table.intervals
            if totals is None:
                continue
            acc = leftovers.pop(name, (None, {}))[1]
            for fk, v in totals.take(table.entries).items():
                key = (fk[0], fk[1], table.key_string(fk))
                acc[key] = acc.get(key, 0.0) + v
            self._deliver(table.spec, start, end, acc)
        for spec, acc in leftovers.values():
            self._deliver(spec, start, end, acc)

    def _deliver(self, spec, start: float, end: float, acc: dict) -> None:
        if not acc:
            return
        rows = [(a, ds, k, v) for (a, ds, k), v in acc.items()]
        for callback, select in list(self.subscribers):
            try:
                if select(spec):
                    callback(spec.name, start, end, rows)
            except Exception as exc:
                log.log.error("flow interval subscriber %r failed: %r", callback, exc,
                              exc_info=exc)
