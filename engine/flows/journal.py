"""Bounded, numbered streams (flow records, threshold events) with long-poll and subscribers.

Records get increasing ids starting at 1. ``since(after, match, limit)`` returns the newest
first; ``after=-1`` means "whatever is buffered" (the newest ``limit``). Subscribers are called
synchronously, in the thread that appends, with the record dict.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

from .. import log


class Journal:
    def __init__(self, maxlen: int, name_field: str):
        self.records: deque = deque(maxlen=max(1, maxlen))
        self.next_id = 1
        self.name_field = name_field
        self.subscribers: list[tuple[Callable, frozenset | None]] = []
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        self.closed = False

    def append(self, rec: dict, id_field: str) -> dict:
        rec[id_field] = self.next_id
        self.next_id += 1
        self.records.append(rec)
        name = rec.get(self.name_field)
        for cb, names in list(self.subscribers):
            if names is None or name in names:
                try:
                    cb(rec)
                except Exception as exc:
                    log.log.error("%s subscriber %r failed: %r", self.name_field, cb, exc)
        self._wake_all()
        return rec

    def _wake_all(self) -> None:
        if self.waiters:
            waiters, self.waiters = self.waiters, []
            for loop, fut in waiters:
                try:
                    loop.call_soon_threadsafe(_wake, fut)
                except RuntimeError:
                    pass

    def close(self) -> None:
        """Engine stopping: waiting long-polls answer now and new ones do not wait."""
        self.closed = True
        self._wake_all()

    def subscribe(self, callback: Callable, names=None) -> Callable[[], None]:
        if isinstance(names, str):
            names = [names]
        item = (callback, frozenset(names) if names else None)
        self.subscribers.append(item)

        def unsubscribe():
            try:
                self.subscribers.remove(item)
            except ValueError:
                pass

        return unsubscribe

    def since(self, after: int, names, limit: int, id_field: str) -> list:
        out: list = []
        if limit <= 0:
            return out
        field = self.name_field
        for rec in reversed(self.records):
            if after >= 0 and rec[id_field] <= after:
                break
            if names is None or rec.get(field) in names:
                out.append(rec)
                if len(out) >= limit:
                    break
        return out

    async def wait(self, after: int, names, limit: int, timeout: float, id_field: str) -> list:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            out = self.since(after, names, limit, id_field)
            remaining = deadline - loop.time()
            if out or remaining <= 0 or self.closed:
                return out
            if after < 0:
                # "-1": nothing buffered yet; wait for the first new record from here on
                after = self.next_id - 1
            fut = loop.create_future()
            self.waiters.append((loop, fut))
            try:
                await asyncio.wait_for(fut, remaining)
            except asyncio.TimeoutError:
                pass
            finally:
                if not fut.done():
                    fut.cancel()
                try:
                    self.waiters.remove((loop, fut))
                except ValueError:
                    pass


def _wake(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)
