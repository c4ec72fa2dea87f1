"""The one poll-and-wait helper of the tests: wait on a condition (a counter, a table, a log
line), never on a fixed sleep. ``RunningEngine.wait_for``, bgp_support and the lab use it."""

from __future__ import annotations

import asyncio
import time


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate()`` until it returns something truthy and return that value;
    AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(interval)


async def async_wait_until(
    predicate, timeout: float = 10.0, interval: float = 0.01, what: str = "condition"
):
    """wait_until for a coroutine: sleeps with asyncio.sleep, so the loop keeps running."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        await asyncio.sleep(interval)
