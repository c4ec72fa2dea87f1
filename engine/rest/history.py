"""History routes (/history/...): thin adapters over engine.subsystems["history"].

The queries block on the store, so they run in a worker thread. Bad arguments are 400, history
off or the store unreachable 503, with the reason."""

from __future__ import annotations

import asyncio

from aiohttp import web

from . import json_response, subsystem_of


def history_of(request: web.Request):
    return subsystem_of(request, "history")


async def _answer(request: web.Request, fn, *args):
    # ValueError (400), HistoryOff and BackendError (NotRunning: 503) are the middleware's
    return json_response(request, await asyncio.to_thread(fn, *args))


async def status(request):
    return json_response(request, history_of(request).status())


async def flow_names(request):
    q = request.query
    return await _answer(
        request, history_of(request).flow_names, q.get("from"), q.get("to"), q.get("node")
    )


async def top_keys(request):
    q, m = request.query, request.match_info
    return await _answer(
        request,
        history_of(request).top_keys,
        m["agent"],
        m["name"],
        q.get("from"),
        q.get("to"),
        q.get("maxKeys"),
        q.get("node"),
    )


async def flow_series(request):
    q, m = request.query, request.match_info
    keys = q.getall("key", None)
    return await _answer(
        request,
        history_of(request).flow_series,
        m["agent"],
        m["name"],
        q.get("from"),
        q.get("to"),
        q.get("step"),
        keys,
        q.get("maxKeys"),
        q.get("node"),
    )


async def metric_names(request):
    q = request.query
    return await _answer(
        request, history_of(request).metric_names, q.get("from"), q.get("to"), q.get("node")
    )


async def metric_series(request):
    q, m = request.query, request.match_info
    return await _answer(
        request,
        history_of(request).metric_series,
        m["agent"],
        m["metric"],
        q.get("from"),
        q.get("to"),
        q.get("step"),
        q.get("agg"),
        q.get("dataSource"),
        q.get("maxSeries"),
        q.get("node"),
    )


async def events(request):
    q = request.query
    return await _answer(
        request,
        history_of(request).events,
        q.get("from"),
        q.get("to"),
        q.get("thresholdID"),
        q.get("agent"),
        q.get("maxEvents"),
        q.get("node"),
    )


def setup(app: web.Application, engine) -> None:
    r = app.router
    r.add_get("/history/json", status)
    r.add_get("/history/flows/json", flow_names)
    r.add_get("/history/topkeys/{agent}/{name}/json", top_keys)
    r.add_get("/history/flowseries/{agent}/{name}/json", flow_series)
    r.add_get("/history/metrics/json", metric_names)
    r.add_get("/history/metric/{agent}/{metric}/json", metric_series)
    r.add_get("/history/events/json", events)
