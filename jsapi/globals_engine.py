"""Metric, flow, group/map and threshold globals (spec §3.2-3.4): thin adapters over
``engine.subsystems["metrics"]`` (MetricStore) and ``engine.subsystems["flows"]`` (FlowEngine).
They run on the engine's event-loop thread (``loop=True``), which owns that state. Adapters only
coerce what the engine functions do not already accept (REST bodies and query strings get
the same engine-side checks: numbers as strings, key lists as arrays, scalar filter values)."""

from __future__ import annotations

from functools import partial

from .registry import NULL, js_global

metrics_global = partial(js_global, requires=("metrics",), loop=True)
flows_global = partial(js_global, requires=("flows",), loop=True)


def _m(script):
    return script.engine.subsystems["metrics"]


def _f(script):
    return script.engine.subsystems["flows"]


# -- metrics --------------------------------------------------------------------------------
@metrics_global("metrics")
def _metrics(script, agent=None):
    if agent is None:
        return _m(script).metric_names()
    return _m(script).agent_metrics(str(agent)) or {}


@metrics_global("metric")
def _metric(script, agents, metrics, flt=None):
    return _m(script).query_metric(agents, metrics, flt)


@metrics_global("table")
def _table(script, agents, columns, flt=None):
    return _m(script).query_table(agents, columns, flt)


@metrics_global("dump")
def _dump(script, agents, metrics, flt=None):
    return _m(script).query_dump(agents, metrics, flt)


def _js_text(value) -> str:
    """String(value) as JavaScript computes it: an array (e.g. a REST query value such as
    req.query.agent) reads as its items joined with commas, not Python's list repr."""
    if isinstance(value, (list, tuple)):
        return ",".join("" if v is None else _js_text(v) for v in value)
    return str(value)


@metrics_global("datasourceInfo")
def _datasource_info(script, agent, data_source):
    info = _m(script).datasource_info(_js_text(agent), _js_text(data_source))
    return NULL if info is None else info


# -- flows ----------------------------------------------------------------------------------
def _flow_spec(spec):
    # keys as an array and n/t as strings are the engine's to accept (FlowSpec), as for REST
    if not isinstance(spec, dict):
        raise TypeError("flow spec: object expected")
    spec = dict(spec)
    for key in ("value", "filter"):
        if isinstance(spec.get(key), list):
            spec[key] = ",".join(str(v) for v in spec[key])
    return spec


@flows_global("setFlow")
def _set_flow(script, name, spec):
    _f(script).set_flow(str(name), _flow_spec(spec))
    return True


@flows_global("clearFlow")
def _clear_flow(script, name):
    return bool(_f(script).clear_flow(str(name)))


@flows_global("flowKeys")
def _flow_keys(script):
    return _f(script).flow_keys()


@flows_global("activeFlows", unknown=[])  # sFlow-RT: [] for a flow not defined
def _active_flows(script, agents, name, max_flows=None, min_value=None, agg_mode=None):
    return _f(script).active_flows(
        agents, str(name), max_flows, min_value, None if agg_mode is None else str(agg_mode)
    )


@flows_global("flowValue")
def _flow_value(script, agent, name, key):
    value = _f(script).flow_value(agent, str(name), str(key))
    return NULL if value is None else value


def _defined(define, name, value) -> bool:
    # sFlow-RT's setGroups/setMap answer false for invalid input (apps test it) where REST
    # answers 400 with the reason
    try:
        define(str(name), value)
    except ValueError:
        return False
    return True


@flows_global("setGroups")
def _set_groups(script, name, groups):
    return _defined(_f(script).set_groups, name, groups)


@flows_global("setMap")
def _set_map(script, name, mapping):
    return _defined(_f(script).set_map, name, mapping)


@flows_global("setThreshold")
def _set_threshold(script, name, spec):
    # numbers as strings and scalar filter values are the engine's to accept, as for REST
    if not isinstance(spec, dict):
        raise TypeError("threshold spec: object expected")
    _f(script).set_threshold(str(name), spec)
    return True


@flows_global("clearThreshold")
def _clear_threshold(script, name):
    return bool(_f(script).clear_threshold(str(name)))


@flows_global("thresholdTriggered")
def _threshold_triggered(script, threshold_id, agent, metric, flow_key=None):
    return bool(
        _f(script).threshold_triggered(
            str(threshold_id), str(agent), str(metric), None if flow_key is None else str(flow_key)
        )
    )
