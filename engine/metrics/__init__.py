"""Counter metrics: sFlow counter samples -> named sFlow-RT metrics, and the metric queries.

``attach(engine)`` registers a counter-sample handler and returns the ``MetricStore``, reachable
as ``engine.subsystems["metrics"]``. Its interface (other subsystems code against it):

Queries (REST handlers and JS globals are thin adapters over these):

- ``query_metric(agents, metrics, filter=None) -> list[dict]``: JS ``metric()`` and
  ``/metric/{agent}/{metric}/json``. One Statistic per requested metric, in order:
  ``metricName`` (as requested, with prefix), ``metricN``, ``metricValue`` (absent when N=0),
  ``lastUpdate``, ``lastUpdateMin``, ``lastUpdateMax`` (ms ago), plus ``agent``/``dataSource``
  when one value was selected (max/min/any, or N=1), ``topKeys`` for a selected flow metric,
  ``quartiles`` for ``med:``.
- ``query_table(agents, columns, filter=None) -> list[list]``: JS ``table()``; rows of Metric
  dicts (``agent, dataSource, metricName, metricValue, lastUpdate``), None for missing
  ``null:`` cells; ``sort:<metric>:<N>`` sorts (N<0 descending) and keeps |N| rows.
- ``query_dump(agents, metrics, filter=None) -> list[dict]``: JS ``dump()``; flat Metric list,
  flow metrics carry ``topKeys``; metric ``ALL`` dumps everything.
- ``metric_names() -> {name: ms_since_last_update}`` (``/metrics/json``, counter and flow names).
- ``agent_metrics(agent) -> {"ds.metric": value}`` (``/metric/{agent}/json``); ``None`` when the
  agent is unknown.
- ``entries(agents, name, filter=None, now=None) -> list[MetricEntry]``: every current
  (agent, dataSource) value of one metric, counter or provider (thresholds poll this).
- ``filter_matches(agent, data_source, filter, now=None) -> bool``: whether one (agent, data
  source) passes a filter, with the query rules (use it for flow thresholds' filters).
- ``datasource_info(agent, data_source) -> dict | None``: ``counterSamples``,
  ``effectivePollingInterval`` (ms), ``lastUpdate`` (ms ago), merged with what providers that
  have a ``datasource_info(agent, ds)`` method add (e.g. ``samplingRate`` from flows).

Arguments: ``agents`` is ``"ALL"``, an address, ``"a;b"`` / ``"a,b"`` lists or a Python list
(names that are not agent addresses match agents by ``host_name``; other selectors such as
``TOPOLOGY`` / ``EDGE`` / ``CORE`` are resolved by functions registered with
``add_agent_selector(name, fn)``, where ``fn()`` returns a ``Selection`` - agent -> None or a
data-source predicate, engine/metrics/selection.py - or a set of agent addresses).
``select_agents(agents)`` gives None (every agent) or a Selection; providers receive it as
``agents`` (``agent in agents`` works; ``agents.has(agent, ds)`` when ``agents.restricted``,
and the store applies the data-source part to provider entries anyway). ``metrics`` is a comma string or a list; an item
is ``[aggregation:]name`` where name may be qualified by a data source (``2.1.load_one``).
``filter`` is ``{metricName: [values]}`` (JS form; REST query parameters are converted to it).
Bad input raises ``ValueError`` with a reason (REST answers 400).

Providers (other subsystems contributing metrics, e.g. flows): ``add_provider(p)`` where
``p.metric_names(now) -> dict[str, int]`` (name -> ms since last update) and
``p.metric_entries(agents: set[str] | None, name: str, now: float) -> iterable[MetricEntry]``
(``agents`` None = all). ``MetricEntry`` is in ``engine.metrics.provider``.

Update subscribers (history): ``subscribe_updates(callback(agent, dataSource, values, now))
-> unsubscribe()``, called after every counter sample with that sample's metrics.

The sample path: ``update(agent, data_source, ds_class, seq, records, now, uptime=None)``
takes one counter sample's decoded records (dicts with sflowtool field names and
``counterBlock_tag``). Formulas, units, timeouts and filter semantics: docs/metrics.md.
"""

from __future__ import annotations

from .provider import MetricEntry
from .store import MetricStore

__all__ = ["MetricEntry", "MetricStore", "attach"]


def attach(engine) -> MetricStore:
    store = MetricStore(engine)
    engine.counter_handlers.append(store.handle_sample)
    engine.other_handlers.append(store.handle_other)
    return store
