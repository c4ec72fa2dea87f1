"""Thresholds and events.

A threshold watches one metric: a flow name (checked on every cache update, so an event is
raised on the sample that crosses) or a counter metric (checked once a second through the
metric store). State is kept per (agent, dataSource) and, with ``byFlow``, per flow key:

* armed and value > threshold  -> one event, state becomes triggered;
* triggered                    -> no more events while the value stays above;
* triggered and value <= threshold for ``timeout`` seconds (default 0: the first check that
  finds it below) -> re-armed; the next crossing raises a new event.
Without ``byFlow`` only the first flow crossing in a data source raises an event (its key is
the event's flowKey) until the data source's largest flow has gone back below the threshold.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from . import cache as _cache
from .spec import check_name, number, plain

# metric names: counter metrics (ifinoctets, load_one), flow names, custom metrics; letters,
# digits, _ - . and :, as sFlow-RT refuses others (400 for metric "no_such_metric!!")
_METRIC = re.compile(r"^[\w][\w.:\-]{0,199}$")


def location_maxima(table, locations, now: float) -> dict:
    """{(agent, ds): the largest flow value there} for the locations in ``locations`` (values
    above 0 only): a scan of the whole cache, in C for plain-sum caches where built."""
    fp = _cache._fastpath
    if fp is not None and table.fast:
        maxima = fp.location_max(table.entries, locations, now, table.inv_t)
        if maxima is not None:
            return maxima
    maxima = {}
    for fk, e in table.entries.items():
        loc = (fk[0], fk[1])
        if loc in locations:
            v = table.value(e, now)
            if v > maxima.get(loc, 0.0):
                maxima[loc] = v
    return maxima


class Threshold:
    def __init__(self, name: str, spec: dict):
        if not isinstance(spec, dict):
            raise ValueError("threshold must be a JSON object")
        self.name = check_name(name)
        metric = spec.get("metric")
        if not isinstance(metric, str) or not metric.strip():
            raise ValueError("threshold metric must be a non-empty string")
        self.metric = metric.strip()
        if not _METRIC.match(self.metric):
            raise ValueError(
                f"threshold metric {self.metric!r} is not a metric name (letters, digits, _ - . :)"
            )
        if spec.get("value") is None:
            raise ValueError("threshold value must be a number")
        self.level = number(spec, "value", None)  # numbers as strings too, as in flow specs
        by_flow = spec.get("byFlow", False)
        if not isinstance(by_flow, bool):
            raise ValueError("byFlow must be a boolean")
        self.by_flow = by_flow
        self.timeout = number(spec, "timeout", 0.0)
        if self.timeout < 0:
            raise ValueError("timeout must be a number of seconds >= 0")
        flt = spec.get("filter")
        if flt is not None:
            if not isinstance(flt, dict) or not all(isinstance(k, str) for k in flt):
                raise ValueError("filter must be an object {metricName: [values]}")
            flt = {k: (v if isinstance(v, list) else [v]) for k, v in flt.items()}
        self.filter = flt or None
        self.spec = dict(spec)
        # key -> [flow_key or None, below_since or None]
        self.states: dict[tuple, list] = {}
        self.fire: Callable[..., None] = None  # type: ignore[assignment]  # set by the engine: fire(threshold, agent, ds, value, table, fk, now)
        # set by the engine when a filter is present
        self.location_ok: Callable[[Threshold, str, str], bool] | None = None
        self.compiled_filter: list | None = None

    def as_json(self) -> dict:
        out = dict(self.spec)
        out["metric"] = self.metric
        out["value"] = plain(self.level)
        out["byFlow"] = self.by_flow
        out["timeout"] = plain(self.timeout)
        return out

    # -- flow metrics ------------------------------------------------------------------------
    def flow_over(self, table, fk: tuple, value: float, now: float) -> None:
        agent, ds = fk[0], fk[1]
        key = fk if self.by_flow else (agent, ds)
        st = self.states.get(key)
        if st is not None:
            st[1] = None
            return
        if self.location_ok is not None and not self.location_ok(self, agent, ds):
            return
        self.states[key] = [fk, None]
        self.fire(self, agent, ds, value, table, fk, now)

    def rearm_flows(self, table, now: float) -> None:
        if not self.states:
            return
        maxima: dict | None = None
        for key, st in list(self.states.items()):
            if table is None:
                value = 0.0
            elif self.by_flow:
                e = table.entries.get(key)
                value = table.value(e, now) if e is not None else 0.0
            else:
                if maxima is None:
                    maxima = location_maxima(table, self.states, now)
                value = maxima.get(key, 0.0)
            self._check_below(key, st, value, now)

    def _check_below(self, key, st, value, now) -> None:
        if value > self.level:
            st[1] = None
            return
        if st[1] is None:
            st[1] = now
        if now - st[1] >= self.timeout:
            del self.states[key]

    # -- counter metrics ---------------------------------------------------------------------
    def counter_check(self, entries, now: float) -> None:
        seen = set()
        for ent in entries:
            value = ent.value
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            key = (ent.agent, ent.data_source)
            seen.add(key)
            st = self.states.get(key)
            if value > self.level:
                if st is None:
                    self.states[key] = [None, None]
                    self.fire(self, ent.agent, ent.data_source, value, None, None, now)
                else:
                    st[1] = None
            elif st is not None:
                self._check_below(key, st, value, now)
        for key in [k for k in self.states if k not in seen]:
            self._check_below(key, self.states[key], 0.0, now)
