"""The flow cache of one definition.

One flat dict per definition maps ``(agent, dataSource, key1, key2, ...)`` to an entry list
``[rate, last, total, start, *value_states]``:
  rate  - smoothed primary value per second at time ``last`` (see values.py for the formula);
          for non-sum primaries (avg:, count:, min:, max:) the value read at ``last``;
  last  - time (s) of the last sample; reading decays lazily, nothing sweeps per second;
  total - scaled primary value accumulated since ``start`` (for logged flow records);
  start - time the flow (or its current record, after an activeTimeout flush) started.
The hot update for plain sum values is generated inline by pipeline.py; update() here is the
general path (values, avg/count/min/max).

Entries idle for longer than ``idle_timeout(t)`` end: they are removed and, with ``log``,
reported as flow records. The table is bounded (``max_entries``): when full, ended flows go
first, then the smallest tenth.
"""

from __future__ import annotations

import heapq
from math import exp
from typing import TYPE_CHECKING, Callable

from .. import native

if TYPE_CHECKING:
    from .spec import FlowSpec

if TYPE_CHECKING:  # type-only: ipfix imports this module
    from .intervals import IntervalTotals
    from .ipfix import Exporter


def idle_timeout(t: float) -> float:
    """Seconds without samples after which a flow has ended: its rate has decayed below
    exp(-5) (0.7%) of its last value, and never less than 10 s so that sparsely sampled flows
    are not split into many short ones."""
    return max(5.0 * t, 10.0)


