"""Thresholds and events: /threshold/{name}/json, /threshold/json, /events/json (long-poll)."""
from __future__ import annotations

from aiohttp import web

from . import check_writable, json_response, read_json
from .errors import BadRequest, NotFound
from .flows import flows_of, journal_query


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
    return await journal_query(request, flows.events_since, flows.wait_events,
                               "thresholdID", "eventID", "maxEvents")


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
