"""Metric, flow, group/map and threshold globals (spec §3.2-3.4): thin adapters over
``engine.subsystems["metrics"]`` (MetricStore) and ``engine.subsystems["flows"]`` (FlowEngine).
They run on the engine's event-loop thread (``loop=True``), which owns that state. Adapters only
coerce what sFlow-RT scripts pass loosely: numbers as strings, key lists as arrays, filter
values as scalars."""
from __future__ import annotations

from .globals_core import _num
from .registry import NULL, register_global


def metrics_global(name, **kw):
    def wrap(fn):
        return register_global(name, fn, requires=("metrics",), loop=True, **kw)
    return wrap


def flows_global(name, **kw):
    def wrap(fn):
        return register_global(name, fn, requires=("flows",), loop=True, **kw)
    return wrap


def _filter(flt):
    if not flt:
        return None
    if not isinstance(flt, dict):
        raise TypeError("filter: object {metricName: [values]} expected")
    return {str(k): (list(v) if isinstance(v, list) else [v]) for k, v in flt.items()}


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
    return _m(script).query_metric(agents, metrics, _filter(flt))


@metrics_global("table")
def _table(script, agents, columns, flt=None):
    return _m(script).query_table(agents, columns, _filter(flt))


@metrics_global("dump")
def _dump(script, agents, metrics, flt=None):
    return _m(script).query_dump(agents, metrics, _filter(flt))


@metrics_global("datasourceInfo")
def _datasource_info(script, agent, data_source):
    info = _m(script).datasource_info(str(agent), str(data_source))
    return NULL if info is None else info


# -- flows ----------------------------------------------------------------------------------
def _flow_spec(spec):
    if not isinstance(spec, dict):
        raise TypeError("flow spec: object expected")
    spec = dict(spec)
    for key in ("keys", "value", "filter"):
        if isinstance(spec.get(key), list):
            spec[key] = ",".join(str(v) for v in spec[key])
    for key in ("n", "t"):
        if isinstance(spec.get(key), str):
            spec[key] = _num(spec[key], key)
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


@flows_global("activeFlows")
def _active_flows(script, agents, name, max_flows=None, min_value=None, agg_mode=None):
    kw = {}
    if max_flows is not None:
        kw["max_flows"] = int(_num(max_flows, "maxFlows"))
    if min_value is not None:
        kw["min_value"] = float(_num(min_value, "minValue"))
    if agg_mode is not None:
        kw["agg_mode"] = str(agg_mode)
    try:
        return _f(script).active_flows(agents, str(name), **kw)
    except KeyError:
        return []


@flows_global("flowValue")
def _flow_value(script, agent, name, key):
    value = _f(script).flow_value(agent, str(name), str(key))
    return NULL if value is None else value


@flows_global("setGroups")
def _set_groups(script, name, groups):
    return bool(_f(script).set_groups(str(name), groups))


@flows_global("setMap")
def _set_map(script, name, mapping):
    return bool(_f(script).set_map(str(name), mapping))


def _threshold_spec(spec):
    if not isinstance(spec, dict):
        raise TypeError("threshold spec: object expected")
    spec = dict(spec)
    for key in ("value", "timeout"):
        if isinstance(spec.get(key), str):
            spec[key] = _num(spec[key], key)
    if isinstance(spec.get("filter"), dict):
        spec["filter"] = _filter(spec["filter"])
    return spec


@flows_global("setThreshold")
def _set_threshold(script, name, spec):
    _f(script).set_threshold(str(name), _threshold_spec(spec))
    return True


@flows_global("clearThreshold")
def _clear_threshold(script, name):
    return bool(_f(script).clear_threshold(str(name)))


@flows_global("thresholdTriggered")
def _threshold_triggered(script, threshold_id, agent, metric, flow_key=None):
    return bool(_f(script).threshold_triggered(str(threshold_id), str(agent), str(metric),
                                               None if flow_key is None else str(flow_key)))
