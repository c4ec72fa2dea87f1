"""Input limits shared by the REST API and the JavaScript API (docs/security.md).

Nested input is parsed by recursive code (JSON, flow filters, key expressions, the Python
the flow pipeline compiles), so each kind has a depth limit well inside Python's recursion
limit: deeper input is refused with a reason (400 over REST, an exception in scripts) instead
of failing half way with a RecursionError. The limits are far beyond anything an sFlow-RT
app sends and far below what would break (sFlow-RT 3.0 refuses 2,000 nested parentheses and
20,000 nested JSON arrays with 400).
"""

from __future__ import annotations

import json

# JSON bodies (REST) and values scripts hand to the engine (host-call arguments)
JSON_MAX_DEPTH = 256
# ( ... ) and ! levels in a flow filter: each level becomes a level of the Python expression
# the pipeline compiles, and Python's parser stops at 200 nested parentheses
FILTER_MAX_DEPTH = 64
# [ ... ] levels in a key expression (prefix:[uri:[...]]:/:2)
KEY_MAX_DEPTH = 32
# seconds a long-poll (/flows/json, /events/json with timeout=) may wait; http.longpoll.max
LONG_POLL_MAX = 60.0


# characters of an error reason: reasons quote the offending input, which may be megabytes
REASON_MAX = 300


def reason(text: str, limit: int = REASON_MAX) -> str:
    """An error reason bounded to ``limit`` characters (the middle is elided)."""
    text = str(text)
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]} ... {text[-keep:]}"


class TooDeep(ValueError):
    """Input nested deeper than its limit."""


def json_depth_error(limit: int = JSON_MAX_DEPTH) -> TooDeep:
    return TooDeep(f"JSON nested deeper than {limit} levels")


def parse_json(text: str, limit: int = JSON_MAX_DEPTH, wrapped: int = 0):
    """``json.loads(text)`` refusing values nested deeper than ``limit``: raises TooDeep (a
    ValueError) for those, json.JSONDecodeError (also a ValueError) for text that is not JSON.
    ``wrapped``: levels of an envelope around the value the limit is about (the script bridge
    sends ``[id, [args...]]``: 2).

    Cheap for ordinary input: the nesting is walked only when the text holds more opening
    brackets than the limit (str.count runs at C speed)."""
    try:
        value = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        raise json_depth_error(limit) from None
    if text.count("[") + text.count("{") > limit:
        check_depth(value, limit + wrapped, limit)
    return value


def _not_json(name: str):
    # Python's json reads NaN and Infinity, which JSON (and sFlow-RT's parser) do not have
    raise ValueError(f"{name} is not a JSON value")


def check_depth(value, limit: int = JSON_MAX_DEPTH, shown: int | None = None) -> None:
    """Raise TooDeep when a parsed JSON value (dicts and lists) nests deeper than ``limit``
    (``shown``: the limit the message names); iterative, so any depth is measured without
    recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            raise json_depth_error(limit if shown is None else shown)
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))


def bracket_depth(text: str, open_: str = "[", close: str = "]") -> int:
    """The deepest nesting of ``open_``/``close`` in ``text`` (backslash escapes skipped)."""
    depth = deepest = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == open_:
            depth += 1
            if depth > deepest:
                deepest = depth
        elif c == close:
            depth -= 1
        i += 1
    return deepest


def long_poll_seconds(timeout: float, cap: float = LONG_POLL_MAX) -> float:
    """A long-poll ``timeout`` query value bounded to [0, cap]: NaN, negative or absent values
    do not wait, and a huge one (1e9, inf) waits ``cap`` seconds."""
    if not timeout > 0:  # also NaN
        return 0.0
    return min(float(timeout), cap)
