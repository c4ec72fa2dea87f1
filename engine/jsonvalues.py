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
