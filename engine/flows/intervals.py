"""Per-interval totals of flow definitions, for subscribers such as history (engine/history).

Nothing here runs per sample. Every cache entry already accumulates the scaled value of its
samples in ``e[2]`` for logged flow records (restarted when a record is reported or the flow
ends, see cache.py). ``IntervalTotals`` remembers, per flow, what ``e[2]`` held at the last
interval boundary (its *mark*); at the next boundary each flow's value over the interval is
``e[2] - mark`` plus whatever the flow counted before a restart in between (``restart`` moves
that part aside just before ``e[2]`` is reset or the entry is removed).

``IntervalFeed`` is the subscriber list of one FlowEngine: ``subscribe(callback, interval,
select)``. ``select(spec)`` picks the definitions: falsy for no, else the most rows wanted
per interval (an int, or True for all). At each boundary (a multiple of ``interval`` seconds
of wall-clock time) every selected definition with traffic is handed to ``callback(name,
start, end, rows)`` with ``rows = [(agent, dataSource, key, value), ...]``: key as in flow
records (the key values joined with the definition's ``fs``), value the scaled total over
[start, end) as in a logged flow record. Beyond the limit, the largest rows are kept and the
rest summed per (agent, dataSource) under the key ``OTHER`` ("-other-", as the topn charts
label it), so totals are kept. The callback runs on the engine's loop thread and must be
quick; an exception in it is logged.

Cost: about 1 us per cache entry per interval (reading the totals), plus the key strings of
the rows handed over; nothing between boundaries.
"""

from __future__ import annotations

import heapq
import math
from operator import itemgetter
from typing import Callable

from .. import log

OTHER = "-other-"  # the key of what a limit left out of an interval's rows
_VALUE = itemgetter(1)
_KEY_STRING = itemgetter(2)  # leftovers are keyed (agent, dataSource, key string)


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
        done, self.done = self.done, {}
        get = self.marks.get
        self.marks = marks = {fk: e[2] for fk, e in entries.items() if e[2]}
        out = {fk: d for fk, total in marks.items() if (d := total - get(fk, 0.0))}
        for fk, d in done.items():
            out[fk] = out.get(fk, 0.0) + d
        return out


def bounded(totals: dict, limit, key_string: Callable) -> list[tuple]:
    """Rows (agent, ds, key, value) of ``totals`` ({flow key tuple: value}): all of them, or
    the ``limit`` largest and the rest summed per location under OTHER."""
    if limit is True or limit is None or len(totals) <= limit:
        return [(fk[0], fk[1], key_string(fk), v) for fk, v in totals.items()]
    top = heapq.nlargest(int(limit), totals.items(), key=_VALUE)
    rows = [(fk[0], fk[1], key_string(fk), v) for fk, v in top]
    kept = {fk for fk, _ in top}
    rest: dict = {}
    for fk, v in totals.items():
        if fk not in kept:
            loc = (fk[0], fk[1])
            rest[loc] = rest.get(loc, 0.0) + v
    rows.extend((a, ds, OTHER, v) for (a, ds), v in rest.items())
    return rows


class IntervalFeed:
    """The interval subscribers of a FlowEngine (one interval length for all of them)."""

    def __init__(self):
        self.subscribers: list[tuple[Callable, Callable]] = []
        self.interval = 0.0
        self.next_boundary = math.inf
        # name -> (spec, key_string, totals) of a replaced or deleted table, published at the
        # next boundary
        self.leftovers: dict[str, tuple] = {}

    def _select(self, select: Callable, spec):
        try:
            return select(spec)
        except Exception as exc:
            log.log.error("interval subscriber selection failed: %r", exc)
            return False

    def wants(self, spec) -> bool:
        return any(self._select(select, spec) for _, select in self.subscribers)

    def subscribe(self, callback: Callable, interval: float, select: Callable, now: float) -> None:
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
            # the key strings of the old definition (its fs), made now
            old = self.leftovers.get(table.name, (table.spec, {}))[1]
            for fk, v in totals.done.items():
                key = (fk[0], fk[1], table.key_string(fk))
                old[key] = old.get(key, 0.0) + v
            self.leftovers[table.name] = (table.spec, old)

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
            values = totals.take(table.entries)
            old = leftovers.pop(name, None)
            if old is None:
                self._deliver(table.spec, start, end, values, table.key_string)
                continue
            # a replaced definition's part: both by (agent, dataSource, key string)
            acc = old[1]
            ks = table.key_string
            for fk, v in values.items():
                k = (fk[0], fk[1], ks(fk))
                acc[k] = acc.get(k, 0.0) + v
            self._deliver(table.spec, start, end, acc, _KEY_STRING)
        for spec, acc in leftovers.values():
            self._deliver(spec, start, end, acc, _KEY_STRING)

    def _deliver(self, spec, start: float, end: float, values: dict, key_string) -> None:
        if not values:
            return
        for callback, select in list(self.subscribers):
            limit = self._select(select, spec)
            if not limit:
                continue
            try:
                callback(spec.name, start, end, bounded(values, limit, key_string))
            except Exception as exc:
                log.log.error("flow interval subscriber %r failed: %r", callback, exc, exc_info=exc)
