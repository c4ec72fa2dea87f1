"""Bounded row buffer and the writer thread: history never waits for the store.

The engine's loop thread only appends rows (``RowBuffer.add``: a lock, a list extend and a
count). The writer thread takes batches and inserts them; when the store is slow or down,
rows wait in the buffer up to ``capacity`` and the insert is retried with a growing pause
(1 s doubling up to ``retry_max``); rows beyond the bound are dropped and counted. The first
failure of an outage, the first drop and the recovery are logged once each.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .. import log
from .backends import BackendError
from .schema import TABLES, create_statements, drop_partition, old_partitions_query, \
    view_engine, view_engines_query, view_statement


class RowBuffer:
    """Rows waiting to be written, per table, at most ``capacity`` in all."""

    def __init__(self, capacity: int):
        self.capacity = max(1, int(capacity))
        self.rows: dict[str, deque] = {t.name: deque() for t in TABLES}
        self.count = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.ready = threading.Event()        # set when a batch's worth is waiting
        self.batch = 1
        self.on_first_drop: Callable[[], None] | None = None   # called (outside the lock) when drops start
        self._drop_quiet = False              # the next drop is the first of an outage

    def add(self, table: str, rows: list) -> int:
        """Append rows; returns how many did not fit (dropped, counted)."""
        n = len(rows)
        if not n:
            return 0
        first_drop = False
        with self.lock:
            room = self.capacity - self.count
            if room >= n:
                self.rows[table].extend(rows)
                self.count += n
                lost = 0
            else:
                if room > 0:
                    self.rows[table].extend(rows[:room])
                    self.count += room
                lost = n - max(room, 0)
                first_drop = self.dropped == 0 or self._drop_quiet
                self._drop_quiet = False
                self.dropped += lost
            full = self.count >= self.batch
        if full:
            self.ready.set()
        if first_drop and lost and self.on_first_drop is not None:
            self.on_first_drop()
        return lost

    def quiet_drops(self) -> None:
        """The next drop is logged again (an outage ended)."""
        with self.lock:
            self._drop_quiet = True

    def take(self, table: str, limit: int) -> list:
        with self.lock:
            q = self.rows[table]
            n = min(limit, len(q))
            out = [q.popleft() for _ in range(n)]
            self.count -= n
            return out

    def put_back(self, table: str, rows: list) -> None:
        """A batch that could not be written goes back to the front (it is older than what
        arrived meanwhile); it may push the buffer past capacity by less than one batch."""
        with self.lock:
            self.rows[table].extendleft(reversed(rows))
            self.count += len(rows)

    def sizes(self) -> dict:
        with self.lock:
            return {name: len(q) for name, q in self.rows.items()}


class Writer:
    """The writer thread. ``backends`` are tried in order (failover); the schema is made on
    a backend before its first insert, and old partitions are dropped at that point and then
    hourly."""

    RETENTION_EVERY = 3600.0

    def __init__(self, backends: list, buffer: RowBuffer, database: str, cluster: str | None,
                 days: int, batch: int, flush: float, retry_max: float):
        self.backends = backends
        self.buffer = buffer
        self.database = database
        self.cluster = cluster
        self.days = days
        self.batch = max(1, int(batch))
        buffer.batch = self.batch
        self.flush = max(0.01, float(flush))
        self.retry_max = max(0.05, float(retry_max))
        self.current = 0                      # index of the backend in use
        self.prepared: set[int] = set()       # backends whose tables exist
        self.next_retention = 0.0
        self.written = 0
        self.batches = 0
        self.errors = 0
        self.last_error: str | None = None
        self.outage_since: float | None = None
        self.dropped_at_outage = 0
        self.cpu_seconds = 0.0                # the writer thread's CPU time (bench)
        buffer.on_first_drop = self._first_drop
        self._drain_deadline = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="history-writer", daemon=True)

    # -- control -------------------------------------------------------------------------------
    def start(self) -> None:
        self.buffer.ready.set()           # make the tables at once, not after the first pause
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is buffered (one attempt, within ``timeout``), then end the thread."""
        self._drain_deadline = time.monotonic() + timeout
        self._stop.set()
        self.buffer.ready.set()
        self._thread.join(timeout + 1.0)

    @property
    def target(self):
        return self.backends[self.current]

    def healthy(self) -> bool:
        return self.outage_since is None

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        pause = 0.0
        while True:
            if self._stop.is_set():
                self._write_all(final=True)
                return
            if pause:
                self._stop.wait(pause)
                if self._stop.is_set():
                    continue
            else:
                self.buffer.ready.wait(self.flush)
            self.buffer.ready.clear()
            t0 = time.thread_time()
            ok = self._write_all(final=False)
            self.cpu_seconds += time.thread_time() - t0
            pause = 0.0 if ok else min(self.retry_max, max(1.0, pause * 2) if pause else
                                       min(1.0, self.retry_max))

    def _write_all(self, final: bool) -> bool:
        """Insert everything buffered now, batch by batch; False after a failure."""
        if final and self.outage_since is not None:
            return False            # the store is down: do not hold up the engine's stop
        try:
            self._prepare()
            for t in TABLES:
                while True:
                    if final and time.monotonic() > self._drain_deadline:
                        return False
                    rows = self.buffer.take(t.name, self.batch)
                    if not rows:
                        break
                    try:
                        self.target.insert(f"{self.database}.{t.local}", t.column_names, rows)
                    except BackendError:
                        self.buffer.put_back(t.name, rows)
                        raise
                    self.written += len(rows)
                    self.batches += 1
                    if len(rows) < self.batch:
                        break
            self._recovered()
            if time.time() >= self.next_retention:
                self._retention()
            return True
        except BackendError as exc:
            self._failed(exc)
            return False
        except Exception as exc:       # a bug must not end the thread
            log.log.error("history writer failed: %r", exc, exc_info=exc)
            self._failed(exc)
            return False

    def _prepare(self) -> None:
        """Make the tables on the current backend; on failure try the next ones once."""
        n = len(self.backends)
        last = None
        for i in range(n):
            idx = (self.current + i) % n
            if idx in self.prepared:
                self.current = idx
                return
            try:
                self._create(self.backends[idx])
            except BackendError as exc:
                last = exc
                continue
            self.prepared.add(idx)
            if idx != self.current:
                log.info(f"history: writing to {self.backends[idx].describe()} "
                         f"({self.backends[self.current].describe()} failed)")
            self.current = idx
            self.next_retention = 0.0
            return
        raise last if last is not None else BackendError("history: no backend")

    def _create(self, backend) -> None:
        for sql in create_statements(self.database, self.cluster):
            backend.execute(sql)
        # a view table made for another setting (cluster set or removed): make it again
        want = view_engine(self.cluster)
        for name, engine in backend.query(view_engines_query(self.database)):
            if engine != want:
                t = next(t for t in TABLES if t.name == name)
                backend.execute(f"DROP TABLE IF EXISTS {self.database}.{name}")
                backend.execute(view_statement(self.database, t, self.cluster))

    def _retention(self) -> None:
        """Drop the daily partitions of the local tables older than ``days``."""
        self.next_retention = time.time() + self.RETENTION_EVERY
        if self.days <= 0:
            return
        backend = self.target
        try:
            for table, partition in backend.query(old_partitions_query(self.database,
                                                                       self.days)):
                backend.execute(drop_partition(self.database, table, str(partition)))
                log.info(f"history: dropped {table} partition {partition} "
                         f"(older than {self.days} days)")
        except BackendError as exc:
            log.warning(f"history: retention on {backend.describe()} failed: {exc}")

    def _failed(self, exc: Exception) -> None:
        self.errors += 1
        self.last_error = str(exc)
        self.prepared.discard(self.current)     # re-check the tables when it is back
        if len(self.backends) > 1:
            self.current = (self.current + 1) % len(self.backends)
        if self.outage_since is None:
            self.outage_since = time.time()
            self.dropped_at_outage = self.buffer.dropped
            log.warning(f"history: cannot write ({exc}); keeping up to "
                        f"{self.buffer.capacity} rows and retrying")

    def _recovered(self) -> None:
        if self.outage_since is None:
            return
        lost = self.buffer.dropped - self.dropped_at_outage
        log.info(f"history: writing to {self.target.describe()} again after "
                 f"{time.time() - self.outage_since:.0f} s; {lost} rows dropped meanwhile")
        self.outage_since = None
        self.buffer.quiet_drops()

    def _first_drop(self) -> None:
        log.warning(f"history: buffer full ({self.buffer.capacity} rows) while writing to "
                    f"{self.target.describe()}: dropping new rows until it keeps up again "
                    "(counted in /analyzer/json historyRowsDropped)")
