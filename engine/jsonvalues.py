"""JSON has no NaN or Infinity (browsers' and V8's JSON.parse reject them), yet agents can send
such floats (float32 gauges, sFlow-RT custom metrics). Replies and script messages show them
as null instead of failing."""

from __future__ import annotations

import math


def finite(obj):
    """A copy of a JSON-like value with non-finite floats replaced by None."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [finite(v) for v in obj]
    return obj


def whole(x):
    """A float that is a whole number as an int (19900.0 -> 19900), as sFlow-RT's JSON writes
    it; other values unchanged."""
    if x.__class__ is float and x.is_integer():
        return int(x)
    return x
