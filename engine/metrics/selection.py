"""What an agent selector selects: agents, and optionally only some data sources of each.

``MetricStore.select_agents`` returns ``None`` (every agent, every data source: the fast ALL
path) or a ``Selection``: a dict ``agent address -> None | predicate``, where ``None`` selects
every data source of that agent and a predicate ``ds_id -> bool`` only the data sources it
accepts (``EDGE`` and ``CORE`` select ports, docs/topology.md). Being a dict, a Selection still
answers ``agent in selection`` and iterates over agent addresses, so code that only cares about
agents keeps working; code that reports data sources asks ``has(agent, ds)`` when
``restricted`` is true (some agent has a predicate).
"""

from __future__ import annotations

from typing import Callable, Iterable

Predicate = Callable[[str], bool]
_ABSENT = object()


def _either(p: Predicate, q: Predicate) -> Predicate:
    return lambda ds: p(ds) or q(ds)


def _both(p: Predicate, q: Predicate) -> Predicate:
    return lambda ds: p(ds) and q(ds)


class Selection(dict):
    """agent -> None (all its data sources) or a predicate over data source ids. Built once per
    query (or cached by whoever registers a selector) and not mutated afterwards."""

    __slots__ = ("restricted",)

    def __init__(self, items=()):
        super().__init__(items)
        self.restricted = any(p is not None for p in self.values())

    @classmethod
    def of_agents(cls, agents: Iterable[str]) -> "Selection":
        return cls(dict.fromkeys(agents))

    @classmethod
    def coerce(cls, value) -> "Selection":
        """A selector function's answer: a Selection / dict, or an iterable of addresses."""
        if isinstance(value, Selection):
            return value
        if isinstance(value, dict):
            return cls(value)
        return cls.of_agents(value or ())

    def has(self, agent: str, ds: str) -> bool:
        p = self.get(agent, _ABSENT)
        if p is None:
            return True
        if p is _ABSENT:
            return False
        return p(ds)

    def union(self, other: "Selection") -> "Selection":
        out = dict(self)
        for agent, q in other.items():
            if agent not in out:
                out[agent] = q
            else:
                p = out[agent]
                out[agent] = None if p is None or q is None else _either(p, q)
        return Selection(out)

    def intersection(self, other: "Selection") -> "Selection":
        out = {}
        for agent, p in self.items():
            q = other.get(agent, _ABSENT)
            if q is _ABSENT:
                continue
            out[agent] = q if p is None else p if q is None else _both(p, q)
        return Selection(out)


def as_selection(agents) -> "Selection | None":
    """None, a Selection, or a plain set/iterable of addresses (agent-level) -> None/Selection."""
    if agents is None or isinstance(agents, Selection):
        return agents
    return Selection.coerce(agents)
