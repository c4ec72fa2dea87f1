"""Flow and metric history in ClickHouse: look back in time, one view over many flowrt nodes.

``attach(engine)`` returns a :class:`engine.history.service.History`, reachable as
``engine.subsystems["history"]``. Where it writes (decided at ``start``): the ClickHouse
servers of ``history.clickhouse`` (HTTP or native protocol), else an embedded chDB store
under the home directory when chDB is installed (``pip install 'flowrt[history]'``), else
nowhere (one log line says so). docs/history.md: schema, properties, queries.

What is recorded, from engine-level hooks (nothing on the per-sample path):
  flows    ``FlowEngine.subscribe_intervals``: every ``history.interval`` seconds the total of
           each key of the definitions with ``history`` (or picked by ``history.flows``)
  metrics  ``MetricStore.subscribe_updates``: each counter sample's numeric metrics
  events   ``FlowEngine.subscribe_events``: threshold events
The hooks only append rows to a bounded buffer; a writer thread inserts them in batches
(engine/history/writer.py).

Queries (blocking; REST runs them in a thread, JS functions on the script's thread); bad
arguments raise ValueError, history off ``HistoryOff``, a store error ``BackendError``:
  ``status() -> dict``                                   /history/json
  ``flow_names(frm, to, node=None) -> [{name, rows, lastTime}]``
  ``top_keys(agents, name, frm, to, max_keys=20, node=None) -> [{key, value, total}]``
  ``flow_series(agents, name, frm, to, step=None, keys=None, max_keys=10, node=None)``
      -> {start, end, step, times, keys, values, other}
  ``metric_names(frm, to, node=None) -> [{metric, rows, lastTime}]``
  ``metric_series(agents, metric, frm, to, step=None, agg="avg", data_source=None,
      max_series=20, node=None)`` -> {start, end, step, times, series: [{agent, dataSource,
      value, values}]}
  ``events(frm, to, threshold_id=None, agents=None, max_events=100, node=None)`` -> [event]
  ``analyzer_stats() -> dict``   historyRowsWritten/Dropped/Buffered, historyWriteErrors
``frm``/``to``: ms since the epoch, ``now``, ``-1h``-style offsets or ISO 8601 text.
"""
from __future__ import annotations


def attach(engine):
    from . import jsglobals  # noqa: F401  (registers the history JS functions)
    from .service import History
    return History(engine)
