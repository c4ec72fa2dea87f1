"""Prometheus text exposition: /prometheus/metrics/{agent}/{metric}/txt and
/prometheus/analyzer/txt (format 0.0.4; no # TYPE lines, every sample is untyped). Every
family has a # HELP line and a name that `promtool check metrics` accepts (docs/metrics.md)."""

from __future__ import annotations

import math
import re

from aiohttp import web

from ..metrics.catalog import describe
from . import engine_of
from .metrics import query_filter, store_of

PREFIX = "sflow_"
CONTENT_TYPE = "text/plain; version=0.0.4"
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_]")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

# Built-in metrics whose names carry an abbreviated unit, which Prometheus naming rejects:
# exported in the base unit instead (name, factor). Everything else keeps sFlow-RT's name.
RENAMED = {
    "jvm_gc_ms": ("jvm_gc_seconds", 0.001),
    "jvm_compilation_ms": ("jvm_compilation_seconds", 0.001),
    "vdi_rtt_min_ms": ("vdi_rtt_min_seconds", 0.001),
    "vdi_rtt_max_ms": ("vdi_rtt_max_seconds", 0.001),
    "vdi_rtt_avg_ms": ("vdi_rtt_avg_seconds", 0.001),
}

# /analyzer/json fields: exported name (after sflow_analyzer_) where the rule below would give
# a name the lint rejects, and the HELP text of each
ANALYZER_NAMES = {"sFlowCounterSamples": "counters_samples"}
ANALYZER_HELP = {
    "uptime": "milliseconds since flowrt started",
    "sFlowAgents": "sFlow agents known",
    "sFlowBytesReceived": "bytes of sFlow datagrams received",
    "sFlowDatagramsReceived": "sFlow datagrams received",
    "sFlowFlowSamples": "sFlow flow samples received",
    "sFlowCounterSamples": "sFlow counter samples received",
    "sFlowDiscardSamples": "sFlow discarded-packet samples received",
    "sFlowOtherSamples": "other sFlow samples received (custom metrics and flows)",
    "sFlowDecodeErrors": "malformed sFlow datagrams and records, dropped",
    "sFlowHandlerErrors": "samples a subsystem failed to process",
    "sFlowKernelDrops": "UDP datagrams the kernel dropped (receive buffer full)",
    "sFlowQueueDrops": "datagrams dropped because the receive queue was full",
    "sFlowQueueExpired": "datagrams dropped because they waited longer than "
    "sflow.receiver.maxage in the receive queue",
    "sFlowAgentsExpired": "sFlow agents forgotten after agents.timeout without a datagram",
    "sFlowDatagramsRefused": "datagrams refused because agents.max agents were known",
    "cpuLoadProcess": "CPU load of the flowrt process (0..1)",
    "cpuLoadSystem": "CPU load of the system (0..1)",
    "heapUsed": "memory used by flowrt, bytes",
    "heapMax": "memory available, bytes",
    "httpConnectionsCurrent": "open HTTP connections",
    "httpConnectionsTotal": "HTTP connections accepted",
}


def metric_name(name: str) -> str:
    return PREFIX + _BAD_CHARS.sub("_", RENAMED.get(name, (name,))[0])


def help_line(family: str, text: str) -> str:
    return f"# HELP {family} " + text.replace("\\", "\\\\").replace("\n", "\\n")


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
    """Numeric metrics of the selected data sources, grouped by metric name, each group after
    its HELP line; a `host` label when the agent reports host_name."""
    entries = store.query_dump(agents, metrics, flt)
    hosts: dict[str, str | None] = {}
    groups: dict[str, list[str]] = {}
    helps: dict[str, str] = {}
    for e in entries:
        name = e["metricName"]
        raw = e["metricValue"]
        renamed = RENAMED.get(name)
        if renamed is not None and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raw = raw * renamed[1]
        value = number(raw)
        if value is None:
            continue
        agent = e["agent"]
        if agent not in hosts:
            hosts[agent] = store.host_name(agent)
        labels = f'agent="{label_value(agent)}",datasource="{label_value(e["dataSource"])}"'
        if hosts[agent]:
            labels += f',host="{label_value(hosts[agent])}"'
        family = metric_name(name)
        samples = groups.get(family)
        if samples is None:
            samples = groups[family] = []
            helps[family] = describe(name, getattr(store, "engine", None))
        samples.append(f"{{{labels}}} {value}")
    lines = []
    for family, samples in groups.items():
        lines.append(help_line(family, helps[family]))
        lines.extend(family + s for s in samples)
    return "\n".join(lines) + ("\n" if lines else "")


def analyzer_text(analyzer: dict) -> str:
    """sFlowAgents -> sflow_analyzer_agents, cpuLoadProcess -> sflow_analyzer_cpu_load_process,
    each with its HELP line."""
    lines = []
    for key, value in analyzer.items():
        text = number(value)
        if text is None:
            continue
        base = key[5:] if key.startswith("sFlow") else key
        family = f"{PREFIX}analyzer_{ANALYZER_NAMES.get(key) or _CAMEL.sub('_', base).lower()}"
        lines.append(help_line(family, ANALYZER_HELP.get(key, f"analyzer {key}")))
        lines.append(f"{family} {text}")
    return "\n".join(lines) + "\n"


async def prometheus_metrics(request: web.Request) -> web.Response:
    text = metrics_text(
        store_of(request),
        request.match_info["agent"],
        request.match_info["metric"],
        query_filter(request),
    )
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


async def prometheus_analyzer(request: web.Request) -> web.Response:
    text = analyzer_text(engine_of(request).analyzer_json())
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})


def setup(app: web.Application, engine) -> None:
    app.router.add_get("/prometheus/metrics/{agent}/{metric}/txt", prometheus_metrics)
    app.router.add_get("/prometheus/analyzer/txt", prometheus_analyzer)
