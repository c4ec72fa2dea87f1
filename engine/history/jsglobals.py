"""History JavaScript functions: thin adapters over engine.subsystems["history"].

They query the store, so they run on the calling script's thread (blocking I/O, no loop
state). Bad arguments, history off and store errors throw a JS Error with the reason.

  historyStatus()                                           -> /history/json
  historyFlowNames(from, to)                                -> [{name, rows, lastTime}]
  historyTopKeys(agents, name, from, to, maxKeys)           -> [{key, value, total}]
  historyFlowSeries(agents, name, from, to, {step, keys, maxKeys, node})
  historyMetricNames(from, to)                              -> [{metric, rows, lastTime}]
  historyMetric(agents, metric, from, to, {step, agg, dataSource, maxSeries, node})
  historyEvents(from, to, {thresholdID, agents, maxEvents, node})
"""
from __future__ import annotations

from functools import partial

from jsapi.registry import js_global

history_global = partial(js_global, requires=("history",))


def _h(script):
    return script.engine.subsystems["history"]


def _opts(options, *names) -> dict:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    return {n: options.get(n) for n in names if options.get(n) is not None}


@history_global("historyStatus")
def _status(s):
    return _h(s).status()


@history_global("historyFlowNames")
def _flow_names(s, frm=None, to=None):
    return _h(s).flow_names(frm, to)


@history_global("historyTopKeys")
def _top_keys(s, agents, name, frm=None, to=None, max_keys=None):
    return _h(s).top_keys(agents, name, frm, to, max_keys)


@history_global("historyFlowSeries")
def _flow_series(s, agents, name, frm=None, to=None, options=None):
    o = _opts(options, "step", "keys", "maxKeys", "node")
    return _h(s).flow_series(agents, name, frm, to, o.get("step"), o.get("keys"),
                             o.get("maxKeys"), o.get("node"))


@history_global("historyMetricNames")
def _metric_names(s, frm=None, to=None):
    return _h(s).metric_names(frm, to)


@history_global("historyMetric")
def _metric(s, agents, metric, frm=None, to=None, options=None):
    o = _opts(options, "step", "agg", "dataSource", "maxSeries", "node")
    return _h(s).metric_series(agents, metric, frm, to, o.get("step"), o.get("agg"),
                               o.get("dataSource"), o.get("maxSeries"), o.get("node"))


@history_global("historyEvents")
def _events(s, frm=None, to=None, options=None):
    o = _opts(options, "thresholdID", "agents", "maxEvents", "node")
    return _h(s).events(frm, to, o.get("thresholdID"), o.get("agents"), o.get("maxEvents"),
                        o.get("node"))
