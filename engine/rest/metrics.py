"""Metric routes: /metrics/json, /metric/{agent}/json, /metric/{agent}/{metric}/json,
/table/{agent}/{metric}/json, /dump/{agent}/{metric}/json (thin adapters over MetricStore)."""

from __future__ import annotations

from aiohttp import web

from . import json_response, subsystem_of
from .errors import NotFound


def store_of(request: web.Request):
    return subsystem_of(request, "metrics")


def query_filter(request: web.Request) -> dict | None:
    """?name=v1&name=v2&other=v3 -> {name: [v1, v2], other: [v3]}. Parameters starting with
    '_' (cache busters such as jQuery's _=123) are not filters."""
    out: dict[str, list[str]] = {}
    for key, value in request.query.items():
        if key.startswith("_"):
            continue
        out.setdefault(key, []).append(value)
    return out or None


async def metric_names(request: web.Request) -> web.Response:
    return json_response(request, store_of(request).metric_names())


async def agent_metrics(request: web.Request) -> web.Response:
    agent = request.match_info["agent"]
    result = store_of(request).agent_metrics(agent)
    if result is None:
        raise NotFound(f"unknown agent {agent}")
    return json_response(request, result)


def _query(method: str):
    async def handler(request: web.Request) -> web.Response:
        result = getattr(store_of(request), method)(
            request.match_info["agent"], request.match_info["metric"], query_filter(request)
        )
        return json_response(request, result)

    handler.__name__ = method
    return handler


def setup(app: web.Application, engine) -> None:
    app.router.add_get("/metrics/json", metric_names)
    app.router.add_get("/metric/{agent}/json", agent_metrics)
    app.router.add_get("/metric/{agent}/{metric}/json", _query("query_metric"))
    app.router.add_get("/table/{agent}/{metric}/json", _query("query_table"))
    app.router.add_get("/dump/{agent}/{metric}/json", _query("query_dump"))
