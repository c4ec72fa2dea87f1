"""The history subsystem object (``engine.subsystems["history"]``). API: engine/history/__init__.py."""
from __future__ import annotations

import asyncio
import math
import time

from .. import log
from . import queries
from ..errors import NotRunning
from .backends import BackendError, ChdbBackend, NotInstalled, open_server
from .config import HistoryConfig, from_props
from .writer import RowBuffer, Writer


class HistoryOff(NotRunning):
    """History is not recording here (the text says why; REST: 503)."""


class History:
    def __init__(self, engine):
        self.engine = engine
        self.mode = "off"                 # off | clickhouse | chdb
        self.reason = "not started"
        self.config: HistoryConfig | None = None
        self.backends: list = []
        self.buffer: RowBuffer | None = None
        self.writer: Writer | None = None
        self._unsubscribe: list = []
        try:
            self.config = from_props(getattr(engine, "props", None),
                                     getattr(engine, "home", "."))
        except ValueError as exc:
            self.reason = f"bad property: {exc}"

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        c = self.config
        if c is None:
            log.severe(f"history is off: {self.reason}")
            return
        if not c.enabled:
            self.reason = f"switched off ({c.disabled_by})"
            log.info(f"history is off: {self.reason}")
            return
        try:
            if c.servers:
                settings = {"skip_unavailable_shards": 1} if c.cluster else {}
                self.backends = [open_server(s, c.timeout, settings) for s in c.servers]
                self.mode = "clickhouse"
            else:
                self.backends = [ChdbBackend(c.path)]
                self.mode = "chdb"
        except NotInstalled as exc:
            self.reason = str(exc)
            log.info(f"history is off: {exc}")
            return
        except (BackendError, OSError) as exc:
            self.mode = "off"
            self.reason = str(exc)
            log.severe(f"history is off: {exc}")
            return
        self.reason = ""
        self.buffer = RowBuffer(c.buffer)
        self.writer = Writer(self.backends, self.buffer, c.database, c.cluster, c.days,
                             c.batch, c.flush, c.retry)
        self.writer.start()
        self._subscribe()
        log.info(f"history: recording to {self.target()} database {c.database}"
                 + (f" (cluster {c.cluster})" if c.cluster else "")
                 + f" as node {c.node}, every {c.interval:g} s, kept {c.days} days")

    async def stop(self) -> None:
        if self.writer is None:
            return
        flows = self._sub("flows")
        if flows is not None and hasattr(flows, "flush_intervals"):
            try:
                flows.flush_intervals()         # the running interval's totals
            except Exception as exc:
                log.log.error("history: last flow interval failed: %r", exc)
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        await asyncio.get_running_loop().run_in_executor(None, self.writer.stop)
        for b in self.backends:
            try:
                b.close()
            except Exception:
                pass
        self.writer = None
        self.mode = "off"
        self.reason = "stopped"

    def _sub(self, name):
        return getattr(self.engine, "subsystems", {}).get(name)

    def _subscribe(self) -> None:
        c, _ = self._sink()
        flows = self._sub("flows")
        if flows is not None:
            self._unsubscribe.append(
                flows.subscribe_intervals(self._on_interval, c.interval, c.flow_limit))
            if c.events:
                self._unsubscribe.append(flows.subscribe_events(self._on_event))
        metrics = self._sub("metrics")
        if metrics is not None and c.metrics != frozenset() and \
                hasattr(metrics, "subscribe_updates"):
            self._unsubscribe.append(metrics.subscribe_updates(self._on_metrics))

    # -- hooks (engine loop thread; keep them quick) -----------------------------------------
    def _on_interval(self, name: str, start: float, end: float, rows: list) -> None:
        """A flow definition's totals over one interval (at most its key limit of rows, the
        rest summed per location under "-other-": engine/flows/intervals.py)."""
        t0 = int(start)
        seconds = max(1, int(math.ceil(end - start)))
        config, buffer = self._sink()
        node = config.node
        buffer.add("flows", [(t0, seconds, node, name, a, ds, k, float(v))
                                  for a, ds, k, v in rows if v == v])

    def _on_metrics(self, agent: str, data_source: str, values: dict, now: float) -> None:
        config, buffer = self._sink()
        wanted = config.metrics
        t = int(now)
        node = config.node
        rows = []
        for m, v in values.items():
            cls = v.__class__
            if cls is float:
                if v - v != 0.0:          # NaN or infinite
                    continue
            elif cls is not int:
                continue
            if wanted is None or m in wanted:
                rows.append((t, node, agent, data_source, m, float(v)))
        if rows:
            buffer.add("metrics", rows)

    def _on_event(self, evt: dict) -> None:
        ts = int(evt.get("timestamp") or time.time() * 1000)
        value = evt.get("value")
        threshold = evt.get("threshold")
        config, buffer = self._sink()
        buffer.add("events", [(
            ts // 1000, ts, config.node, int(evt.get("eventID") or 0),
            str(evt.get("thresholdID", "")), str(evt.get("metric", "")),
            str(evt.get("agent", "")), str(evt.get("dataSource", "")),
            str(evt.get("flowKey") or ""), _float(value), _float(threshold))])

    # -- status ------------------------------------------------------------------------------
    def target(self) -> str:
        if self.writer is not None:
            return self.writer.target.describe()
        return ", ".join(b.describe() for b in self.backends)

    def analyzer_stats(self) -> dict:
        """The counters /analyzer/json adds (0 while history is off)."""
        w, b = self.writer, self.buffer
        return {
            "historyRowsWritten": w.written if w else 0,
            "historyRowsDropped": b.dropped if b else 0,
            "historyRowsBuffered": b.count if b else 0,
            "historyWriteErrors": w.errors if w else 0,
        }

    def status(self) -> dict:
        c = self.config
        out: dict = {"mode": self.mode}
        if self.mode == "off":
            out["reason"] = self.reason
        if c is not None:
            out.update({"database": c.database, "cluster": c.cluster, "node": c.node,
                        "interval": c.interval, "days": c.days})
        if self.writer is not None and self.buffer is not None:
            w, b = self.writer, self.buffer
            flows = self._sub("flows")
            recorded = sorted(n for n, t in flows.tables.items() if t.intervals is not None) \
                if flows is not None else []
            out.update({
                "target": self.target(), "healthy": w.healthy(),
                "outageSince": int(w.outage_since * 1000) if w.outage_since else None,
                "lastError": w.last_error, "flows": recorded,
                "rowsWritten": w.written, "rowsDropped": b.dropped, "rowsBuffered": b.count,
                "bufferMax": b.capacity, "writeErrors": w.errors, "batches": w.batches,
            })
        return out

    # -- queries (blocking: call from a thread, not the event loop) ---------------------------
    def _run(self, sql: str) -> list:
        if self.writer is None:
            raise HistoryOff(f"history is off: {self.reason}")
        backends = self.backends
        first = self.writer.current
        last = None
        for i in range(len(backends)):
            try:
                return backends[(first + i) % len(backends)].query(sql)
            except BackendError as exc:
                last = exc
        raise last if last is not None else HistoryOff("history has no backend")

    def _configured(self) -> HistoryConfig:
        """The configuration; HistoryOff (503 in REST) when a bad property left none."""
        if self.config is None:
            raise HistoryOff(f"history is off: {self.reason}")
        return self.config

    def _sink(self) -> tuple[HistoryConfig, RowBuffer]:
        """Configuration and row buffer for the hooks, which start() subscribes after both."""
        assert self.config is not None and self.buffer is not None
        return self.config, self.buffer

    @property
    def _db(self) -> str:
        return self._configured().database

    def flow_names(self, frm=None, to=None, node=None) -> list:
        start, end = queries.time_range(frm, to, default_from="-1d")
        return queries.flow_names(self._run, self._db, start, end, node)

    def top_keys(self, agents, name: str, frm=None, to=None, max_keys=None, node=None) -> list:
        start, end = queries.time_range(frm, to)
        n = queries.positive_int(max_keys, "maxKeys", 20, 10000)
        return queries.top_keys(self._run, self._db, _name(name), agents, start, end, n, node)

    def flow_series(self, agents, name: str, frm=None, to=None, step=None, keys=None,
                    max_keys=None, node=None) -> dict:
        start, end = queries.time_range(frm, to)
        n = queries.positive_int(max_keys, "maxKeys", 10, 100)
        if isinstance(keys, str):
            keys = [keys]
        return queries.flow_series(self._run, self._db, _name(name), agents, start, end, step,
                                   int(self._configured().interval), keys or None, n, node)

    def metric_names(self, frm=None, to=None, node=None) -> list:
        start, end = queries.time_range(frm, to, default_from="-1d")
        return queries.metric_names(self._run, self._db, start, end, node)

    def metric_series(self, agents, metric: str, frm=None, to=None, step=None, agg=None,
                      data_source=None, max_series=None, node=None) -> dict:
        start, end = queries.time_range(frm, to)
        n = queries.positive_int(max_series, "maxSeries", 20, 1000)
        return queries.metric_series(self._run, self._db, _name(metric, "metric"), agents,
                                     start, end, step, agg, data_source or None, n, node)

    def events(self, frm=None, to=None, threshold_id=None, agents=None, max_events=None,
               node=None) -> list:
        start, end = queries.time_range(frm, to, default_from="-1d")
        n = queries.positive_int(max_events, "maxEvents", 100, 100000)
        return queries.events(self._run, self._db, start, end, threshold_id or None, agents, n,
                              node)


def _name(v, what: str = "name") -> str:
    if not isinstance(v, str) or not v:
        raise ValueError(f"{what} must be a non-empty string")
    return v


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
