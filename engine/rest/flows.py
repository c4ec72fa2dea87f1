"""Flow routes: /flow, /flowkeys, /activeflows, /flowvalue, /flows (long-poll)."""
from __future__ import annotations

import json

from aiohttp import web

from . import engine_of, json_response
from .errors import BadRequest, Forbidden, NotFound


def flows_of(request: web.Request):
    return engine_of(request).subsystems["flows"]


def check_writable(request: web.Request) -> None:
    if engine_of(request).props.get_bool("http.readonly"):
        raise Forbidden("read-only: http.readonly=yes")


async def read_json(request: web.Request):
    try:
        text = await request.text()
        return json.loads(text) if text.strip() else None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid JSON body: {exc}") from None


def q_int(request: web.Request, name: str, default: int) -> int:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(float(v))
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None


def q_float(request: web.Request, name: str, default):
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return float(v)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None


async def flow_keys(request):
    return json_response(request, flows_of(request).flow_keys())


async def flow_list(request):
    return json_response(request, flows_of(request).flows_json())


async def flow_get(request):
    spec = flows_of(request).get_flow(request.match_info["name"])
    if spec is None:
        raise NotFound(f"no flow {request.match_info['name']}")
    return json_response(request, spec)


async def flow_put(request):
    check_writable(request)
    body = await read_json(request)
    try:
        flows_of(request).set_flow(request.match_info["name"], body)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return web.Response(status=204)


async def flow_delete(request):
    check_writable(request)
    if not flows_of(request).clear_flow(request.match_info["name"]):
        raise NotFound(f"no flow {request.match_info['name']}")
    return web.Response(status=204)


async def active_flows(request):
    flows = flows_of(request)
    try:
        result = flows.active_flows(request.match_info["agent"], request.match_info["name"],
                                    q_int(request, "maxFlows", 100), q_float(request, "minValue", None),
                                    request.query.get("aggMode") or None,
                                    key_filter=request.query.get("filter") or None)
    except KeyError:
        raise NotFound(f"no flow {request.match_info['name']}") from None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return json_response(request, result)


async def flow_value(request):
    key = request.query.get("key")
    if key is None:
        raise BadRequest("key parameter required")
    value = flows_of(request).flow_value(request.match_info["agent"], request.match_info["name"], key)
    if value is None:
        raise NotFound("no such flow")
    return json_response(request, value)


async def flow_records(request):
    flows = flows_of(request)
    name = request.query.get("name") or None
    flow_id = q_int(request, "flowID", -1)
    max_flows = q_int(request, "maxFlows", 100)
    timeout = q_float(request, "timeout", 0.0)
    if timeout > 0:
        records = await flows.wait_flows(name, flow_id, max_flows, min(timeout, 600.0))
    else:
        records = flows.flows_since(name, flow_id, max_flows)
    return json_response(request, records)


def setup(app: web.Application, engine) -> None:
    if "flows" not in engine.subsystems:
        return
    r = app.router
    r.add_get("/flowkeys/json", flow_keys)
    r.add_get("/flow/json", flow_list)
    r.add_get("/flow/{name}/json", flow_get)
    r.add_put("/flow/{name}/json", flow_put)
    r.add_post("/flow/{name}/json", flow_put)
    r.add_delete("/flow/{name}/json", flow_delete)
    r.add_get("/activeflows/{agent}/{name}/json", active_flows)
    r.add_get("/flowvalue/{agent}/{name}/json", flow_value)
    r.add_get("/flows/json", flow_records)
