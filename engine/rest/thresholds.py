"""Thresholds and events: /threshold/{name}/json, /threshold/json, /events/json (long-poll)."""
from __future__ import annotations

from aiohttp import web

from . import json_response
from .errors import BadRequest, NotFound
from .flows import check_writable, flows_of, q_float, q_int, read_json


async def threshold_list(request):
    return json_response(request, flows_of(request).thresholds_json())


async def threshold_get(request):
    name = request.match_info["name"]
    spec = flows_of(request).get_threshold(name)
    if spec is None:
        raise NotFound(f"no threshold {name}")
    return json_response(request, spec)


async def threshold_put(request):
    check_writable(request)
    body = await read_json(request)
    try:
        flows_of(request).set_threshold(request.match_info["name"], body)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return web.Response(status=204)


async def threshold_delete(request):
    check_writable(request)
    name = request.match_info["name"]
    if not flows_of(request).clear_threshold(name):
        raise NotFound(f"no threshold {name}")
    return web.Response(status=204)


async def events(request):
    flows = flows_of(request)
    threshold_id = request.query.get("thresholdID") or None
    event_id = q_int(request, "eventID", -1)
    max_events = q_int(request, "maxEvents", 100)
    timeout = q_float(request, "timeout", 0.0)
    if timeout > 0:
        result = await flows.wait_events(threshold_id, event_id, max_events, min(timeout, 600.0))
    else:
        result = flows.events_since(threshold_id, event_id, max_events)
    return json_response(request, result)


def setup(app: web.Application, engine) -> None:
    if "flows" not in engine.subsystems:
        return
    r = app.router
    r.add_get("/threshold/json", threshold_list)
    r.add_get("/threshold/{name}/json", threshold_get)
    r.add_put("/threshold/{name}/json", threshold_put)
    r.add_post("/threshold/{name}/json", threshold_put)
    r.add_delete("/threshold/{name}/json", threshold_delete)
    r.add_get("/events/json", events)
