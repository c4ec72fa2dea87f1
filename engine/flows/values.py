"""Value functions of a flow definition: ``bytes``, ``rate:x``, ``avg:x``, ``count:x``,
``min:x``, ``max:x``.

Smoothing (see docs/flows.md): a "sum" value keeps a rate r (units per second) and the time of
its last update. A sample at time s with value x and sampling rate R contributes x*R/t:
    r(s) = r(last) * exp(-(s - last)/t) + x*R/t
and reading at time now decays without storing: r(now) = r(last) * exp(-(now - last)/t).
A steady stream of X units/s therefore reads X in the steady state (the integral of
exp(-u/t)/t is 1), and a stopped flow decays with time constant t.
"""

from __future__ import annotations

from .keys import KeyExpr, compile_key
from .registry import KeyFunctionError

PREFIXES = ("rate", "avg", "count", "min", "max")


class ValueFunc:
    """One value of a definition. ``kind`` is sum|avg|count|min|max; ``key`` the compiled key.

    ``init() -> state``, ``update(state, d, x, rate, now, inv_t) -> state`` (d: decay since the
    entry's last update, x: the raw value or None) and ``read(state, d, now) -> float`` are
    the general (slow) path of the cache; they are chosen once per kind, not per sample."""

    __slots__ = ("text", "kind", "key", "t", "init", "update", "read")

    def __init__(self, text: str, engine, t: float):
        if not isinstance(text, str) or not text.strip():
            raise KeyFunctionError("value must be a non-empty string")
        text = text.strip()
        self.text = text
        self.t = t
        head, sep, rest = text.partition(":")
        if sep and head in PREFIXES:
            self.kind = "sum" if head == "rate" else head
            self.key: KeyExpr = compile_key(rest, engine)
        else:
            self.kind = "sum"
            self.key = compile_key(text, engine)
        self.init, self.update, self.read = _KINDS[self.kind](t)

    @property
    def plain_name(self) -> str | None:
        return self.key.name if self.key.fn is None else None


def _sum(t: float):
    def update(state, d, x, rate, now, inv_t):
        if x is None:
            return state * d
        return state * d + x * rate * inv_t

    def read(state, d, now):
        return state * d

    return float, update, read


def _avg(t: float):
    """Sampling-rate weighted mean, both sums decaying with time constant t."""

    def init():
        return [0.0, 0.0]

    def update(state, d, x, rate, now, inv_t):
        state[0] *= d
        state[1] *= d
        if x is not None:
            state[0] += x * rate
            state[1] += rate
        return state

    def read(state, d, now):
        return state[0] / state[1] if state[1] > 0 else 0.0

    return init, update, read


def _count(t: float):
    """Distinct values seen in the last t seconds. The state maps value -> last seen and is
    kept in last-seen order (a value seen again moves to the end), so expired values are a
    prefix: each update drops them and a read stops at the first fresh one (amortized O(1)
    per sample, however many distinct values, e.g. the sources of a DDoS attack)."""

    def update(state, d, x, rate, now, inv_t):
        if x is None:
            return state
        state.pop(x, None)
        state[x] = now
        horizon = now - t
        items = iter(state.items())
        v, seen = next(items)
        if seen < horizon:
            dead = [v]
            for v, seen in items:
                if seen >= horizon:
                    break
                dead.append(v)
            for v in dead:
                del state[v]
        return state

    def read(state, d, now):
        horizon = now - t
        n = len(state)
        for seen in state.values():
            if seen >= horizon:
                break
            n -= 1
        return float(n)

    return dict, update, read


def _extreme(lower: bool):
    """min/max over the last t seconds (a kept value older than t is replaced)."""

    def make(t: float):
        def update(state, d, x, rate, now, inv_t):
            if x is None:
                return state
            if state is None or now - state[1] > t or (x < state[0] if lower else x > state[0]):
                return (x, now)
            return state

        def read(state, d, now):
            return float(state[0]) if state is not None else 0.0

        return _none, update, read

    return make


def _none():
    return None


_KINDS = {"sum": _sum, "avg": _avg, "count": _count, "min": _extreme(True), "max": _extreme(False)}
