"""Metric-name parsing and the aggregations of metric(): max min sum avg var sdev med q1 q2 q3
iqr any. Quantiles interpolate linearly between order statistics (the "type 7" rule of R and
numpy); var is the sample variance (n-1 in the denominator, 0 for a single value)."""

from __future__ import annotations

import math
import re

AGGREGATIONS = ("max", "min", "sum", "avg", "var", "sdev", "med", "q1", "q2", "q3", "iqr", "any")
SELECTIONS = {"max", "min", "any"}  # pick one data source's value
_DS_QUALIFIER = re.compile(r"^\d+(?:\.\d+)*$")
_NAME = re.compile(r"^[^\s,;:]+$")


class MetricSpec:
    """One requested metric: [aggregation:][dataSource.]name as written."""

    __slots__ = ("text", "agg", "name", "ds")

    def __init__(self, text: str, agg: str, name: str, ds: str | None):
        self.text, self.agg, self.name, self.ds = text, agg, name, ds


def split_list(metrics, seps: str = ",") -> list[str]:
    if isinstance(metrics, str):
        items = [metrics]
        for sep in seps:
            items = [part for item in items for part in item.split(sep)]
    elif isinstance(metrics, (list, tuple)):
        items = []
        for m in metrics:
            if not isinstance(m, str):
                raise ValueError(f"metric names must be strings, not {m!r}")
            items.append(m)
    else:
        raise ValueError("metrics must be a string or a list of strings")
    items = [m.strip() for m in items if m and m.strip()]
    if not items:
        raise ValueError("no metric names given")
    return items


def split_qualifier(name: str) -> tuple[str, str | None]:
    """'2.1.load_one' -> ('load_one', '2.1'); 'load_one' -> ('load_one', None)."""
    ds, dot, rest = name.rpartition(".")
    if dot and rest and _DS_QUALIFIER.match(ds):
        return rest, ds
    return name, None


def parse_metric(text: str, default_agg: str = "max") -> MetricSpec:
    agg, colon, rest = text.partition(":")
    if colon:
        if agg not in AGGREGATIONS:
            raise ValueError(
                f"unknown aggregation {agg!r} in {text!r} (one of {', '.join(AGGREGATIONS)})"
            )
        name = rest
    else:
        agg, name = default_agg, text
    if not _NAME.match(name):
        raise ValueError(f"bad metric name {text!r}")
    base, ds = split_qualifier(name)
    return MetricSpec(text, agg, base, ds)


def quantile(ordered: list[float], q: float) -> float:
    n = len(ordered)
    if n == 1:
        return ordered[0]
    pos = (n - 1) * q
    lo = int(pos)
    frac = pos - lo
    if lo + 1 >= n:
        return ordered[-1]
    return ordered[lo] + (ordered[lo + 1] - ordered[lo]) * frac


def _variance(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean = math.fsum(values) / n
    return math.fsum((v - mean) ** 2 for v in values) / (n - 1)


def summarize(agg: str, values: list, total=None) -> tuple[object, dict | None]:
    """(value, extra fields) of a non-selecting aggregation over numeric values (non-empty);
    `total` is sum(values) when the caller has it already."""
    if agg == "sum":
        return (sum(values) if total is None else total), None
    if agg == "avg":
        return (sum(values) if total is None else total) / len(values), None
    if agg == "var":
        return _variance(values), None
    if agg == "sdev":
        return math.sqrt(_variance(values)), None
    ordered = sorted(values)
    if agg in ("med", "q2"):
        med = quantile(ordered, 0.5)
        extra = None
        if agg == "med":
            extra = {
                "quartiles": {
                    "min": ordered[0],
                    "q1": quantile(ordered, 0.25),
                    "med": med,
                    "q3": quantile(ordered, 0.75),
                    "max": ordered[-1],
                }
            }
        return med, extra
    if agg == "q1":
        return quantile(ordered, 0.25), None
    if agg == "q3":
        return quantile(ordered, 0.75), None
    if agg == "iqr":
        return quantile(ordered, 0.75) - quantile(ordered, 0.25), None
    raise ValueError(f"unknown aggregation {agg!r}")


def ds_order(ds_id: str):
    """Data source ids in numeric order ("2" < "10" < "2.1" < "3.1.4"), names last."""
    try:
        return tuple(int(p) for p in ds_id.split("."))
    except ValueError:
        return (1 << 62, ds_id)


def place(agent: str, ds_id: str) -> tuple:
    """Where a value is, as an order: ties between equal values go to the lowest (agent,
    data source), so an answer does not depend on which data source arrived first (nor, with
    workers, in which process)."""
    return agent, ds_order(ds_id)


def sort_key(value):
    """Numbers before strings, each in natural order (table sort)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value, "")
    return (1, 0, str(value))
