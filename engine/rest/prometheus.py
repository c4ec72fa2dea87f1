"""Prometheus text exposition: /prometheus/metrics/{agent}/{metric}/txt and
/prometheus/analyzer/txt (format 0.0.4; no # TYPE lines, every sample is untyped)."""
from __future__ import annotations

import math
import re

from aiohttp import web

from . import engine_of
from .errors import BadRequest
from .metrics import query_filter, store_of

PREFIX = "sflow_"
CONTENT_TYPE = "text/plain; version=0.0.4"
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def metric_name(name: str) -> str:
    name = PREFIX + _BAD_CHARS.sub("_", name)
    return name


def label_value(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        return repr(value)
    return str(value)


def metrics_text(store, agents, metrics, flt=None) -> str:
    """Numeric metrics of the selected data sources, grouped by metric name; a `host` label
    when the agent reports host_name."""
    entries = store.query_dump(agents, metrics, flt)
    hosts: dict[str, str | None] = {}
    groups: dict[str, list[str]] = {}
    for e in entries:
        value = number(e["metricValue"])
        if value is None:
            continue
        agent = e["agent"]
        if agent not in hosts:
            hosts[agent] = store.host_name(agent)
        labels = f'agent="{label_value(agent)}",datasource="{label_value(e["dataSource"])}"'
        if hosts[agent]:
            labels += f',host="{label_value(hosts[agent])}"'
        groups.setdefault(metric_name(e["metricName"]), []).append(f"{{{labels}}} {value}")
    lines = []
    for name, samples in groups.items():
        lines.extend(name + s for s in samples)
    return "\n".join(lines) + ("\n" if lines else "")


def analyzer_text(analyzer: dict) -> str:
    """sFlowAgents -> sflow_analyzer_agents, cpuLoadProcess -> sflow_analyzer_cpu_load_process."""
    lines = []
    for key, value in analyzer.items():
        text = number(value)
        if text is None:
            continue
        base = key[5:] if key.startswith("sFlow") else key
        lines.append(f"{PREFIX}analyzer_{_CAMEL.sub('_', base).lower()} {text}")
    return "\n".join(lines) + "\n"


async def prometheus_metrics(request: web.Request) -> web.Response:
    try:
        text = metrics_text(store_of(request), request.match_info["agent"],
                            request.match_info["metric"], query_filter(request))
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


async def prometheus_analyzer(request: web.Request) -> web.Response:
    text = analyzer_text(engine_of(request).analyzer_json())
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


def setup(app: web.Application, engine) -> None:
    app.router.add_get("/prometheus/metrics/{agent}/{metric}/txt", prometheus_metrics)
    app.router.add_get("/prometheus/analyzer/txt", prometheus_analyzer)
