"""Metric filters: ``{metricName: [values]}`` -> a predicate over a data source's metrics.

Semantics (docs/metrics.md):
- different names AND together, the values of one name OR together;
- a value containing an unescaped ``*`` is a pattern matched against the whole metric value:
  ``*`` matches any run of characters (including none), ``\\x`` is a literal x, every other
  character is literal (``apache\\.*`` selects ``apache.1.xyz``, not ``apache2.1`` or
  ``nginx.1``; ``*`` alone selects data sources that have the metric at all);
- any other value is compared exactly: as a string, and as a number when both sides are
  numeric (``ifspeed=10e9`` matches 10000000000, ``cpu_num=2`` matches 2);
- a data source without the metric does not match (the metric is looked up in the data source
  itself, then in its parent / the agent's host data source, see MetricStore._lookup).
"""

from __future__ import annotations

import re
from typing import Callable


def _number(v) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _num_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def is_pattern(value: str) -> bool:
    escaped = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "*":
            return True
    return False


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def pattern_regex(value: str) -> re.Pattern:
    parts = []
    i, n = 0, len(value)
    while i < n:
        ch = value[i]
        if ch == "\\" and i + 1 < n:
            parts.append(re.escape(value[i + 1]))
            i += 2
            continue
        parts.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.S)


class ValueMatcher:
    __slots__ = ("strings", "numbers", "patterns")

    def __init__(self, values):
        if isinstance(values, (str, int, float)) or values is None:
            values = [values]
        elif not isinstance(values, (list, tuple, set)):
            raise ValueError(f"filter values must be a list, not {type(values).__name__}")
        self.strings: set[str] = set()
        self.numbers: set[float] = set()
        self.patterns: list[re.Pattern] = []
        for v in values:
            if v is None:
                continue
            if isinstance(v, bool):
                v = "true" if v else "false"
            if isinstance(v, (int, float)):
                self.numbers.add(float(v))
                self.strings.add(_num_text(v))
                continue
            if not isinstance(v, str):
                raise ValueError(f"bad filter value {v!r}")
            if is_pattern(v):
                self.patterns.append(pattern_regex(v))
                continue
            s = unescape(v)
            self.strings.add(s)
            num = _number(s)
            if num is not None:
                self.numbers.add(num)

    def __call__(self, value) -> bool:
        if value is None:
            return False
        if isinstance(value, str):
            if value in self.strings:
                return True
            if self.numbers:
                num = _number(value)
                if num is not None and num in self.numbers:
                    return True
            text = value
        else:
            if self.numbers and float(value) in self.numbers:
                return True
            text = _num_text(value)
            if text in self.strings:
                return True
        for p in self.patterns:
            if p.fullmatch(text):
                return True
        return False


Filter = list  # [(metric name, ValueMatcher)]


def compile_filter(flt) -> Filter | None:
    """JS/REST filter object -> [(name, matcher)], None when there is nothing to filter on."""
    if not flt:
        return None
    if not isinstance(flt, dict):
        raise ValueError("filter must be an object {metricName: [values]}")
    out = []
    for name, values in flt.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"bad filter name {name!r}")
        out.append((name, ValueMatcher(values)))
    return out or None


def matches(compiled: Filter, lookup: Callable[[str], object]) -> bool:
    for name, matcher in compiled:
        if not matcher(lookup(name)):
            return False
    return True
