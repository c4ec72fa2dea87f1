"""Cross-agent state: what one agent's samples need from another agent's.

Most state is per agent and lives where that agent's datagrams are ingested. A few facts are
learned from one agent and read while handling another's samples: an interface's ``ifname``
and an agent's ``host_name`` (the topology maps nodes and ports with them, for ``link:``,
``EDGE`` / ``CORE`` and aggMode edge/core). Such facts live in a ``SharedTable``
(``engine.shared(topic)``), the same in every process of an engine with workers
(docs/ingest.md, "Workers"):

- ``set(key, value)`` / ``delete(key)`` record what this process learned (its own agents);
- ``get(key)``, ``items()`` and ``version`` read the union of what this process learned and
  what the other workers learned (those arrive through the front within a round trip);
- in a worker, changes are handed to ``publish(topic, {key: value or None})`` after the
  current event-loop turn (batched); the front merges them (``apply_remote``) and sends them
  on to the other workers;
- ``listeners`` (``fn(changes)``) are called after other processes' changes are applied, for
  a subsystem that keeps its own structure in step (the hosts table does).

Without workers the table is a plain dict with a version number.
"""

from __future__ import annotations

from typing import Callable

_ABSENT = object()


class SharedTable:
    __slots__ = ("topic", "local", "remote", "origin", "version", "_dirty", "_notify", "listeners")

    def __init__(self, topic: str, notify: Callable[["SharedTable"], None] | None = None):
        self.topic = topic
        self.local: dict = {}  # learned here
        self.remote: dict = {}  # learned by other workers (front: by every worker)
        self.origin: dict = {}  # front: key -> the worker it came from
        self.version = 0  # changes whenever anything readable changes
        self._dirty: set | None = set() if notify is not None else None
        self._notify = notify  # worker: schedules a publish of the dirty keys
        self.listeners: list = []  # fn(changes) after other processes' changes are applied

    # -- writes (this process's own agents) ---------------------------------------------------
    def set(self, key, value) -> None:
        if self.local.get(key, _ABSENT) == value:
            return
        self.local[key] = value
        self._changed(key)

    def delete(self, key) -> None:
        if self.local.pop(key, _ABSENT) is _ABSENT:
            return
        self._changed(key)

    def _changed(self, key) -> None:
        self.version += 1
        dirty = self._dirty
        if dirty is not None:
            if not dirty and self._notify is not None:
                self._notify(self)
            dirty.add(key)

    def take_changes(self) -> dict:
        """The dirty keys with their current value (None: deleted), for publishing."""
        dirty = self._dirty
        if not dirty:
            return {}
        self._dirty = set()
        local = self.local
        return {k: local.get(k) for k in dirty}

    # -- what other processes learned -----------------------------------------------------------
    def apply_remote(self, changes: dict, origin=None) -> None:
        remote = self.remote
        for key, value in changes.items():
            if value is None:
                remote.pop(key, None)
                self.origin.pop(key, None)
            else:
                remote[key] = value
                if origin is not None:
                    self.origin[key] = origin
        if changes:
            self.version += 1
            for fn in self.listeners:
                fn(changes)

    def withdraw_origin(self, origin) -> dict:
        """Front: forget every key a (dead) worker had published; returns the deletions."""
        gone = {k: None for k, o in self.origin.items() if o == origin}
        self.apply_remote(gone)
        return gone

    def snapshot(self) -> dict:
        """Everything readable here (for a worker that starts)."""
        return {**self.remote, **self.local}

    # -- reads -------------------------------------------------------------------------------
    def get(self, key, default=None):
        value = self.local.get(key, _ABSENT)
        if value is _ABSENT:
            return self.remote.get(key, default)
        return value

    def items(self):
        if not self.remote:
            return self.local.items()
        if not self.local:
            return self.remote.items()
        return {**self.remote, **self.local}.items()

    def __len__(self) -> int:
        return len(self.local) + len(self.remote)
