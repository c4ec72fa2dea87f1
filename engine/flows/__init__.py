"""Flow analytics: flow definitions, key functions, filters, caches, thresholds, events.

``attach(engine)`` returns a :class:`engine.flows.engine.FlowEngine`, reachable as
``engine.subsystems["flows"]``. REST (engine/rest/flows.py, groups.py, thresholds.py) and the
JavaScript globals are thin adapters over these methods (all run on the engine's event-loop
thread unless stated):

Flows
  ``set_flow(name, spec: dict) -> None``      define/redefine; raises ``ValueError(reason)``
  ``clear_flow(name) -> bool``                 False if it did not exist
  ``get_flow(name) -> dict | None``, ``flows_json() -> {name: spec}``
  ``active_flows(agents, name, max_flows=100, min_value=None, agg_mode=None, key_filter=None)``
      -> list of ``{key, value, agent, dataSource, flowN[, values]}``, largest first;
      ``agents``: None/"ALL", a str ("a,b" or "a;b") or a list, resolved by the metric
      store's ``select_agents`` (host names, TOPOLOGY/EDGE/CORE down to data sources);
      aggMode ``edge``/``core`` narrow it to the EDGE/CORE ports. Raises ``UnknownName``
      (engine.errors) for an unknown flow name, ``ValueError`` for a bad aggMode, filter or agent selector.
  ``flow_value(agents, name, key) -> float | None``   name = "<dataSource>.<flowName>"
  ``flow_locations(agents, name, key) -> [{agent, dataSource, value}] | None``  largest first;
      name = flow name or "<dataSource>.<flowName>"; None for an unknown flow
  ``flow_keys(now=None) -> {key: ms_since_seen}``
  ``flows_since(name=None, flow_id=-1, max_flows=100) -> list``   newest first (flow records)
  ``async wait_flows(name, flow_id, max_flows, timeout) -> list``  long-poll form
  ``subscribe_flows(callback(record), names=None) -> unsubscribe()``
  ``subscribe_intervals(callback(name, start, end, rows), interval, select(spec) -> limit)
      -> unsubscribe()``: per-interval totals of the selected definitions (history), rows
      ``[(agent, dataSource, key, value)]``, value the scaled total over [start, end) as in a
      logged flow record, at most ``limit`` of them plus the rest per location as "-other-";
      nothing per sample (engine/flows/intervals.py). ``flush_intervals(now)`` publishes the
      running interval at once (engine stop).

Groups and maps
  ``set_groups(name, {label: [cidr, ...]}) -> None``   raises ``ValueError(reason)``
  ``get_groups(name) / groups_json() / clear_groups(name) -> bool``
  ``set_map(name, {label: [value, ...]}) -> None`` (raises likewise), ``get_map / maps_json /
  clear_map``. (JS setGroups/setMap return false instead of throwing, as in sFlow-RT.)

Thresholds and events
  ``set_threshold(name, spec: dict)`` raises ValueError; ``clear_threshold(name) -> bool``
  ``get_threshold(name) / thresholds_json()``
  ``threshold_triggered(threshold_id, agent, metric, flow_key=None) -> bool``
      metric = "<dataSource>.<metricName>"
  ``events_since(threshold_id=None, event_id=-1, max_events=100) -> list``   newest first
  ``async wait_events(threshold_id, event_id, max_events, timeout) -> list``
  ``subscribe_events(callback(event), names=None) -> unsubscribe()``
  Subscriber callbacks run synchronously on the sample path; they must be quick (queue work
  elsewhere). An exception in a callback is logged and does not stop the others.

Metric-store provider: ``metric_names(now)``, ``metric_entries(agents, name, now)`` (flow names
are metrics with topKeys) and ``datasource_info(agent, ds)`` (samplingRate,
effectiveSamplingRate).

Per-sample entry point (a unit boundary for tests and benchmarks)
  ``process(attrs: dict, agent: str, data_source: str, sampling_rate: int, now: float,
  dropped=False)`` runs every active definition over one sample's attributes.

Attribute enrichers (hook for BGP, enrichment and other subsystems)
  ``add_enricher(fn(sample, attrs) -> None, keys=set_of_attribute_names) -> remove()``
  ``fn`` may add attributes to ``attrs`` (the dict the definitions read: the sample's cached
  attribute dict, or with the C decoder a dict of only the attributes the definitions and
  enrichers read). It runs once per sample, before any key is computed, and only while some
  active definition (keys, value, values or filter, nested key-function arguments included)
  references one of ``keys`` (``keys=None``: always). ``fn.reads`` (a frozenset) names the
  attributes ``fn`` reads, so that they are decoded; without it the engine decodes the full
  dict. Example: the BGP subsystem registers
  ``add_enricher(add_bgp_attributes, {"bgpsourceas", "bgpdestinationaspath", ...})``.
  When ``process`` is called without a sample the enrichers get ``sample=None``. A key
  function whose extractor reads attributes beyond its arguments lists them in an ``uses``
  attribute (``mask:ipsource`` uses ``ipsourcemaskbits``) so that their enrichers run and
  they are decoded.

Key functions are registered in ``engine.flows.registry`` (see its docstring); the built-in
ones (group, map, mask, prefix, suffix, first, bits, range, null, or, eq, if, concat, uri) are
in ``engine.flows.keyfuncs``. Formulas and defaults: docs/flows.md.
"""

from __future__ import annotations


def attach(engine):
    from .engine import FlowEngine

    return FlowEngine(engine)
