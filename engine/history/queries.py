"""Reading history back: the SQL of the REST routes and JS functions, and the answers' shape.

Each function takes ``run(sql) -> rows`` (a backend's query) and plain arguments, and raises
ValueError for bad arguments (REST 400). Times are seconds since the epoch inside, ms in the
answers (as sFlow-RT's timestamps). The SQL is the subset old and new ClickHouse share.
"""
from __future__ import annotations

import math
import re
import time
from datetime import datetime, timezone

from ..flows.intervals import OTHER   # the key of what was left out of an interval's rows
from .sqltext import string, strings

MAX_POINTS = 2000         # a series has at most this many buckets
AGGREGATES = ("avg", "min", "max", "sum")

_RELATIVE = re.compile(r"^-\s*(\d+(?:\.\d+)?)\s*([smhdw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(v, now: float, name: str) -> float:
    """``from``/``to``: ms since the epoch (a number or numeric text), ``now``, a relative
    ``-90s`` / ``-30m`` / ``-6h`` / ``-7d`` / ``-2w`` (a bare ``-N`` is seconds) or an ISO 8601
    date-time (UTC unless it names a zone) -> seconds since the epoch."""
    if v is None or v == "":
        raise ValueError(f"{name} is required")
    if isinstance(v, bool):
        raise ValueError(f"{name} must be a time")
    if isinstance(v, (int, float)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite")
        return float(v) / 1000.0
    text = str(v).strip()
    if text.lower() == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        return now - float(m.group(1)) * _UNITS[m.group(2)]
    try:
        return float(text) / 1000.0
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: {text!r} is not a time (ms since the epoch, now, -1h, "
                         "-7d or an ISO 8601 date-time)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def time_range(frm, to, now: float | None = None, default_from="-1h") -> tuple[int, int]:
    now = time.time() if now is None else now
    start = parse_time(default_from if frm in (None, "") else frm, now, "from")
    end = parse_time("now" if to in (None, "") else to, now, "to")
    start, end = int(math.floor(start)), int(math.ceil(end))
    if end <= start:
        raise ValueError("to must be after from")
    return start, end


def positive_int(v, name: str, default: int, hi: int) -> int:
    if v is None or v == "":
        return default
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number") from None
    if not math.isfinite(f) or f < 1 or f != int(f):
        raise ValueError(f"{name} must be a positive integer")
    return int(min(f, hi))


def choose_step(step, start: int, end: int, quantum: int) -> int:
    """Bucket length: ``step`` seconds (rounded up to a multiple of ``quantum``, the history
    interval for flows), or about 1/120 of the range; at most MAX_POINTS buckets."""
    quantum = max(1, int(quantum))
    span = end - start
    if step in (None, ""):
        want = span / 120.0
    else:
        try:
            want = float(step)
        except (TypeError, ValueError):
            raise ValueError("step must be a number of seconds") from None
        if not math.isfinite(want) or want <= 0:
            raise ValueError("step must be a positive number of seconds")
    want = max(want, span / MAX_POINTS)
    return max(quantum, int(math.ceil(want / quantum)) * quantum)


def agent_list(agents) -> list[str] | None:
    """None for every agent ("ALL", empty), else the addresses ("a,b", "a;b" or a list)."""
    if agents is None:
        return None
    if isinstance(agents, str):
        parts = agents.replace(";", ",").split(",")
    else:
        parts = [str(a) for a in agents]
    parts = [p.strip() for p in parts if str(p).strip()]
    if not parts or any(p.upper() == "ALL" for p in parts):
        return None
    return parts


def _where(db_table: str, start: int, end: int, **eq) -> str:
    terms = [f"time >= toDateTime({start})", f"time < toDateTime({end})"]
    for column, value in eq.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple, set, frozenset)):
            terms.append(f"{column} IN ({strings(sorted(value))})")
        else:
            terms.append(f"{column} = {string(value)}")
    return f"FROM {db_table} WHERE " + " AND ".join(terms)


def _grid(start: int, end: int, step: int) -> list[int]:
    first = start // step * step
    return list(range(first, end, step))


# -- flows -----------------------------------------------------------------------------------
def flow_names(run, db: str, start: int, end: int, node=None) -> list[dict]:
    rows = run(f"SELECT name, count(), max(toUInt32(time)) "
               f"{_where(db + '.flows', start, end, node=node)} GROUP BY name ORDER BY name")
    return [{"name": n, "rows": int(c), "lastTime": int(t) * 1000} for n, c, t in rows]


def top_keys(run, db: str, name: str, agents, start: int, end: int, max_keys: int,
             node=None) -> list[dict]:
    """The keys with the largest totals over [start, end): ``value`` the average rate over
    the range (units per second, like activeflows), ``total`` the sum."""
    where = _where(db + ".flows", start, end, name=name, agent=agent_list(agents), node=node)
    rows = run(f"SELECT key, sum(value) AS total {where} AND key != {string(OTHER)} "
               f"GROUP BY key ORDER BY total DESC, key LIMIT {int(max_keys)}")
    span = end - start
    return [{"key": k, "value": float(v) / span, "total": float(v)} for k, v in rows]


def flow_series(run, db: str, name: str, agents, start: int, end: int, step, quantum: int,
                keys=None, max_keys: int = 10, node=None) -> dict:
    """Rates per bucket of ``keys`` (or the top ``max_keys`` keys of the range) and of the
    rest (``other``): {start, end, step, times: [ms], keys: [...], values: [[per key]],
    other: [...]}; a rate is the bucket's total / step."""
    step = choose_step(step, start, end, quantum)
    agents = agent_list(agents)
    if keys is None:
        keys = [r["key"] for r in top_keys(run, db, name, agents, start, end, max_keys, node)]
    keys = list(dict.fromkeys(str(k) for k in keys))
    where = _where(db + ".flows", start, end, name=name, agent=agents, node=node)
    if keys:
        label = f"if(key IN ({strings(keys)}), key, {string(OTHER)})"
    else:
        label = string(OTHER)
    rows = run(f"SELECT intDiv(toUInt32(time), {step}) * {step} AS t, {label} AS k, "
               f"sum(value) {where} GROUP BY t, k")
    grid = _grid(start, end, step)
    index = {t: i for i, t in enumerate(grid)}
    series = {k: [0.0] * len(grid) for k in keys}
    other = [0.0] * len(grid)
    for t, k, v in rows:
        i = index.get(int(t))
        if i is None:
            continue
        (series[k] if k in series and k != OTHER else other)[i] += float(v) / step
    return {"start": start * 1000, "end": end * 1000, "step": step,
            "times": [t * 1000 for t in grid], "keys": keys,
            "values": [series[k] for k in keys], "other": other}


# -- metrics ---------------------------------------------------------------------------------
def metric_names(run, db: str, start: int, end: int, node=None) -> list[dict]:
    rows = run(f"SELECT metric, count(), max(toUInt32(time)) "
               f"{_where(db + '.metrics', start, end, node=node)} GROUP BY metric ORDER BY metric")
    return [{"metric": n, "rows": int(c), "lastTime": int(t) * 1000} for n, c, t in rows]


def metric_series(run, db: str, metric: str, agents, start: int, end: int, step,
                  agg: str = "avg", data_source=None, max_series: int = 20,
                  node=None) -> dict:
    """One series per (agent, data source): the ``agg`` of the samples in each bucket (null
    where there was none); the ``max_series`` series with the largest ``agg`` over the range,
    largest first. {start, end, step, times: [ms], series: [{agent, dataSource, value,
    values}]}."""
    agg = (agg or "avg").lower()
    if agg not in AGGREGATES:
        raise ValueError(f"agg must be one of {', '.join(AGGREGATES)}")
    step = choose_step(step, start, end, 1)
    where = _where(db + ".metrics", start, end, metric=metric, agent=agent_list(agents),
                   datasource=data_source, node=node)
    top = run(f"SELECT agent, datasource, {agg}(value) AS v {where} "
              f"GROUP BY agent, datasource ORDER BY v DESC, agent, datasource "
              f"LIMIT {int(max_series)}")
    grid = _grid(start, end, step)
    index = {t: i for i, t in enumerate(grid)}
    series = {(a, ds): {"agent": a, "dataSource": ds, "value": v, "values": [None] * len(grid)}
              for a, ds, v in top}
    if series:
        pairs = ", ".join(f"({string(a)}, {string(ds)})" for a, ds in series)
        rows = run(f"SELECT intDiv(toUInt32(time), {step}) * {step} AS t, agent, datasource, "
                   f"{agg}(value) {where} AND (agent, datasource) IN ({pairs}) "
                   f"GROUP BY t, agent, datasource")
        for t, a, ds, v in rows:
            i = index.get(int(t))
            s = series.get((a, ds))
            if i is not None and s is not None:
                s["values"][i] = v
    return {"start": start * 1000, "end": end * 1000, "step": step,
            "times": [t * 1000 for t in grid], "series": list(series.values())}


# -- events ----------------------------------------------------------------------------------
def events(run, db: str, start: int, end: int, threshold_ids=None, agents=None,
           max_events: int = 100, node=None) -> list[dict]:
    """Threshold events in [start, end), newest first, as /events/json shows them plus
    ``node``."""
    if isinstance(threshold_ids, str):
        threshold_ids = [t for t in threshold_ids.split(",") if t.strip()] or None
    where = _where(db + ".events", start, end, thresholdid=threshold_ids,
                   agent=agent_list(agents), node=node)
    rows = run(f"SELECT timestamp, node, eventid, thresholdid, metric, agent, datasource, "
               f"flowkey, value, threshold {where} ORDER BY timestamp DESC, eventid DESC "
               f"LIMIT {int(max_events)}")
    out = []
    for ts, nd, eid, tid, metric, agent, ds, fkey, value, th in rows:
        evt = {"eventID": int(eid), "thresholdID": tid, "metric": metric, "agent": agent,
               "dataSource": ds, "value": value, "threshold": th, "timestamp": int(ts),
               "node": nd}
        if fkey:
            evt["flowKey"] = fkey
        out.append(evt)
    return out