class FlowTable:
    exporter: Exporter | None = None  # IPFIX export of ended and flushed flows (ExportTable)
    intervals: IntervalTotals | None = None  # while an interval subscriber wants this one

    def __init__(self, spec: FlowSpec, max_entries: int, emit_record: Callable, now: float):
        self.spec = spec
        self.name = spec.name
        self.t = spec.t
        self.inv_t = 1.0 / spec.t
        self.idle = idle_timeout(spec.t)
        self.entries: dict[tuple, list] = {}
        self.max_entries = max(16, max_entries)
        self.vfuncs = [spec.value, *spec.values]
        self.fast = spec.value.kind == "sum" and not spec.values
        self.emit_record = emit_record
        self.thresholds: list = []  # Threshold objects watching this flow metric
        self.th_min = float("inf")
        self.evicted = 0

    # -- writes ------------------------------------------------------------------------------
    def new_entry(self, fk: tuple, scaled: float, now: float) -> list:
        """Fast path: first sample of a flow with a plain sum value."""
        entries = self.entries
        if len(entries) >= self.max_entries:
            self.prune(now)
        e = [scaled * self.inv_t, now, scaled, now]
        entries[fk] = e
        if self.spec.log and self.spec.flow_start:
            self.emit_record(self, fk, scaled, now, now)
        return e

    def update(self, fk: tuple, xs: tuple, rate: int, now: float) -> list:
        """General path: xs holds the raw value of each value function (None if missing)."""
        entries = self.entries
        vfs = self.vfuncs
        e = entries.get(fk)
        x0 = xs[0]
        scaled = x0 * rate if x0.__class__ is int or x0.__class__ is float else rate
        if e is None:
            if len(entries) >= self.max_entries:
                self.prune(now)
            e = [0.0, now, 0.0, now] + [vf.init() for vf in vfs]
            entries[fk] = e
            d = 1.0
            first = True
        else:
            dt = now - e[1]
            d = exp(-dt * self.inv_t) if dt > 0.0 else 1.0
            first = False
        inv_t = self.inv_t
        i = 4
        for vf, x in zip(vfs, xs):
            e[i] = vf.update(e[i], d, x, rate, now, inv_t)
            i += 1
        e[1] = now
        e[2] += scaled
        e[0] = vfs[0].read(e[4], 1.0, now)
        if first and self.spec.log and self.spec.flow_start:
            self.emit_record(self, fk, scaled, now, now)
        if e[0] > self.th_min:
            self.check_thresholds(fk, e, now)
        return e

    def check_thresholds(self, fk: tuple, e: list, now: float) -> None:
        v = e[0]
        for th in self.thresholds:
            if v > th.level:
                th.flow_over(self, fk, v, now)

    def set_thresholds(self, ths: list) -> None:
        self.thresholds = list(ths)
        self.th_min = min((th.level for th in ths), default=float("inf"))

    # -- reads -------------------------------------------------------------------------------
    def value(self, e: list, now: float) -> float:
        dt = now - e[1]
        if self.fast or self.vfuncs[0].kind == "sum":
            return e[0] * exp(-dt * self.inv_t) if dt > 0.0 else e[0]
        return self.vfuncs[0].read(e[4], 1.0, now)

    def extra_values(self, e: list, now: float) -> list:
        if len(self.vfuncs) < 2:
            return []
        dt = now - e[1]
        d = exp(-dt * self.inv_t) if dt > 0.0 else 1.0
        return [vf.read(e[5 + i], d, now) for i, vf in enumerate(self.vfuncs[1:])]

    def key_string(self, fk: tuple) -> str:
        return self.spec.fs.join([_s(k) for k in fk[2:]])

    def by_location(self, agents, now: float) -> dict:
        """{(agent, ds): [(value, fk, entry), ...]} for the selected agents (and data sources,
        see _ports)."""
        out: dict = {}
        idle = self.idle
        has = _ports(agents)
        for fk, e in self.entries.items():
            if agents is not None and fk[0] not in agents:
                continue
            if has is not None and not has(fk[0], fk[1]):
                continue
            if now - e[1] > idle:
                continue
            out.setdefault((fk[0], fk[1]), []).append((self.value(e, now), fk, e))
        return out

    def aggregate(self, agents, agg_mode: str, now: float, key_filter=None) -> dict:
        """This cache's flows merged across the selected data sources, per flow key:
        ``{key: [value, vmax, fk, entry, n]}``; ``sum`` and ``edge`` add the values of the data
        sources, ``max`` and ``core`` keep the largest (``vmax``, at entry ``fk``/``entry``);
        ``n`` counts the data sources. The caller narrows ``agents`` to the EDGE / CORE
        ports for ``edge`` / ``core`` (FlowEngine._mode_ports), so only those observations
        are counted here. activeFlows ranks these (engine/flows/topn.py)."""
        agg: dict = {}
        idle = self.idle
        summing = agg_mode in ("sum", "edge")
        index = {k: i + 2 for i, k in enumerate(self.spec.key_texts)}
        has = _ports(agents)
        for fk, e in self.entries.items():
            agent = fk[0]
            if agents is not None and agent not in agents:
                continue
            if has is not None and not has(agent, fk[1]):
                continue
            if now - e[1] > idle:
                continue
            if key_filter is not None and not key_filter(
                lambda k, fk=fk, agent=agent: (
                    fk[index[k]]
                    if k in index
                    else (agent if k == "agent" else fk[1] if k == "datasource" else None)
                )
            ):
                continue
            v = self.value(e, now)
            k = fk[2:]
            cur = agg.get(k)
            if cur is None:
                agg[k] = [v, v, fk, e, 1]
            else:
                cur[4] += 1
                if summing:
                    cur[0] += v
                if v > cur[1]:
                    cur[1] = v
                    cur[2], cur[3] = fk, e
                    if not summing:
                        cur[0] = v
        return agg

    def row(self, key: tuple, a: list, now: float) -> tuple:
        """An aggregate() item as a row of engine/flows/topn.py: (key, value, n, vmax,
        agent, dataSource, values)."""
        fk = a[2]
        return (
            key,
            a[0],
            a[4],
            a[1],
            fk[0],
            fk[1],
            self.extra_values(a[3], now) if len(self.vfuncs) > 1 else None,
        )

    def row_json(self, row: tuple) -> dict:
        """A ranked row as activeFlows answers it."""
        rec = {
            "key": self.spec.fs.join([_s(k) for k in row[0]]),
            "value": row[1],
            "agent": row[4],
            "dataSource": row[5],
            "flowN": row[2],
        }
        if row[6] is not None:
            rec["values"] = row[6]
        return rec

    def locations(self, agents, ds: str | None, key: str, now: float) -> list:
        """[{agent, dataSource, value}] of the active entries of ``key`` (at data source
        ``ds`` only, unless None), largest value first."""
        out = []
        idle = self.idle
        has = _ports(agents)
        for fk, e in self.entries.items():
            if (ds is not None and fk[1] != ds) or (agents is not None and fk[0] not in agents):
                continue
            if has is not None and not has(fk[0], fk[1]):
                continue
            if now - e[1] > idle or self.key_string(fk) != key:
                continue
            out.append({"agent": fk[0], "dataSource": fk[1], "value": self.value(e, now)})
        out.sort(key=lambda r: r["value"], reverse=True)
        return out

    def metric_entries(self, agents, now: float) -> list:
        """[(agent, ds, value, last_update, top_keys)] - the flow name as a metric."""
        out = []
        n = self.spec.n
        for (agent, ds), items in self.by_location(agents, now).items():
            top = heapq.nlargest(n, items, key=lambda r: r[0])
            last = max(e[1] for _, _, e in items)
            top_keys = [
                {"key": self.key_string(fk), "value": v, "lastUpdate": int((now - e[1]) * 1000)}
                for v, fk, e in top
            ]
            out.append((agent, ds, top[0][0] if top else 0.0, last, top_keys))
        return out

    # -- housekeeping ------------------------------------------------------------------------
    def report(self, fk: tuple, e: list, log: bool) -> None:
        """A flow ended or reached activeTimeout: its flow record (``log``: log without
        flowStart) and, with ipfixCollectors, its IPFIX record."""
        if log:
            self.emit_record(self, fk, e[2], e[3], e[1])
        if self.exporter is not None:
            self.exporter.add(self, fk, e)

    @property
    def reports(self) -> bool:
        """Whether ended flows are reported (logged without flowStart, IPFIX-exported, or
        counted in interval totals), so that housekeeping must find them every second."""
        return (
            (self.spec.log and not self.spec.flow_start)
            or self.exporter is not None
            or self.intervals is not None
        )

    def sweep(self, now: float) -> None:
        """End idle flows; flush long-running logged or exported flows every activeTimeout
        seconds. The scan over every entry is C where built (_fastpath.scan)."""
        spec = self.spec
        idle = self.idle
        log = spec.log and not spec.flow_start
        reports = log or self.exporter is not None
        active_timeout = spec.active_timeout if reports and spec.active_timeout > 0 else None
        entries = self.entries
        intervals = self.intervals
        ended, due = _scan(entries, now, idle, active_timeout)
        for fk in due:
            e = entries[fk]
            self.report(fk, e, log)
            if intervals is not None:
                intervals.restart(fk, e)
            e[2] = 0.0
            e[3] = now
        for fk in ended:
            e = entries.pop(fk)
            if intervals is not None:
                intervals.restart(fk, e)
            if reports and e[2] > 0:
                self.report(fk, e, log)

    def prune(self, now: float) -> None:
        self.sweep(now)
        entries = self.entries
        if len(entries) < self.max_entries * 0.9:
            return
        drop = max(1, len(entries) // 10)
        smallest = heapq.nsmallest(drop, entries.items(), key=lambda kv: self.value(kv[1], now))
        log = self.spec.log and not self.spec.flow_start
        reports = log or self.exporter is not None
        for fk, e in smallest:
            del entries[fk]
            if self.intervals is not None:
                self.intervals.restart(fk, e)
            if reports and e[2] > 0:
                self.report(fk, e, log)
        self.evicted += len(smallest)

    def clear(self, now: float) -> None:
        """Definition removed or replaced: report what logged (or exported) flows had
        accumulated."""
        log = self.spec.log and not self.spec.flow_start
        if log or self.exporter is not None:
            for fk, e in self.entries.items():
                if e[2] > 0:
                    self.report(fk, e, log)
        self.entries = {}


def _python_scan(entries: dict, now: float, idle: float, active_timeout) -> tuple[list, list]:
    """(ended keys, activeTimeout-due keys), in dict order: FlowTable.sweep's scan."""
    ended, due = [], []
    for fk, e in entries.items():
        if now - e[1] > idle:
            ended.append(fk)
        elif active_timeout is not None and now - e[3] >= active_timeout and e[2] > 0:
            due.append(fk)
    return ended, due


def _c_scan(entries: dict, now: float, idle: float, active_timeout) -> tuple[list, list]:
    ended, due, odd = _fastpath.scan(entries, now, idle, active_timeout)
    if odd:  # entries that are not plain numbers: all of it the Python way, in order
        return _python_scan(entries, now, idle, active_timeout)
    return ended, due


_fastpath = native.path("scan")  # None: _python_scan (engine/native.py)
_scan = _c_scan if _fastpath is not None else _python_scan


def _s(v) -> str:
    return v if v.__class__ is str else str(v)


def _ports(agents):
    """(agent, ds) -> bool when the selection picks some agents' data sources only (EDGE,
    CORE: a metrics Selection with predicates), else None (the agent test is enough)."""
    return agents.has if getattr(agents, "restricted", False) else None
