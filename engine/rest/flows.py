"""Flow routes: /flow, /flowkeys, /activeflows, /flowvalue, /flowlocations, /flows (long-poll)."""

from __future__ import annotations

from aiohttp import web

from .. import limits
from . import add_named_resource, engine_of, json_response, subsystem_of
from .errors import BadRequest, NotFound


def flows_of(request: web.Request):
    return subsystem_of(request, "flows")


def q_int(request: web.Request, name: str, default: int) -> int:
    v = request.query.get(name)
    if v is None or v == "":
        return default
    try:
        return int(float(v))
    except (ValueError, OverflowError):  # "x", "inf", "nan"
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


async def active_flows(request):
    q = request.query
    # an unknown flow is the engine's UnknownName (404), a bad argument its ValueError (400)
    result = flows_of(request).active_flows(
        request.match_info["agent"],
        request.match_info["name"],
        q.get("maxFlows") or None,
        q.get("minValue") or None,
        q.get("aggMode") or None,
        key_filter=q.get("filter") or None,
    )
    return json_response(request, result)


async def _flow_key_query(request, method: str, missing: str):
    """/flowvalue and /flowlocations: one flow key (``key=``) of a flow at selected agents."""
    key = request.query.get("key")
    if key is None:
        raise BadRequest("key parameter required")
    result = getattr(flows_of(request), method)(
        request.match_info["agent"], request.match_info["name"], key
    )
    if result is None:
        raise NotFound(missing.format(name=request.match_info["name"]))
    return json_response(request, result)


async def flow_value(request):
    return await _flow_key_query(request, "flow_value", "no such flow")


async def flow_locations(request):
    return await _flow_key_query(request, "flow_locations", "no flow {name}")


async def journal_query(
    request: web.Request, since, wait, name_param: str, id_param: str, max_param: str
) -> web.Response:
    """/flows/json and /events/json: records after an id, newest first; with ``timeout``
    (seconds, at most http.longpoll.max, default 60) wait for the first new one."""
    name = request.query.get(name_param) or None
    after = q_int(request, id_param, -1)
    limit = q_int(request, max_param, 100)
    cap = engine_of(request).props.get_float("http.longpoll.max", limits.LONG_POLL_MAX)
    timeout = limits.long_poll_seconds(q_float(request, "timeout", 0.0), cap)
    if timeout > 0:
        return json_response(request, await wait(name, after, limit, timeout))
    return json_response(request, since(name, after, limit))


async def flow_records(request):
    flows = flows_of(request)
    return await journal_query(
        request, flows.flows_since, flows.wait_flows, "name", "flowID", "maxFlows"
    )


def setup(app: web.Application, engine) -> None:
    r = app.router
    r.add_get("/flowkeys/json", flow_keys)
    add_named_resource(
        r,
        "flow",
        "flows",
        lambda f, n: f.get_flow(n),
        lambda f: f.flows_json(),
        lambda f, n, b: f.set_flow(n, b),
        lambda f, n: f.clear_flow(n),
    )
    r.add_get("/activeflows/{agent}/{name}/json", active_flows)
    r.add_get("/flowvalue/{agent}/{name}/json", flow_value)
    r.add_get("/flowlocations/{agent}/{name}/json", flow_locations)
    r.add_get("/flows/json", flow_records)
