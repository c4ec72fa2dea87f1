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
    """One value of a definition. ``kind`` is sum|avg|count|min|max; ``key`` the compiled key."""
    __slots__ = ("text", "kind", "key", "t")

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

    @property
    def plain_name(self) -> str | None:
        return self.key.name if self.key.fn is None else None

    # -- generic (slow) path: state per entry ------------------------------------------------
    def init(self):
        k = self.kind
        if k == "sum":
            return 0.0
        if k == "avg":
            return [0.0, 0.0]
        if k == "count":
            return {}
        return None

    def update(self, state, d: float, x, rate: int, now: float, inv_t: float):
        k = self.kind
        if k == "sum":
            if x is None:
                return state * d
            return state * d + x * rate * inv_t
        if k == "avg":
            state[0] *= d
            state[1] *= d
            if x is not None:
                state[0] += x * rate
                state[1] += rate
            return state
        if x is None:
            return state
        if k == "count":
            state[x] = now
            if len(state) > 4096:
                horizon = now - self.t
                for v in [v for v, s in state.items() if s < horizon]:
                    del state[v]
            return state
        # min/max over the last t seconds (a value older than t is replaced)
        if state is None or now - state[1] > self.t or (x < state[0] if k == "min" else x > state[0]):
            return (x, now)
        return state

    def read(self, state, d: float, now: float) -> float:
        k = self.kind
        if k == "sum":
            return state * d
        if k == "avg":
            return state[0] / state[1] if state[1] > 0 else 0.0
        if k == "count":
            horizon = now - self.t
            return float(sum(1 for s in state.values() if s >= horizon))
        return float(state[0]) if state is not None else 0.0


def numeric(x) -> bool:
    c = x.__class__
    return c is int or c is float
