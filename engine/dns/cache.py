"""Reverse-name cache: address -> name (positive) or None (negative), each with an expiry.

The sample path only does ``names.get(ip)``; expiry and eviction happen in ``sweep()`` and
``put()``, which run on the resolver's side, so a cache hit costs one dict lookup.
"""

from __future__ import annotations

import heapq
import itertools
from collections import OrderedDict


class NameCache:
    __slots__ = ("names", "expires", "heap", "size", "_seq")

    def __init__(self, size: int):
        self.size = max(1, size)
        # ip -> name (str) or None for a negative answer; OrderedDict evicts the oldest in O(1)
        self.names: OrderedDict = OrderedDict()
        self.expires: dict = {}  # ip -> monotonic expiry of the current entry
        self.heap: list = []  # (expiry, seq, ip); stale items are skipped when popped
        self._seq = itertools.count()  # tie-breaker: addresses of mixed types never get compared

    def __len__(self) -> int:
        return len(self.names)

    def put(self, ip, name: str | None, ttl: float, now: float) -> None:
        names = self.names
        if ip in names:
            names[ip] = name
            names.move_to_end(ip)  # eviction order follows the latest answer
        else:
            while len(names) >= self.size:
                old, _ = names.popitem(last=False)
                self.expires.pop(old, None)
            names[ip] = name
        expiry = now + ttl
        self.expires[ip] = expiry
        heapq.heappush(self.heap, (expiry, next(self._seq), ip))
        if len(self.heap) > 4 * self.size + 64:
            self._compact()

    def sweep(self, now: float) -> int:
        """Drop entries whose time is up; returns how many went."""
        heap, expires, names = self.heap, self.expires, self.names
        gone = 0
        while heap and heap[0][0] <= now:
            expiry, _, ip = heapq.heappop(heap)
            if expires.get(ip) == expiry:
                del expires[ip]
                names.pop(ip, None)
                gone += 1
        return gone

    def clear(self) -> None:
        self.names.clear()
        self.expires.clear()
        self.heap.clear()

    def _compact(self) -> None:
        self.heap = [(t, next(self._seq), ip) for ip, t in self.expires.items()]
        heapq.heapify(self.heap)
