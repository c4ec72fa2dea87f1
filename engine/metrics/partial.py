"""metric() statistics as partial aggregates: what one process computes over its own data
sources (``partial``), and the statistic from any number of partials (``merge``). In process
the store merges the one partial it made; with workers (docs/ingest.md, "Workers") the front
merges one per worker. A partial keeps just what its aggregation needs:

- ``max`` / ``min``: the winning number with where it is (agent, data source, topKeys) and,
  only when there are no numbers, the winning string (max/min of strings, as in process);
- ``any``: the most recently updated value;
- ``sum`` / ``avg``: the total;
- ``var``, ``sdev``, ``med``, ``q1``, ``q2``, ``q3``, ``iqr``: the values themselves (exact
  quantiles and the two-pass variance need them);
- every one: the count, newest and oldest update time, and where the value is when it is the
  only one.
Merged, every aggregation is exact, except that a sum of floats may differ in the last bits
(the order of addition differs).
"""

from __future__ import annotations

import math

from .aggregate import SELECTIONS, place, summarize

_NUMBER_TYPES = {int, float}
_VALUE_AGGS = {"var", "sdev", "med", "q1", "q2", "q3", "iqr"}


def partial(agg: str, vals: list, lasts: list, where) -> tuple | None:
    """One process's partial of ``agg`` over ``vals`` (updated at ``lasts``); ``where(i)``
    gives (agent, data source, topKeys) of value i. None when nothing was selected."""
    if not vals:
        return None
    # Fast path: every value a number. C-level sum/max/min raise TypeError on strings (or on a
    # mix), which is cheaper to catch than checking every value's type first.
    pool = None
    total = None
    try:
        if agg in SELECTIONS:
            if agg != "any":
                (max if agg == "max" else min)(vals)
        else:
            total = sum(vals)
    except TypeError:
        if agg == "any":
            pool = [i for i, v in enumerate(vals) if v is not None]
        else:
            pool = [i for i, v in enumerate(vals) if type(v) in _NUMBER_TYPES]
    if pool is not None:
        pv = [vals[i] for i in pool]
        pl = [lasts[i] for i in pool]
        total = None
    else:
        pv, pl = vals, lasts
    if agg in ("max", "min"):
        if pool is None and type(vals[0]) is str:  # only strings (a mix raised above)
            pool = []
            pv = pl = []
        if not pv:  # no numbers: max/min of the strings
            spool = [i for i, v in enumerate(vals) if type(v) is str]
            strings = _selection(
                agg, [vals[i] for i in spool], [lasts[i] for i in spool], lambda k: where(spool[k])
            )
            return (None, strings)
        return (_selection(agg, pv, pl, lambda k: where(pool[k] if pool is not None else k)), None)
    if not pv:
        return None
    if agg == "any":
        return _selection(agg, pv, pl, lambda k: where(pool[k] if pool is not None else k))
    single = where(pool[0] if pool is not None else 0) if len(pv) == 1 else None
    n, newest, oldest = len(pv), max(pl), min(pl)
    if agg in _VALUE_AGGS:
        return (n, newest, oldest, list(pv), single)
    return (n, newest, oldest, sum(pv) if total is None else total, single)


def _selection(agg: str, pv: list, pl: list, where) -> tuple | None:
    """(n, newest, oldest, value, last, agent, ds, topKeys) of max/min/any over a pool. Of
    equal values (any: equal update times) the one at the lowest (agent, data source) wins, so
    the answer does not depend on arrival order or on which worker holds what."""
    if not pv:
        return None
    if agg == "any":  # the most recently updated
        best = max(pl)
        tied = [i for i, t in enumerate(pl) if t == best]
    else:
        best = max(pv) if agg == "max" else min(pv)
        tied = [i for i, v in enumerate(pv) if v == best]
    if len(tied) == 1:
        k = tied[0]
        agent, ds, top = where(k)
    else:
        k, (agent, ds, top) = min(((i, where(i)) for i in tied), key=lambda t: place(*t[1][:2]))
    return (len(pv), max(pl), min(pl), pv[k], pl[k], agent, ds, top)


def merge(spec, partials: list, now: float) -> dict:
    """The Statistic of ``spec`` (a MetricSpec) from the partials of every process."""
    result = {"metricName": spec.text}
    agg = spec.agg
    parts = [p for p in partials if p is not None]
    if agg in ("max", "min"):
        nums = [p[0] for p in parts if p[0] is not None]
        sels = nums if nums else [p[1] for p in parts if p[1] is not None]
        return _merge_selection(agg, sels, result, now)
    if agg == "any":
        return _merge_selection(agg, parts, result, now)
    if not parts:
        result["metricN"] = 0
        return result
    n = sum(p[0] for p in parts)
    newest, oldest = max(p[1] for p in parts), min(p[2] for p in parts)
    if agg in _VALUE_AGGS:
        values = parts[0][3] if len(parts) == 1 else [v for p in parts for v in p[3]]
        value, extra = summarize(agg, values)
    else:
        total = parts[0][3]
        for p in parts[1:]:
            total = total + p[3]
        value, extra = (total / n if agg == "avg" else total), None
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    result.update(
        metricN=n,
        metricValue=value,
        lastUpdate=_ms(now - newest),
        lastUpdateMin=_ms(now - newest),
        lastUpdateMax=_ms(now - oldest),
    )
    if n == 1:
        single = next(p[4] for p in parts if p[0])
        result.update(agent=single[0], dataSource=single[1])
    if extra:
        result.update(extra)
    return result


def _merge_selection(agg: str, sels: list, result: dict, now: float) -> dict:
    sels = [s for s in sels if s is not None]
    if not sels:
        result["metricN"] = 0
        return result
    best = sels[0]
    for s in sels[1:]:  # ties: the lowest (agent, data source), as within a process
        field = 4 if agg == "any" else 3
        if s[field] == best[field]:
            if place(s[5], s[6]) < place(best[5], best[6]):
                best = s
        elif (s[field] < best[field]) if agg == "min" else (s[field] > best[field]):
            best = s
    newest, oldest = max(s[1] for s in sels), min(s[2] for s in sels)
    result.update(
        metricN=sum(s[0] for s in sels),
        metricValue=best[3],
        agent=best[5],
        dataSource=best[6],
        lastUpdate=_ms(now - best[4]),
        lastUpdateMin=_ms(now - newest),
        lastUpdateMax=_ms(now - oldest),
    )
    if best[7] is not None:
        result["topKeys"] = best[7]
    return result


def _ms(seconds: float) -> int:
    return int(seconds * 1000) if seconds > 0 else 0
