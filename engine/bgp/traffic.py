"""Traffic per BGP prefix: sFlow samples matched to a router's table by longest prefix, kept as
an exponentially weighted moving average rate with time constant t seconds.

A sample of value v at time s adds v/t * exp(-(now-s)/t) to its prefix's rate. To keep the per
sample path to one multiply and one dict update, values are stored scaled by exp((s-t0)/t)
(forward decay) and scaled back by exp(-(now-t0)/t) when read; t0 moves forward (with one pass
over the entries) before the scale factor can overflow. A steady stream of v per second converges
on a rate of v per second.
"""

from __future__ import annotations

import heapq
import math
import operator

SRC, DST = 0, 1
# values that count what was sampled, so a sample stands for sampling_rate of them
SCALED_VALUES = frozenset({"bytes", "frames", "ipbytes", "ip6bytes", "requests"})
RENORMALIZE_AT = 60.0  # exp(60) ~ 1e26: far from float overflow, rare enough to be free


class Accumulator:
    """Per-prefix traffic for one router, one time constant, one address family."""

    __slots__ = ("t", "t0", "by_prefix", "total", "weight", "weight_at")

    def __init__(self, t: float, now: float):
        self.t = max(float(t), 1e-3)
        self.t0 = now
        self.by_prefix: tuple[dict, dict] = ({}, {})  # SRC, DST
        self.total = 0.0
        self.weight = 1.0 / self.t
        self.weight_at: float | None = now

    def weight_for(self, now: float) -> float:
        """Scaled weight of one unit of value arriving at `now` (cached per timestamp)."""
        if now != self.weight_at:
            x = (now - self.t0) / self.t
            if x > RENORMALIZE_AT:
                self._renormalize(now)
                x = 0.0
            self.weight = math.exp(x) / self.t
            self.weight_at = now
        return self.weight

    def add(self, now: float, value: float, src_prefix, dst_prefix) -> None:
        w = value * self.weight_for(now)
        self.total += w
        if src_prefix is not None:
            d = self.by_prefix[SRC]
            d[src_prefix] = d.get(src_prefix, 0.0) + w
        if dst_prefix is not None:
            d = self.by_prefix[DST]
            d[dst_prefix] = d.get(dst_prefix, 0.0) + w

    def scale(self, now: float) -> float:
        return math.exp(-(now - self.t0) / self.t)

    def _renormalize(self, now: float) -> None:
        f = math.exp(-(now - self.t0) / self.t)
        self.total *= f
        floor = self.total * 1e-12
        for d in self.by_prefix:
            dead = []
            for k, v in d.items():
                v *= f
                if v <= floor:
                    dead.append(k)
                else:
                    d[k] = v
            for k in dead:
                del d[k]
        self.t0 = now
        self.weight_at = None


class Source:
    """bgpAddSource(agent, router, t, value): where an agent's samples are accounted.
    `scope`, for the EDGE / CORE / TOPOLOGY sources while a topology is installed: the
    Selection of (agent, data source) whose samples count (None: every sample)."""

    __slots__ = ("agent", "router4", "router6", "t", "value", "scaled", "acc4", "acc6", "scope")

    def __init__(self, agent: str, router4, router6, t: float, value: str, now: float):
        self.agent = agent
        self.scope = None
        self.router4 = router4  # NeighborState or None
        self.router6 = router6
        self.t = t
        self.value = value
        self.scaled = value in SCALED_VALUES  # decided once, not per sample
        self.acc4 = Accumulator(t, now)
        self.acc6 = Accumulator(t, now)


def prefix_values(accs: list[Accumulator], direction: int, now: float) -> tuple[dict, float]:
    """Current rate per prefix and the total, summed over the given accumulators."""
    values: dict[str, float] = {}
    total = 0.0
    for acc in accs:
        f = acc.scale(now)
        total += acc.total * f
        for k, v in acc.by_prefix[direction].items():
            values[k] = values.get(k, 0.0) + v * f
    return values, total


_value = operator.itemgetter(1)


def _present(candidates, limit: int, min_prefix: int, has) -> list:
    ranked: list[tuple] = []
    for prefix, v in candidates:
        if len(ranked) >= limit:
            break
        if int(prefix[prefix.rindex("/") + 1 :]) >= min_prefix and has(prefix):
            ranked.append((v, prefix))
    return ranked


def top_prefixes(
    rib,
    values: dict,
    total: float,
    max_prefixes: int,
    min_value: float,
    min_prefix: int,
    include_covered: bool,
    prune_covered: bool,
) -> dict:
    """The ranking part of /bgp/topprefixes: top prefixes still present in the RIB."""
    trie = rib.trie
    has = trie.has_key
    # sort first, then check presence in the RIB only until the list is full (a has_key is a
    # few microseconds on a full table; thousands of prefixes may carry traffic)
    limit = max(0, int(max_prefixes))
    items = [e for e in values.items() if e[1] > min_value]
    # the largest few first (cheap), the whole sort only if too many of those left the table
    want = limit + 16 + limit // 4
    if want < len(items):
        candidates = heapq.nlargest(want, items, key=_value)
    else:
        candidates = sorted(items, key=_value, reverse=True)
    ranked = _present(candidates, limit, min_prefix, has)
    if len(ranked) < limit and len(candidates) < len(items):
        ranked = _present(sorted(items, key=_value, reverse=True), limit, min_prefix, has)
    chosen: dict[str, dict] = {}
    for v, prefix in ranked:
        entry = trie[prefix].json()
        entry["prefix"] = prefix
        entry["value"] = v
        chosen[prefix] = entry
    if include_covered:
        for _, prefix in ranked:
            for child in trie.children(prefix):
                if child in chosen or int(child.rsplit("/", 1)[1]) < min_prefix:
                    continue
                entry = trie[child].json()
                entry["parentprefix"] = prefix
                entry["prefix"] = child
                entry["value"] = values.get(child, 0.0)
                chosen[child] = entry
    if prune_covered:
        # a covered prefix with the same next hop as its nearest covering entry adds nothing
        for prefix in list(chosen):
            parent = trie.parent(prefix)
            while parent is not None and parent not in chosen:
                parent = trie.parent(parent)
            if parent is not None and chosen[parent]["nexthop"] == chosen[prefix]["nexthop"]:
                del chosen[prefix]
    entries = list(chosen.values())
    entries.sort(key=lambda e: (-e["value"], e["prefix"]))
    top_value = sum(e["value"] for e in entries)
    return {
        "topPrefixes": entries,
        "valuePercentCoverage": (100.0 * top_value / total) if total > 0 else 0.0,
        "valueTopPrefixes": top_value,
        "valueTotal": total,
    }
